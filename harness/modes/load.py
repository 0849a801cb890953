"""`harness load`: a suite's cases under a load profile (locust), every conversation judged.

The driver plans the run (the profile, the generator's addresses) and hands the work to a
`LoadSession` (load/runner.py), which keeps everything that judges in this process and
starts the load generator's processes; the session lifecycle brings the environment up
and down around it.
"""

from __future__ import annotations

import asyncio
import gc
import socket
from dataclasses import dataclass, field

from harness.check.scopes import unjudged_pairs
from harness.core.events import Note, Status
from harness.errors import ConfigError
from harness.load.feeder import JUDGES, PREPARERS
from harness.load.runner import LoadSession
from harness.load.windows import planned
from harness.procs import free_port
from harness.runlog.models import LoadInfo, LoadManifest
from harness.runlog.store import RunLog
from harness.session.environment import preflight
from harness.session.faults import links_for
from harness.session.lifecycle import Context, Start
from harness.session.manifest import suite_fields
from harness.session.options import SessionOptions
from harness.spec.load import LoadFault, ProfileBase, selected
from harness.spec.loader import did_you_mean
from harness.spec.suite import Suite, load_suite

DEFAULT_MASTER_PORT = 5557  # locust's, and harness load-worker's default


@dataclass
class LoadOptions(SessionOptions):
    profile: str = ""
    workers: int = 0  # local worker processes; 0: one process, no master
    expect_workers: int | None = None  # workers to wait for, remote ones included
    bind: str = "127.0.0.1"  # the case server's and the master's interface
    advertise: str | None = None  # how remote workers reach this machine
    master_port: int | None = None
    case_port: int | None = None
    limit: float | None = None  # seconds; caps the profile's length further


def resolve_profile(suite: Suite, name: str) -> ProfileBase:
    """The named profile of the suite, or a usage error that lists the ones it has."""
    profiles = suite.manifest.load.profiles if suite.manifest.load else {}
    if name in profiles:
        return profiles[name]
    if not profiles:
        raise ConfigError(
            f"suite {suite.name} declares no load profiles",
            hint="add load: {profiles: {spike: {shape: spike, users: 2, peak: 20}}} to "
            f"{suite.root / 'suite.yaml'} (see README, Load)",
        )
    raise ConfigError(
        f"suite {suite.name} has no load profile {name!r}{did_you_mean(name, profiles)}",
        hint=f"its profiles: {', '.join(profiles)}",
    )


def within(faults: list[LoadFault], length: float) -> list[LoadFault]:
    """A profile's fault windows under --limit: those that start before the end, each cut
    there."""
    return [
        f if f.end <= length else f.model_copy(update={"for_": length - f.at})
        for f in faults
        if f.at < length
    ]


def master_port(options: LoadOptions) -> int | None:
    """The locust master's port, checked free before anything starts: a --master-port in use
    is a usage error; the default (5557 for remote workers) in use gives way to a free port."""
    expect = options.expect_workers if options.expect_workers is not None else options.workers
    if expect <= 0:
        return None
    host = options.bind or "0.0.0.0"
    if options.master_port is not None:
        if not _can_bind(host, options.master_port):
            raise ConfigError(
                f"--master-port {options.master_port} is already in use on {host} (another "
                "harness load?)",
                hint="choose another --master-port, or leave it out to get a free one",
            )
        return options.master_port
    if expect > options.workers and _can_bind(host, DEFAULT_MASTER_PORT):
        return DEFAULT_MASTER_PORT  # what remote workers expect unless told otherwise
    return free_port(host if host not in ("0.0.0.0", "::", "") else "127.0.0.1")


def _can_bind(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class LoadDriver:
    options: LoadOptions
    kind: str = "load"
    concurrency: int = PREPARERS + JUDGES
    session: LoadSession | None = None
    fault_links: tuple[str, ...] = ()  # the links the profile's fault windows name: proxied
    suite: Suite = field(init=False)
    profile: ProfileBase = field(init=False)

    def plan(self) -> LoadManifest:
        o = self.options
        assert o.suite is not None
        o.master_port = master_port(o)
        suite = self.suite = load_suite(o.suite)
        profile = resolve_profile(suite, o.profile)
        if suite.manifest.environment.agent.python is not None:
            raise ConfigError(
                f"suite {suite.name}'s agent is a python callable; harness load drives agents "
                "over HTTP from separate processes",
                hint="give the agent an http: or openai: section (harness run still tests the "
                "callable)",
            )
        preflight(suite)
        if o.limit is not None:
            profile = profile.model_copy(update={"limit": min(o.limit, profile.length)})
            profile = profile.model_copy(update={"faults": within(profile.faults, profile.length)})
        self.profile = profile
        self.fault_links = links_for(suite, {f.link for f in profile.faults})
        seed = o.seed if o.seed is not None else suite.manifest.defaults.seed
        stages = profile.stages()
        played = selected(profile, list(suite.scenarios))
        return LoadManifest(
            kind="load",
            suite_warnings=unjudged_pairs(suite, o.profile, profile, played),
            **suite_fields(
                suite, seed=seed, concurrency=self.concurrency, case_timeout=None, group=o.group
            ),
            deps_mode=o.deps.mode,
            trials=1,
            load=LoadInfo(
                profile=o.profile,
                shape=getattr(profile, "shape", "stages"),
                schedule=[[s.start, s.end, s.users, s.spawn_rate] for s in stages],
                length_s=profile.length,
                peak_users=profile.peak,
                window_s=profile.window_seconds(),
                sample_every_s=profile.sample_every,
                duplicates=profile.duplicates.model_dump(),
                scenarios=[s.id for s in played],
                workers=o.workers,
                faults=planned(profile.faults),
            ),
        )

    def resume(self, log: RunLog) -> None:
        raise ConfigError("a load run cannot be resumed", hint="start another harness load")

    def start(self, log: RunLog) -> Start:
        return Start(0)

    def needs_environment(self, log: RunLog) -> bool:
        return True

    async def drive(self, ctx: Context) -> None:
        assert ctx.env is not None
        for problem in ctx.log.manifest.unreadable_regressions:  # the summary lists them too
            ctx.emit(Note(f"regression file left out, it cannot be replayed: {problem}", "warning"))
        for warning in ctx.log.manifest.suite_warnings:
            ctx.emit(Note(warning, "warning"))
        session = self.session = LoadSession(
            self.suite, self.profile, ctx.log, ctx.env, self.options, ctx.emit
        )
        ran = False
        frozen = _freeze()
        try:
            await session.run()
            ran = True
        except asyncio.CancelledError:
            raise
        finally:
            try:
                await session.shutdown(complete=ran)
            finally:
                _thaw(frozen)

    def finish(self, log: RunLog, status: Status) -> tuple[Status, str | None]:
        cut = self.session.cut_short if self.session is not None else None
        if status is Status.FINISHED and cut is not None:
            return Status.FAILED, cut  # the agent died: no finished load
        return status, None

    def counts(self, log: RunLog) -> dict[str, int]:
        return dict(log.verdicts)


#: a full collection while the load runs comes after this many of the middle generation's
#: (CPython's default: 10), see `_freeze`
FULL_EVERY = 100


def _freeze() -> tuple[int, tuple[int, int, int]]:
    """What the session set up (the suite's models, the environment, the engine: hundreds of
    thousands of objects) lives as long as the load: frozen out of every collection, so the
    full collections that the load's own objects cause walk only those. Those are still tens
    of thousands (the cases prepared ahead, the conversations out), all alive and none in a
    cycle: a full collection walked them every second or two, 10% of the harness's CPU, and
    found nothing. It comes ten times less often while the load runs; the young generations,
    where a cycle made and dropped at once is found, are collected as before. Returns how
    many objects were frozen before (the CLI freezes its start-up) and the thresholds, for
    `_thaw`."""
    before = gc.get_freeze_count()
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    young, middle, full = thresholds
    gc.set_threshold(young, middle, max(full, FULL_EVERY))
    return before, thresholds


def _thaw(frozen: tuple[int, tuple[int, int, int]]) -> None:
    """The load is over: its objects go back to the collector (a process that runs many
    sessions, a test run, frees each), the thresholds are as they were, and start-up's
    objects stay frozen if they were."""
    before, thresholds = frozen
    gc.set_threshold(*thresholds)
    gc.unfreeze()
    if before:
        gc.collect()
        gc.freeze()
