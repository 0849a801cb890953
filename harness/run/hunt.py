"""`harness hunt`: search a suite's generated inputs for divergences within a time budget.

Hypothesis drives the search: each scenario's generators become strategies, each
example is one real case against the real agent and systems, and a check or
invariant that fails with a signature not seen before is raised as its own
exception type, so hypothesis shrinks each distinct divergence separately to its
simplest input. Every shrunk failure is saved as a regression case. The example
database lives under the suite, so the next hunt resumes where this one stopped.

The search runs in a worker thread (hypothesis is synchronous); each example is
handed to the engine on the event loop and waited for.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from harness.core import Case, CaseResult, CheckResult, Verdict
from harness.events import (
    Emit,
    HuntFound,
    HuntProgress,
    Note,
    RunFinished,
    RunStarted,
    ignore,
)
from harness.generate.strategies import draw_case
from harness.generate.values import derive_seed, is_generator
from harness.run import regressions
from harness.run.engine import Engine
from harness.run.environment import environment, preflight
from harness.run.plan import plan_case
from harness.run.session import base_manifest
from harness.run.store import RunStore, now_iso, reports_root
from harness.spec import models as m
from harness.spec.models import Scenario
from harness.spec.suite import Suite, load_suite

EXAMPLES_PER_ROUND = 40  # for scenarios with hard-part generators; others get a quarter
SHRINK_GRACE = 0.25  # share of the budget a hunt may overrun to finish shrinking


class Divergence(Exception):
    """A new divergence; one subclass per signature so hypothesis shrinks each apart."""

    signature = ""

    def __init__(self, result: CaseResult, check: CheckResult) -> None:
        super().__init__(f"{self.signature}: {check.message}")
        self.result = result
        self.check = check


class TimeUp(BaseException):
    """The hunt's hard deadline passed; stops hypothesis at once."""


_types: dict[str, type[Divergence]] = {}


def divergence_type(signature: str) -> type[Divergence]:
    if signature not in _types:
        _types[signature] = type(
            f"Divergence_{len(_types)}", (Divergence,), {"signature": signature}
        )
    return _types[signature]


@dataclass
class HuntOptions:
    suite: Path
    budget: float
    select: tuple[str, ...] = ()
    deps: str = "embedded"
    reports_dir: Path | None = None
    plain: bool = False
    seed: int | None = None
    group: str | None = None  # runs that belong together, e.g. one release's sign-off


@dataclass
class Found:
    signature: str
    case_id: str
    requirement: str
    check: str
    message: str
    tried: int  # cases of this scenario tried before it was first seen
    path: str | None
    shrunk: bool


@dataclass
class HuntOutcome:
    run_id: str
    run_dir: Path
    tried: int
    seconds: float
    found: list[Found] = field(default_factory=list)


HARD_PARTS = (m.BoundaryGen, m.FormatGen, m.TrapGen, m.PoolGen)


def hard_parts(scenario: Scenario) -> bool:
    """Boundaries, formats, traps, pools, personas or rewordings: where defects hide."""
    values = [
        *scenario.vars.values(),
        *(v for r in scenario.setup.values() for v in r.values.values()),
    ]
    return bool(scenario.personas or scenario.variants) or any(
        isinstance(v, HARD_PARTS) for v in values
    )


def examples_per_round(scenario: Scenario) -> int:
    return EXAMPLES_PER_ROUND if hard_parts(scenario) else EXAMPLES_PER_ROUND // 4


def searchable(scenario: Scenario) -> bool:
    """A scenario with at least one generated value or persona gives a hunt something to vary."""
    return (
        bool(scenario.personas)
        or any(is_generator(v) for v in scenario.vars.values())
        or any(is_generator(v) for row in scenario.setup.values() for v in row.values.values())
    )


class Hunter:
    def __init__(
        self,
        suite: Suite,
        engine: Engine,
        store: RunStore,
        options: HuntOptions,
        emit: Emit,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.suite = suite
        self.engine = engine
        self.store = store
        self.options = options
        self.emit = emit
        self.loop = loop
        self.known = regressions.known_signatures(suite)
        self.found: list[Found] = []
        self.tried = 0
        self.numbers = itertools.count(1)  # unique per example over the whole hunt
        self.per_scenario: dict[str, int] = {}
        self.started = time.monotonic()
        self.soft_end = self.started + options.budget
        self.hard_end = self.started + options.budget * (1 + SHRINK_GRACE) + 5
        self.database = DirectoryBasedExampleDatabase(str(suite.root / ".hypothesis" / "examples"))
        # the first (unshrunk) failure seen per signature, kept in case time runs out mid-shrink
        self._first: dict[str, tuple[CaseResult, CheckResult, int]] = {}

    # -- running one case from the search thread --------------------------------------
    def run(self, case: Case) -> CaseResult:
        if time.monotonic() > self.hard_end:
            raise TimeUp
        result = asyncio.run_coroutine_threadsafe(self.engine.run_case(case), self.loop).result()
        self.tried += 1
        self.per_scenario[case.scenario] = self.per_scenario.get(case.scenario, 0) + 1
        left = max(0.0, self.soft_end - time.monotonic())
        self.loop.call_soon_threadsafe(
            self.emit, HuntProgress(self.tried, len(self.found), left, case.scenario)
        )
        return result

    def new_failures(self, result: CaseResult) -> list[tuple[str, CheckResult]]:
        out = []
        for check in result.checks:
            if check.verdict is Verdict.PASS:
                continue
            sig = regressions.signature(result.case.scenario, check)
            if sig not in self.known:
                out.append((sig, check))
                tried = self.per_scenario.get(result.case.scenario, 0)
                self._first.setdefault(sig, (result, check, tried))
        return out

    # -- the hypothesis search ------------------------------------------------------
    def search_round(self, scenario: Scenario, round_no: int) -> list[Divergence]:

        @settings(
            database=self.database,
            max_examples=examples_per_round(scenario),
            deadline=None,
            derandomize=False,
            report_multiple_bugs=True,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
            verbosity=Verbosity.quiet,
            print_blob=False,
        )
        @hypothesis_seed(derive_seed(self.options.seed or 0, scenario.id, round_no))
        @given(st.data())
        def probe(data: st.DataObject) -> None:
            case = draw_case(data, self.suite, scenario, next(self.numbers), self.options.seed or 0)
            result = self.run(case)
            failures = self.new_failures(result)
            if failures:
                sig, check = failures[0]
                raise divergence_type(sig)(result, check)

        probe._hypothesis_internal_add_digest = scenario.id.encode()  # type: ignore[attr-defined]
        try:
            probe()
        except Divergence as exc:
            return [exc]
        except BaseExceptionGroup as group:
            found = [e for e in group.exceptions if isinstance(e, Divergence)]
            others = [e for e in group.exceptions if not isinstance(e, Divergence)]
            if others:
                self.note(f"{scenario.id}: {len(others)} failure(s) did not reproduce (flaky)")
            return found
        except TimeUp:
            raise
        except Exception as exc:  # hypothesis Flaky & co: the agent answered differently twice
            self.note(f"{scenario.id}: {type(exc).__name__}: {str(exc)[:300]}")
        return []

    def plain_round(self, scenario: Scenario, round_no: int) -> list[Divergence]:
        """The baseline: plain random values (no boundaries, formats, traps), no shrinking."""
        out: list[Divergence] = []
        per_round = examples_per_round(scenario)
        for k in range(per_round):
            if time.monotonic() > self.soft_end:
                break
            index = round_no * per_round + k
            case = plan_case(
                self.suite, scenario, index, self.options.seed or 0, count=2, plain=True
            )
            result = self.run(case)
            # hunt() records them in order; record() skips what is known by then
            out += [divergence_type(sig)(result, check) for sig, check in self.new_failures(result)]
        return out

    def note(self, text: str) -> None:
        self.loop.call_soon_threadsafe(self.emit, Note(text, "warning"))

    def record(self, exc: Divergence, shrunk: bool) -> None:
        """Save one divergence; every other check the same case broke is known from now on,
        so one minimal case covers all the ways it diverges."""
        if exc.signature in self.known:
            return
        first = self._first.get(exc.signature)
        tried_at = first[2] if first else self.per_scenario.get(exc.result.case.scenario, 0)
        path = None
        if not self.options.plain:
            path = str(
                regressions.save(
                    self.suite,
                    exc.result,
                    exc.check,
                    run_id=self.store.run_id,
                    tried=tried_at,
                    shrunk=shrunk,
                )
            )
        self.store.append(exc.result)
        found = Found(
            exc.signature,
            exc.result.case.id,
            exc.check.requirements[0],
            exc.check.check_id,
            exc.check.message,
            tried_at,
            path,
            shrunk,
        )
        self.found.append(found)
        self.known.update({exc.signature, *regressions.failing_signatures(exc.result)})
        self.loop.call_soon_threadsafe(self.emit, HuntFound(found.__dict__))

    def hunt(self, scenarios: list[Scenario]) -> None:
        search: Callable[[Scenario, int], list[Divergence]] = (
            self.plain_round if self.options.plain else self.search_round
        )
        try:
            for round_no in itertools.count():
                if time.monotonic() > self.soft_end:
                    break
                for scenario in scenarios:
                    if time.monotonic() > self.soft_end:
                        break
                    for exc in search(scenario, round_no):
                        self.record(exc, shrunk=not self.options.plain)
        except TimeUp:
            # keep what was seen but could not be shrunk in time
            for sig, (result, check, _) in list(self._first.items()):
                self.record(divergence_type(sig)(result, check), shrunk=False)


async def hunt(options: HuntOptions, emit: Emit) -> HuntOutcome:
    suite = load_suite(options.suite)
    preflight(suite)
    # where defects hide first: a short budget goes to boundaries, formats and traps
    scenarios = sorted(
        (s for s in suite.scenarios if searchable(s)), key=lambda s: not hard_parts(s)
    )
    if options.select:
        import fnmatch

        scenarios = [
            s for s in scenarios if any(fnmatch.fnmatchcase(s.id, p) for p in options.select)
        ]
    manifest = base_manifest(suite, seed=options.seed or 0, concurrency=1, case_timeout=None)
    manifest.update(
        kind="hunt",
        budget_seconds=options.budget,
        plain=options.plain,
        scenarios=[s.id for s in scenarios],
        deps_mode=options.deps,
        group=options.group,
    )
    store = RunStore.create(reports_root(options.reports_dir), manifest)
    emit(RunStarted(store.run_id, suite.name, str(store.dir), len(scenarios)))
    started = time.perf_counter()
    status = "failed"
    hunter: Hunter | None = None
    try:
        async with environment(suite, store, options.deps, 1, emit) as env:
            engine = env.engine(1, suite.manifest.defaults.case_timeout, ignore, ignore)
            hunter = Hunter(suite, engine, store, options, emit, asyncio.get_running_loop())
            if not scenarios:
                emit(Note("no scenario has generated values to search; nothing to hunt", "warning"))
            await asyncio.to_thread(hunter.hunt, scenarios)
        status = "finished"
    except asyncio.CancelledError:
        status = "interrupted"
        if hunter is not None:
            hunter.hard_end = 0  # stops the search thread at its next case
        raise
    finally:
        store.close()
        elapsed = time.perf_counter() - started
        found = hunter.found if hunter else []
        store.update(
            status=status,
            finished_at=now_iso(),
            tried=hunter.tried if hunter else 0,
            found=[f.__dict__ for f in found],
        )
        emit(RunFinished(store.run_id, status, len(found), elapsed, {"fail": len(found)}))
    return HuntOutcome(store.run_id, store.dir, hunter.tried if hunter else 0, elapsed, found)
