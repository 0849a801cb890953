"""`harness load`: one load run from suite to stored results, bounded in time, torn down always.

The harness's own process keeps everything that judges (the environment, the
engine, the case feeder, the invariant samples) and starts the load generator's
processes, which it stops (and, past a deadline, kills) on every way out: the
profile's end, an early stop, Ctrl-C or SIGTERM. What finished is stored as it
finishes; the manifest says how far the run got.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.agents.http import HttpAgent
from harness.core import SWEEP_CASE, Case, CaseResult, Observation
from harness.errors import ConfigError, EnvironmentFault, HarnessError
from harness.events import Emit, LoadProgress, Note, RunFinished, RunStarted, ignore
from harness.load.feeder import JUDGES, PREPARERS, Feeder
from harness.load.invariants import InvariantWatch, Sample, SetupGate
from harness.load.processes import LoadProcesses
from harness.load.server import LoadState, make_app, serve
from harness.load.timeline import Timeline
from harness.load.wire import STOP_GRACE
from harness.procs import free_port
from harness.run.environment import Environment, WatchedAgent, environment, preflight
from harness.run.session import base_manifest
from harness.run.store import RunStore, now_iso, reports_root
from harness.spec.load import ProfileBase, selected
from harness.spec.loader import did_you_mean
from harness.spec.suite import Suite, load_suite

DEFAULT_MASTER_PORT = 5557  # locust's, and harness load-worker's default
START_TIMEOUT = 120.0  # seconds for the generator's processes (and workers) to come up
MANIFEST_EVERY = 2.0


@dataclass
class LoadOptions:
    suite: Path
    profile: str
    workers: int = 0  # local worker processes; 0: one process, no master
    expect_workers: int | None = None  # workers to wait for, remote ones included
    bind: str = "127.0.0.1"  # the case server's and the master's interface
    advertise: str | None = None  # how remote workers reach this machine
    master_port: int | None = None
    case_port: int | None = None
    limit: float | None = None  # seconds; caps the profile's length further
    seed: int | None = None
    deps: str | None = None
    reports_dir: Path | None = None
    group: str | None = None


@dataclass
class LoadOutcome:
    run_id: str
    run_dir: Path
    status: str
    judged: int
    seconds: float
    samples: list[Sample] = field(default_factory=list)


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


def open_load(options: LoadOptions) -> tuple[Suite, ProfileBase, RunStore]:
    """Validate everything and open the run's folder; nothing is started."""
    suite = load_suite(options.suite)
    profile = resolve_profile(suite, options.profile)
    if suite.manifest.environment.agent.http is None:
        raise ConfigError(
            f"suite {suite.name}'s agent is a python callable; harness load drives agents over "
            "HTTP from separate processes",
            hint="give the agent an http: section (harness run still tests the callable)",
        )
    preflight(suite)
    if options.limit is not None:
        profile = profile.model_copy(update={"limit": min(options.limit, profile.length)})
    seed = options.seed if options.seed is not None else suite.manifest.defaults.seed
    manifest = base_manifest(suite, seed=seed, concurrency=PREPARERS + JUDGES, case_timeout=None)
    stages = profile.stages()
    manifest.update(
        kind="load",
        group=options.group,
        deps_mode=options.deps,
        trials=1,
        load={
            "profile": options.profile,
            "shape": getattr(profile, "shape", "stages"),
            "schedule": [[s.start, s.end, s.users, s.spawn_rate] for s in stages],
            "length_s": profile.length,
            "peak_users": profile.peak,
            "window_s": profile.window_seconds(),
            "sample_every_s": profile.sample_every,
            "duplicates": profile.duplicates.model_dump(),
            "scenarios": [s.id for s in selected(profile, list(suite.scenarios))],
            "workers": options.workers,
        },
    )
    return suite, profile, RunStore.create(reports_root(options.reports_dir), manifest)


def http_agent(env: Environment) -> HttpAgent:
    agent = env.agent.inner if isinstance(env.agent, WatchedAgent) else env.agent
    if not isinstance(agent, HttpAgent):  # pragma: no cover - refused in open_load
        raise ConfigError("harness load needs an http agent")
    return agent


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


async def run_load(options: LoadOptions, emit: Emit) -> LoadOutcome:
    options.master_port = master_port(options)
    suite, profile, store = open_load(options)
    emit(RunStarted(store.run_id, suite.name, str(store.dir), 0))
    started = time.perf_counter()
    status, error = "failed", None
    session: LoadSession | None = None
    try:
        async with environment(suite, store, options.deps, PREPARERS + JUDGES, emit) as env:
            session = LoadSession(suite, profile, store, env, options, emit)
            ran = False
            try:
                await session.run()
                ran, status = True, "finished"
                if session.cut_short is not None:  # the agent died: not a finished load
                    status, error = "failed", session.cut_short
            except asyncio.CancelledError:
                status = "interrupted"
                raise
            finally:
                await session.shutdown(complete=ran)
    except HarnessError as exc:
        error = str(exc)
        raise
    finally:
        store.close()
        judged = session.feeder.counts.judged if session is not None else 0
        store.update(status=status, finished_at=now_iso(), error=error)
        emit(RunFinished(store.run_id, status, judged, time.perf_counter() - started))
    samples = session.samples if session is not None else []
    return LoadOutcome(
        store.run_id, store.dir, status, judged, time.perf_counter() - started, samples
    )


class LoadSession:
    """Everything one load run holds while it runs."""

    def __init__(
        self,
        suite: Suite,
        profile: ProfileBase,
        store: RunStore,
        env: Environment,
        options: LoadOptions,
        emit: Emit,
    ) -> None:
        self.suite, self.profile, self.store, self.env = suite, profile, store, env
        self.options, self.emit = options, emit
        m = store.manifest
        http = http_agent(env)
        self.engine = env.engine(PREPARERS + JUDGES, float(m["case_timeout"]), ignore, store.append)
        self.timeline = Timeline(profile.stages(), profile.length, profile.window_seconds())
        self.watch = InvariantWatch(suite, env.deps.targets)
        self.gate = SetupGate()
        self.feeder = Feeder(
            suite,
            self.engine,
            store,
            http,
            profile,
            seed=int(m["seed"]),
            watch=self.watch,
            gate=self.gate,
            timeline=self.timeline,
            agent=env.agent.runner if isinstance(env.agent, WatchedAgent) else None,
        )
        turns = max(len(s.turns) for s in self.feeder.scenarios)
        self.stop_timeout = min(60.0, max(2.0, turns * http.config.timeout))
        adapter = http.config.model_dump(mode="json", exclude={"body"})
        adapter.update(url=http.url, headers=http.headers)
        self.state = LoadState(
            config={
                "run": store.run_id,
                "adapter": adapter,
                "schedule": m["load"]["schedule"],
                "length": profile.length,
                "wait": list(profile.wait),
                "stop_timeout": self.stop_timeout,
            }
        )
        self.procs = LoadProcesses(store.dir, store.run_id)
        self.samples: list[Sample] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self._server: Any = None
        self._last_manifest = 0.0
        #: the agent process's exit code and the load's seconds when the harness saw it gone
        self.agent_exit: tuple[int, float] | None = None

    @property
    def cut_short(self) -> str | None:
        """Why the load stopped before its profile's end, when the agent process died."""
        if self.agent_exit is None:
            return None
        code, at = self.agent_exit
        return (
            f"the agent process exited with code {code} at {at:.1f} s; the load was cut short "
            f"there (see {self.store.dir / 'agent.log'})"
        )

    async def run(self) -> None:
        app = make_app(self.state, self.feeder, self.timeline)
        self._server, port = await serve(app, self.options.bind, self.options.case_port or 0)
        local_host = (
            "127.0.0.1" if self.options.bind in ("0.0.0.0", "::", "") else self.options.bind
        )
        path = f"/{self.state.secret}"
        local_url = f"http://{local_host}:{port}{path}"
        public = self.options.advertise or _public(self.options.bind) or local_host
        public_url = f"http://{public}:{port}{path}"
        self.tasks += [asyncio.create_task(self.feeder.fill()), asyncio.create_task(self._sample())]
        self._start_generator(local_url, public_url)
        await self._wait_started()
        await self._watch()

    def _start_generator(self, local_url: str, public_url: str) -> None:
        o = self.options
        expect = o.expect_workers if o.expect_workers is not None else o.workers
        if expect <= 0:
            self.procs.start_local(local_url)
        else:
            port = o.master_port or free_port()  # resolved by master_port() before the start
            master_host = "127.0.0.1" if o.bind in ("0.0.0.0", "::", "") else o.bind
            self.procs.start_master(public_url, o.bind, port, expect)
            for n in range(1, o.workers + 1):
                self.procs.start_worker(n, master_host, port, local_url)
            if expect > o.workers:
                host = o.advertise or _public(o.bind)
                if host is None:
                    self.emit(
                        Note(
                            f"waiting for {expect - o.workers} remote worker(s), but the harness "
                            "found no address of this machine that others can reach: stop and "
                            "run again with --advertise HOST, then on each machine harness "
                            f"load-worker --master-host HOST --master-port {port}",
                            "warning",
                        )
                    )
                else:
                    self.emit(
                        Note(
                            f"waiting for {expect - o.workers} remote worker(s): on each machine "
                            f"run harness load-worker --master-host {host} --master-port {port}"
                        )
                    )
        self._update_manifest(force=True)

    async def _wait_started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not self.state.started:
            if (failure := self.procs.failure()) is not None:
                raise EnvironmentFault(failure)
            if not self.procs.running or time.monotonic() > deadline:
                raise EnvironmentFault(
                    "the load generator did not start the profile "
                    f"({self.state.runner_state or 'no word from it'})",
                    hint=f"see the load-*.log files in {self.store.dir}",
                )
            await asyncio.sleep(0.05)
        self.emit(Note(f"load started: profile {self.options.profile}, {self.profile.length:g} s"))

    async def _watch(self) -> None:
        """Until every generator process has ended: progress, deadlines, a dead agent."""
        runner = self.env.agent.runner if isinstance(self.env.agent, WatchedAgent) else None
        deadline = self.profile.length + self.stop_timeout + STOP_GRACE + 15.0
        last = 0.0
        while self.procs.running:
            await asyncio.sleep(0.1)
            if (failure := self.procs.failure()) is not None:
                raise EnvironmentFault(failure)
            if runner is not None and runner.exit_code is not None and self.agent_exit is None:
                self.state.stop = True
                self.agent_exit = (runner.exit_code, self._elapsed())
                self.feeder.agent_died(runner.exit_code)
                self.emit(
                    Note(
                        f"the agent process exited with code {runner.exit_code} during the load; "
                        f"stopping. Last lines of {runner.log_path}:\n{runner.log_tail(15)}",
                        "error",
                    )
                )
            if self._elapsed() > deadline:
                self.emit(Note("the load generator overran the profile's limit; stopping it"))
                await self.procs.stop()
            if time.monotonic() - last >= 0.5:
                last = time.monotonic()
                self._progress()
                self._update_manifest()
        if (failure := self.procs.failure()) is not None:
            raise EnvironmentFault(failure)

    def _elapsed(self) -> float:
        t0 = self.timeline.t0
        return time.time() - t0 if t0 is not None else 0.0

    def _progress(self) -> None:
        c = self.feeder.counts
        requests = sum(p.requests for p in self.state.processes.values() if p.role != "master")
        self.emit(
            LoadProgress(
                seconds=min(self._elapsed(), self.profile.length),
                length=self.profile.length,
                users=self.timeline.current_users,
                requests=requests,
                judged=c.judged,
                passed=c.passed,
                violations=c.violations,  # the samples' rows are counted in the report
            )
        )

    async def _sample(self) -> None:
        """The invariants over the whole database, every few seconds while the load runs."""
        while True:
            await asyncio.sleep(self.profile.sample_every)
            if self.timeline.t0 is not None:
                await self._take_sample()

    async def _take_sample(self) -> None:
        async with self.gate.exclusive():
            sample = await self.watch.sample(self._elapsed())
        if sum(sample.violations.values()) and not any(
            sum(s.violations.values()) for s in self.samples
        ):
            found = ", ".join(f"{k} ({v} rows)" for k, v in sample.violations.items() if v)
            self.emit(Note(f"invariant violated in the database at {sample.at:.1f} s: {found}"))
        self.samples.append(sample)

    def _update_manifest(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_manifest < MANIFEST_EVERY:
            return
        self._last_manifest = now
        load = dict(self.store.manifest["load"])
        c = self.feeder.counts
        load.update(
            t0=self.timeline.t0,
            users_timeline=self.timeline.samples(),
            samples=[s.to_dict() for s in self.samples],
            counts=vars(c).copy(),
            waited_s=round(self.state.waited, 3),
            processes=self._processes(),
            locust=self.state.totals or None,
            stop_timeout_s=self.stop_timeout,
        )
        if self.agent_exit is not None:
            load["agent_exit"] = {"code": self.agent_exit[0], "at": round(self.agent_exit[1], 3)}
        self.store.update(load=load, levels=self.feeder.level_table())

    def _processes(self) -> list[dict[str, Any]]:
        reported = {p.pid: p for p in self.state.processes.values()}
        out = []
        for item in self.procs.manifest():
            p = reported.get(item["pid"])
            if p is not None:
                item.update(index=p.index, requests=p.requests, failures=p.failures, final=p.final)
            out.append(item)
        local = {p["pid"] for p in out}
        for p in reported.values():  # workers on other machines
            if p.pid not in local and p.role == "worker":
                out.append(
                    {
                        "role": "worker",
                        "pid": p.pid,
                        "remote": True,
                        "index": p.index,
                        "requests": p.requests,
                        "failures": p.failures,
                        "final": p.final,
                    }
                )
        return out

    async def shutdown(self, *, complete: bool) -> None:
        """Stop the generator, judge what came back, sample once more, sweep; store it all."""
        self.state.stop = True
        if self.procs.running:
            await self.procs.stop(3.0 if not complete else 10.0)
        self.feeder.close()
        await self.feeder.drain(
            timeout=float(self.store.manifest["case_timeout"]) if complete else 3.0
        )
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.cleanup()
        if complete and self.suite.invariants:
            await self._take_sample()
            sweep = await self.watch.sweep()
            sweep_case = Case(SWEEP_CASE, SWEEP_CASE, 0, 0, origin="invariant-sweep")
            self.store.append(CaseResult(sweep_case, 1, Observation("-"), sweep))
        self._update_manifest(force=True)


def _public(bind: str) -> str | None:
    """The address to give remote workers when none was given: the interface bound, else this
    machine's name when it resolves beyond loopback, else its first non-loopback address;
    None when there is none (then --advertise is needed)."""
    if bind not in ("0.0.0.0", "::", ""):
        return bind
    name = socket.getfqdn()
    with contextlib.suppress(OSError):
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(name, None)}
        if name and name != "localhost" and not all(_loopback(a) for a in addresses):
            return name
    return _first_address()


def _loopback(address: str) -> bool:
    return address.startswith("127.") or address == "::1"


def _first_address() -> str | None:
    """The source address of a route off this machine (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never reached, only routed
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if _loopback(address) or address == "0.0.0.0" else address
