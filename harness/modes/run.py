"""`harness run`: every planned case of a suite (known regressions first), k trials each
(a flaky regression case as many more as its file asks, to see it again), then the
run-wide invariant sweep. A resumed run finishes exactly the (case, trial) pairs
still missing, and a run killed after its last record is completed (its sweep run); a
finished run is never resumed (the session says so and changes nothing)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

from harness.core import Case
from harness.core.events import Note, Status
from harness.empty import empty_dict, empty_list
from harness.errors import ConfigError
from harness.run.plan import plan
from harness.run.regressions import flaky_words, trials_of
from harness.run.regressions import known as known_regressions
from harness.runlog.models import RunManifest
from harness.runlog.store import RunLog
from harness.session.environment import preflight
from harness.session.faults import (
    links_for,
    phases,
    profile_links,
    profile_scope,
    scenario_links,
    scope_note,
    with_profile,
)
from harness.session.lifecycle import Context, Start
from harness.session.manifest import suite_fields
from harness.session.options import SessionOptions
from harness.spec.models import Flaky
from harness.spec.suite import Suite, load_suite


@dataclass
class RunOptions(SessionOptions):
    concurrency: int | None = None
    case_timeout: float | None = None
    select: tuple[str, ...] = ()
    repeat: int | None = None
    trials: int | None = None  # None: the suite's defaults.trials (1 unless it says)
    faults: str | None = None  # a fault profile of suite.yaml: clean and faulted phases


def planned_cases(
    suite: Suite, seed: int, select: tuple[str, ...] | list[str], repeat: int | None
) -> list[Case]:
    """Every saved regression case first (known failures are checked before anything new),
    then the scenarios' cases."""
    known = [
        c
        for c in known_regressions(suite).cases
        if not select
        or any(fnmatch.fnmatchcase(c.scenario, p) or fnmatch.fnmatchcase(c.id, p) for p in select)
    ]
    return known + list(plan(suite, seed, select=select, repeat=repeat))


@dataclass
class RunDriver:
    options: RunOptions
    kind: str = "run"
    concurrency: int = 1
    cases: list[Case] = field(default_factory=empty_list)
    todo: list[tuple[Case, int]] = field(default_factory=empty_list)
    trials: int = 1
    flaky: dict[str, Flaky] = field(default_factory=empty_dict)  # flaky regression cases by id
    #: the links the run's faults name: each gets a proxy (`session/faults.py`)
    fault_links: tuple[str, ...] = ()
    #: `--faults NAME`: the blocks played one after another (clean, faulted, clean, ...)
    phases: list[list[tuple[Case, int]]] = field(default_factory=empty_list)
    suite: Suite = field(init=False)

    def trials_for(self, case: Case) -> int:
        """The run's trials, or more for a flaky regression case (its file says how many)."""
        flaky = self.flaky.get(case.id)
        return max(self.trials, flaky.trials) if flaky is not None else self.trials

    def plan(self) -> RunManifest:
        o = self.options
        if o.suite is None:
            raise ConfigError("no suite given")
        suite = self.suite = load_suite(o.suite)
        seed = o.seed if o.seed is not None else suite.manifest.defaults.seed
        self.concurrency = o.concurrency or suite.manifest.defaults.concurrency
        preflight(suite)
        self.cases = planned_cases(suite, seed, o.select, o.repeat)
        if not self.cases:
            raise ConfigError(
                f"no case of suite {suite.name} matches {' '.join(o.select)}",
                hint="scenarios: " + ", ".join(s.id for s in suite.scenarios),
            )
        self.trials = o.trials or suite.manifest.defaults.trials
        self.flaky = trials_of(suite)
        played, unplayed = profile_scope(suite, self.cases, o.faults)
        self.cases = with_profile(suite, self.cases, o.faults)
        self.fault_links = self.links(o.faults)
        return RunManifest(
            **suite_fields(
                suite,
                seed=seed,
                concurrency=self.concurrency,
                case_timeout=o.case_timeout,
                group=o.group,
            ),
            select=list(o.select),
            repeat=o.repeat,
            deps_mode=o.deps.mode,
            trials=self.trials,
            planned=len(self.cases),
            fault_profile=o.faults,
            fault_scenarios=played,
            fault_unplayed=unplayed,
        )

    def links(self, profile: str | None) -> tuple[str, ...]:
        """The links the run's faults name (its cases' scenarios', its profile's)."""
        named = scenario_links(self.suite, self.cases) | profile_links(self.suite, profile)
        return links_for(self.suite, named)

    def resume(self, log: RunLog) -> None:
        o, m = self.options, log.manifest
        if not isinstance(m, RunManifest) or m.kind != self.kind:
            resumable = "runs of harness run and harness drift can be resumed"
            raise ConfigError(
                f"run {log.run_id} is a {m.kind} run; harness {self.kind} --resume cannot "
                f"finish it ({resumable})",
                hint=f"harness {m.kind} --resume {log.run_id}"
                if m.kind in ("run", "drift")
                else f"start a new one with harness {m.kind}",
            )
        changed = [
            flag
            for flag, value in (
                ("--seed", o.seed),
                ("--repeat", o.repeat),
                ("-k/--select", o.select),
            )
            if value
        ]
        if changed:
            raise ConfigError(
                f"{', '.join(changed)} cannot change when resuming: the run keeps the options "
                "it started with, so its cases stay comparable",
                hint="drop them, or start a new run",
            )
        for flag, given, stored in (
            ("--trials", o.trials, m.trials),
            ("--group", o.group, m.group),
            ("--faults", o.faults, m.fault_profile),
        ):
            # may be repeated on resume (e.g. from HARNESS_TRIALS) but not changed: the run's
            # trials decide which keys are still missing
            if given and given != stored:
                raise ConfigError(
                    f"{flag} {given} differs from run {log.run_id}'s {stored}: a resumed run "
                    "keeps the options it started with",
                    hint=f"drop {flag} (or HARNESS_{flag[2:].upper()}), or start a new run",
                )
        suite = self.suite = load_suite(o.suite or Path(m.suite_path))
        if not self.same_suite(suite, m):
            raise ConfigError(
                f"the suite {suite.name} changed since run {log.run_id} started, so its "
                "finished cases would not be comparable with new ones",
                hint=f"start a new run instead (harness {self.kind}), or restore the suite's files",
            )
        preflight(suite)
        self.cases = planned_cases(suite, m.seed, m.select, m.repeat)
        self.trials = m.trials or 1
        self.flaky = trials_of(suite)
        self.cases = with_profile(suite, self.cases, m.fault_profile)
        self.fault_links = self.links(m.fault_profile)
        if o.concurrency:
            m.concurrency = o.concurrency
        self.concurrency = m.concurrency

    def same_suite(self, suite: Suite, m: RunManifest) -> bool:
        """Whether the suite is the one the run started with (its regression files too)."""
        return suite.suite_hash == m.suite_hash

    def start(self, log: RunLog) -> Start:
        # trial-major, as Engine.run: a resumed run finishes exactly the missing keys
        most = max((self.trials_for(c) for c in self.cases), default=self.trials)
        self.todo = [
            (c, t)
            for t in range(1, most + 1)
            for c in self.cases
            if t <= self.trials_for(c) and f"{c.id}@{t}" not in log.done
        ]
        self.phases = phases(self.todo)
        total = sum(self.trials_for(c) for c in self.cases)
        return Start(
            total,
            total - len(self.todo),
            trials=self.trials,
            regressions=sum(1 for c in self.cases if c.origin == "regression"),
        )

    def _sweep_missing(self, log: RunLog) -> bool:
        if not self.suite.invariants:
            return False
        return not log.swept

    def needs_environment(self, log: RunLog) -> bool:
        return bool(self.todo) or self._sweep_missing(log)

    async def drive(self, ctx: Context) -> None:
        log = ctx.log
        if ctx.env is None:  # killed after its last record: it only lacks its `finished`
            ctx.emit(Note(f"every case of run {log.run_id} had finished; marking it finished"))
            return
        m = log.manifest
        for problem in m.unreadable_regressions:  # said now; the summary and report list them
            ctx.emit(Note(f"regression file left out, it cannot be replayed: {problem}", "warning"))
        for case in self.cases:
            flaky = self.flaky.get(case.id)
            if flaky is not None and self.trials_for(case) > self.trials:
                n = self.trials_for(case)
                ctx.emit(Note(f"{case.id} is flaky ({flaky_words(flaky, n)})"))
        engine = ctx.env.engine(m.concurrency, m.case_timeout, ctx.emit, log.append)
        profile = getattr(m, "fault_profile", None)
        if profile is not None:
            played = getattr(m, "fault_scenarios", [])
            ctx.emit(Note(scope_note(profile, played, getattr(m, "fault_unplayed", []))))
        if profile is not None and len(self.phases) > 1:
            ctx.emit(Note(f"fault profile {profile}: {len(self.phases)} phases, clean and "
                          "faulted in turn, never side by side"))  # fmt: skip
        if self.todo:
            for block in self.phases:  # one phase at a time: faulted never beside clean
                await engine.run_trials(block)
            played = {c.scenario for c in self.cases}
            warnings = span_name_notes(self.suite, engine.watching.watchers, played)
            for note in warnings:
                ctx.emit(Note(note, "warning"))
            if warnings:  # in every report too: an `absent` check of a typo passes silently
                log.update(suite_warnings=warnings)
        else:
            ctx.emit(Note(f"every case of run {log.run_id} had finished; running its sweep"))
        if self.suite.invariants:
            log.append_sweep(ctx.attempt, await engine.sweep_invariants())

    def finish(self, log: RunLog, status: Status) -> tuple[Status, str | None]:
        return status, None

    def counts(self, log: RunLog) -> dict[str, int]:
        return dict(log.verdicts)


def span_name_notes(suite: Suite, watchers: tuple[object, ...], played: set[str]) -> list[str]:
    """After the cases: span checks of the scenarios played whose name or tool no span of the
    run had (a typo in the check, said once, not as every case's failure or silent pass)."""
    from harness.check.chain import unseen_span_names
    from harness.run.tracing import TraceWatcher

    for watcher in watchers:
        if isinstance(watcher, TraceWatcher) and (watcher.names or watcher.tools):
            return unseen_span_names(suite, watcher.names, watcher.tools, played)
    return []
