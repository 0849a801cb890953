"""The search behind `harness hunt`, run in a worker thread (hypothesis is synchronous).

Each example is one real case, handed to the engine on the event loop and waited
for. A check or invariant that fails with a root cause (a FailureShape: requirement,
check type, verdict, failure kind, differing columns) not seen before is raised as its
own exception type, so hypothesis shrinks each distinct root cause separately to its
simplest input; the same shape in another scenario is listed as a member of the first
(modes/findings.py), not searched again. Before a shrunk case is saved it is replayed
CONFIRMATIONS times more; one that does not fail on every replay is saved as flaky with
its observed rate, so later runs replay it often enough to see it again. Failures the
suite or the harness caused (a setup row the database refused, a check that raised, a
harness fault: a failure whose kind is not the agent's) are never saved as regressions of
the agent. A drift scenario's length and position are searched as inputs, and a drift case
that fails is shrunk to the shortest length that still fails (modes/lengths.py) before it is
saved.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import json
import random
import threading
import time
from collections.abc import Callable

from harness.core import Case, CaseResult, Category, CheckResult, Severity, Verdict
from harness.core.events import Emit, HuntFound, HuntProgress, Note
from harness.generate.spaces import is_generator, is_hard, is_searched
from harness.generate.strategies import Data, draw_case, draw_point, example_database, search
from harness.generate.values import derive_seed
from harness.modes import lengths
from harness.modes.findings import Findings
from harness.run import drift
from harness.run.engine import Engine
from harness.run.plan import plan_case
from harness.runlog.models import Finding
from harness.runlog.store import RunLog
from harness.spec.models import Scenario
from harness.spec.suite import Suite

EXAMPLES_PER_ROUND = 40  # for scenarios with hard-part generators; others get a quarter
SHRINK_GRACE = 0.25  # share of the budget a hunt may overrun to finish shrinking
CONFIRMATIONS = 5  # replays of a shrunk failure before it is saved: all fail, or it is flaky


class Divergence(Exception):
    """A new divergence; one subclass per root cause so hypothesis shrinks each apart."""

    signature = ""

    def __init__(self, result: CaseResult, check: CheckResult) -> None:
        super().__init__(f"{self.signature}: {check.message}")
        self.result = result
        self.check = check


class TimeUp(BaseException):
    """The hunt's hard deadline passed or it was interrupted; stops hypothesis at once."""


_types: dict[str, type[Divergence]] = {}


def divergence_type(signature: str) -> type[Divergence]:
    if signature not in _types:
        name = f"Divergence_{len(_types)}"
        _types[signature] = type(name, (Divergence,), {"signature": signature})
    return _types[signature]


Found = Finding  # what a hunt records for each divergence it found


def values_of(scenario: Scenario) -> list[object]:
    """A scenario's vars and its setup rows' values: literals, templates and generators."""
    return [
        *scenario.vars.values(),
        *(v for r in scenario.setup.values() for v in r.values.values()),
    ]


def hard_parts(scenario: Scenario) -> bool:
    """Boundaries, formats, traps, pools, dates, personas or rewordings: where defects hide.
    A drift scenario's lengths are searched too, but not first: its conversations are long."""
    return bool(scenario.personas or scenario.variants) or any(
        is_hard(v) for v in values_of(scenario)
    )


def examples_per_round(scenario: Scenario) -> int:
    return EXAMPLES_PER_ROUND if hard_parts(scenario) else EXAMPLES_PER_ROUND // 4


def searchable(scenario: Scenario) -> bool:
    """A scenario with a searched generated value, personas or drift lengths gives a hunt
    something to vary (faker values alone are filler: one example would be all it runs)."""
    return (
        scenario.drift is not None
        or bool(scenario.personas)
        or any(is_searched(v) for v in values_of(scenario))
    )


def filler_only(scenario: Scenario) -> bool:
    """Generated values, but none a hunt varies (faker filler, sequences), and nothing else
    to search: a hunt leaves the scenario out and says so."""
    return not searchable(scenario) and any(is_generator(v) for v in values_of(scenario))


class Hunter:
    def __init__(
        self,
        suite: Suite,
        engine: Engine,
        log: RunLog,
        *,
        budget: float,
        seed: int,
        plain: bool,
        emit: Emit,
        loop: asyncio.AbstractEventLoop,
        max_length: int | None = None,
    ) -> None:
        self.suite = suite
        self.engine = engine
        self.log = log
        self.seed = seed
        self.plain = plain
        self.max_length = max_length  # the longest drift length drawn (None: each scenario's)
        self.emit = emit
        self.loop = loop
        self.findings = Findings(suite, run_id=log.run_id, plain=plain)
        self.found: list[Finding] = self.findings.found
        self.tried = 0
        self.repeats = 0  # examples whose exact input had run already (served from memory)
        self.numbers = itertools.count(1)  # unique per example over the whole hunt
        self.per_scenario: dict[str, int] = {}
        self.started = time.monotonic()
        self.soft_end = self.started + budget
        self.hard_end = self.started + budget * (1 + SHRINK_GRACE) + 5
        self.stopping = False  # set when the hunt is interrupted: nothing more is saved
        self.agent_exit: int | None = None  # the agent process's exit code, if it died
        self._current: concurrent.futures.Future[CaseResult] | None = None  # the case running
        self._lock = threading.Lock()
        folder = suite.root / ".hypothesis"
        self.database = example_database(folder / "examples")
        self.state_path = folder / "hunt-state.json"
        self.rounds = self._load_rounds()
        self._first: dict[str, tuple[CaseResult, CheckResult, int]] = {}
        self._seen: dict[tuple[str, str], CaseResult] = {}
        self._told: set[str] = set()
        self.told: list[str] = []  # what was not saved, and why: the hunt's suite warnings

    # -- where the last hunt stopped ------------------------------------------------
    def _load_rounds(self) -> dict[str, int]:
        try:
            data = json.loads(self.state_path.read_text())
            return {str(k): int(v) for k, v in data.get("rounds", {}).items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def save_rounds(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        self.state_path.write_text(json.dumps({"rounds": self.rounds}, indent=2, sort_keys=True))

    # -- running one case from the search thread --------------------------------------
    def stop(self) -> None:
        """End the search: no case starts any more, and the one running is cancelled (from the
        event loop: before the environment goes, so no case meets an agent being stopped)."""
        with self._lock:
            self.stopping = True
            self.hard_end = 0
            current = self._current
        if current is not None:
            current.cancel()

    def run(self, case: Case, key: str | None = None, trial: int = 1) -> CaseResult:
        """One real case; an input that already ran in this hunt is answered from memory. A
        replay is a later trial: its unique values are its own (per-trial identity)."""
        if self.stopping or time.monotonic() > self.hard_end:
            raise TimeUp
        if key is not None and (case.scenario, key) in self._seen:
            self.repeats += 1
            return self._seen[(case.scenario, key)]
        with self._lock:  # stop() sees the case this starts, or this sees stop()
            if self.stopping:
                raise TimeUp
            running = asyncio.run_coroutine_threadsafe(self.engine.run_case(case, trial), self.loop)
            self._current = running
        try:
            result = running.result()
        except concurrent.futures.CancelledError:
            raise TimeUp from None
        finally:
            self._current = None
        if self.stopping:  # the case may have been cut short by the shutdown itself
            raise TimeUp
        code = getattr(self.engine.agent, "exit_code", None)
        if code is not None:  # a dead agent is no divergence of each scenario: stop, save none
            self.agent_exit = code
            self.stop()
            raise TimeUp
        if key is not None:
            self._seen[(case.scenario, key)] = result
        self.tried += 1
        self.per_scenario[case.scenario] = self.per_scenario.get(case.scenario, 0) + 1
        left = max(0.0, self.soft_end - time.monotonic())
        self.loop.call_soon_threadsafe(
            self.emit, HuntProgress(self.tried, len(self.found), left, case.scenario)
        )
        return result

    def new_failures(self, result: CaseResult) -> list[tuple[str, CheckResult]]:
        error = result.observation.error
        if error is not None and not error.kind.agent:
            self.note_once(
                result.case.scenario,
                f"{result.case.scenario}: {str(error)[:200]} "
                "(a problem of the suite or the harness, not saved)",
            )
            return []
        out = []
        for check in result.checks:
            if check.verdict is Verdict.PASS:
                continue
            if check.cause is not None and not check.cause.agent:  # the suite's, or ours
                self.note_once(
                    f"{result.case.scenario}: {check.check_id}",
                    f"{result.case.scenario}: {check.check_id}: {check.message[:200]} "
                    "(a problem of the suite or the harness, not saved)",
                )
                continue
            if self.stopping or self.findings.is_known(result, check):
                continue  # known, or one more member of a root cause found already
            sig = str(result.shape(check))
            out.append((sig, check))
            tried = self.per_scenario.get(result.case.scenario, 0)
            self._first.setdefault(sig, (result, check, tried))
        return out

    def rank(self, check: CheckResult) -> tuple[int, int, int]:
        """Which of a case's failures names it: the most severe requirement it breaks, then
        the strongest evidence (the real systems' state before the reply), then fail before
        error."""
        reqs = self.suite.requirements
        severity = min(
            (Severity.rank_of(reqs[r].severity) for r in check.requirements if r in reqs),
            default=Severity.rank_of(None),
        )
        return (
            severity,
            Category.rank_of(check.category),
            0 if check.verdict is Verdict.FAIL else 1,
        )

    # -- the hypothesis search ------------------------------------------------------
    def search_round(self, scenario: Scenario, round_no: int) -> list[Divergence]:
        keys: set[str] = set()

        def probe(data: Data) -> None:
            case, key = draw_case(data, self.suite, scenario, next(self.numbers), self.seed)
            if scenario.drift is not None:  # the length is searched, and shrunk, as an input
                length, position = draw_point(data, *lengths.space(scenario, self.max_length))
                case = drift.at_point(case, length, position)
                key += f"; length={length}; position={position}"
            keys.add(key)
            result = self.run(case, key)
            failures = self.new_failures(result)
            if failures:  # named after the worst: the most severe requirement, state first
                sig, check = min(failures, key=lambda f: self.rank(f[1]))
                raise divergence_type(sig)(result, check)

        before = len(self._seen)
        found: list[Divergence] = []
        try:
            search(
                probe,
                database=self.database,
                examples=examples_per_round(scenario),
                seed=derive_seed(self.seed, scenario.id, round_no),
                key=scenario.id.encode(),
            )
        except Divergence as exc:
            found = [exc]
        except BaseExceptionGroup as group:
            found = [e for e in group.exceptions if isinstance(e, Divergence)]
            if any(isinstance(e, TimeUp) for e in group.exceptions):
                raise TimeUp from None
            if len(found) < len(group.exceptions):
                self.note(f"{scenario.id}: a failure did not reproduce while being shrunk")
        except TimeUp:
            raise
        except Exception as exc:  # hypothesis Flaky & co: the agent answered differently twice
            self.note(f"{scenario.id}: {type(exc).__name__}: {str(exc)[:300]}")
        if len(self._seen) == before and not found:
            self.exhausted.add(scenario.id)  # every input it can draw has run already
        return found

    def plain_round(self, scenario: Scenario, round_no: int) -> list[Divergence]:
        """The baseline: plain random values (no boundaries, formats, traps), no shrinking."""
        out: list[Divergence] = []
        per_round = examples_per_round(scenario)
        for k in range(per_round):
            if time.monotonic() > self.soft_end:
                break
            index = round_no * per_round + k
            case = plan_case(self.suite, scenario, index, self.seed, count=2, plain=True)
            if scenario.drift is not None:  # a length and position drawn at random
                longest, positions = lengths.space(scenario, self.max_length)
                rng = random.Random(derive_seed(self.seed, scenario.id, index, "point"))
                case = drift.at_point(case, rng.randint(0, longest), rng.choice(positions))
            result = self.run(case)
            failures = sorted(self.new_failures(result), key=lambda f: self.rank(f[1]))
            out += [divergence_type(sig)(result, check) for sig, check in failures]
        return out

    def note(self, text: str) -> None:
        self.loop.call_soon_threadsafe(self.emit, Note(text, "warning"))

    def note_once(self, key: str, text: str) -> None:
        if key not in self._told:
            self._told.add(key)
            self.told.append(text)
            self.note(text)

    def confirm(self, exc: Divergence, first: int = 2) -> tuple[int, int]:
        """(failures, runs) of the shrunk case: its own failing run and CONFIRMATIONS replays
        (trials from `first`). Fewer failures than runs make it flaky: saved with that rate,
        never dropped."""
        failures = 1
        # it comes back when the same check fails the same way (fails, or errors): which
        # columns differ may vary when another defect touches the same row, and a failure
        # that returns with other columns is the same failure, not a flaky one
        key = exc.check.key(exc.result.case.scenario)
        for n in range(CONFIRMATIONS):  # later trials: their unique values are fresh
            again = self.run(exc.result.case, trial=first + n)
            failures += key in again.failing_keys()
        return failures, CONFIRMATIONS + 1

    def record(self, exc: Divergence, shrunk: bool) -> None:
        """Save one root cause; every other check the same case broke is covered by it from
        now on, so one minimal case stands for all the ways it diverges."""
        if self.stopping or exc.signature in self.findings.groups:
            return
        shortened = None  # a drift case: shrunk to its shortest failing length, confirmed
        confirmed: tuple[int, int] | None
        if shrunk and exc.result.case.length is not None:
            shortened = lengths.shorten(self, exc)
            exc, confirmed = shortened.exc, shortened.confirmed
        else:
            confirmed = self.confirm(exc) if shrunk else None  # a stop there raises TimeUp
        first = self._first.get(exc.signature)
        tried_at = first[2] if first else self.per_scenario.get(exc.result.case.scenario, 0)
        if shortened is not None and first is not None and first[0].case.length is not None:
            shortened.found_at = first[0].case.length  # where the search first saw it fail
        found = self.findings.add(
            exc.signature, exc.result, exc.check, tried=tried_at, shrunk=shrunk,
            confirmed=confirmed, lengths=shortened.lengths() if shortened else None,
        )  # fmt: skip
        self.log.append(exc.result)
        if found.trials is not None:  # flaky
            self.note(
                f"{exc.result.case.scenario}: {found.requirement} failed in {found.failures} "
                f"of {found.replays} runs of the same case (flaky); saved with that rate, "
                f"replayed {found.trials} times by every run"
            )
        self.loop.call_soon_threadsafe(self.emit, HuntFound(found.model_dump()))

    def hunt(self, scenarios: list[Scenario]) -> None:
        search: Callable[[Scenario, int], list[Divergence]] = (
            self.plain_round if self.plain else self.search_round
        )
        self.exhausted: set[str] = set()
        try:
            while time.monotonic() < self.soft_end:
                active = [s for s in scenarios if s.id not in self.exhausted]
                if not active:
                    self.note("every input the generators can give has run; the hunt ends early")
                    break
                for scenario in active:
                    if time.monotonic() > self.soft_end:
                        break
                    round_no = self.rounds.get(scenario.id, 0)
                    self.rounds[scenario.id] = round_no + 1  # the next hunt goes on from here
                    for exc in search(scenario, round_no):
                        self.record(exc, shrunk=not self.plain)
        except TimeUp:
            if not self.stopping:  # out of time mid-shrink: keep what was seen, unshrunk
                for sig, (result, check, _) in list(self._first.items()):
                    self.record(divergence_type(sig)(result, check), shrunk=False)
        finally:
            if not self.plain:
                self.save_rounds()
