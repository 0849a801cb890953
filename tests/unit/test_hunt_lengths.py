"""A hunt shrinks a drift failure to the shortest length that still fails (modes/lengths.py):
the bisection finds the exact threshold of a failure that holds from some length on, off the
scenario's grid too, probing each length once and never beyond the failing one; a probe
passes only after the replays the hunt's confirmation rule asks for. A regression file keeps
the drift point a case was saved at and a replayed case plays there; old files without it
play at the shortest length; a point on a scenario that has none is named, and a drift case
id is replayed at any length."""

from __future__ import annotations

import itertools
import math
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from harness.core import Case, CaseResult, CheckResult, Observation, Verdict
from harness.modes import lengths
from harness.modes.hunter import CONFIRMATIONS, Divergence, Hunter, divergence_type
from harness.run import regressions
from harness.run.plan import find_case
from harness.spec.models.drift import MAX_LENGTH
from harness.spec.suite import Suite, load_suite
from tests.helpers import ROOT
from tests.unit.test_regression_roundtrip import result_of

SEATS = ROOT / "tests" / "suites" / "seats"


def bisect_with(threshold: int, failing: int, floor: int = 0) -> tuple[int, int | None, list[int]]:
    """Bisect a failure that shows from `threshold` on; what it returns and what it probed."""
    probed: list[int] = []

    def fails(n: int) -> bool:
        probed.append(n)
        return n >= threshold

    length, passing = lengths.bisect(fails, failing, floor)
    return length, passing, probed


@pytest.mark.parametrize("failing", [0, 1, 2, 7, 8, 9, 32])
def test_bisection_finds_every_threshold_exactly(failing: int) -> None:
    for threshold in range(failing + 1):
        length, passing, probed = bisect_with(threshold, failing)
        assert length == threshold
        assert passing == (None if threshold == 0 else threshold - 1)
        assert len(probed) == len(set(probed)), probed  # no length probed twice
        assert all(0 <= n < failing for n in probed), probed  # the failing one is known
        bound = 0 if failing == 0 else math.ceil(math.log2(failing)) + 1
        assert len(probed) <= bound, (threshold, probed)


@given(st.integers(0, 400).flatmap(lambda f: st.tuples(st.just(f), st.integers(0, f))))
def test_bisection_finds_the_threshold_in_any_range(pair: tuple[int, int]) -> None:
    failing, threshold = pair
    length, passing, _ = bisect_with(threshold, failing)
    assert (length, passing) == (threshold, None if threshold == 0 else threshold - 1)


def test_bisection_starts_at_the_floor_and_tries_it_first() -> None:
    length, passing, probed = bisect_with(13, 32, floor=4)
    assert (length, passing) == (13, 12) and probed[0] == 4
    assert bisect_with(2, 32, floor=4)[:2] == (4, None)  # fails at the floor already


def test_a_probe_fails_at_the_first_failing_run_and_passes_only_after_all() -> None:
    runs: list[bool] = []

    def once_from(outcomes: list[bool]) -> bool:
        runs.append(outcomes[len(runs)])
        return runs[-1]

    assert lengths.probe(lambda: once_from([False, True, False]), 3) is True
    assert len(runs) == 2  # stopped at the failure
    runs.clear()
    assert lengths.probe(lambda: once_from([False, False, True]), 2) is False
    assert len(runs) == 2  # as many runs as asked, no more


def test_a_probe_is_replayed_as_the_hunts_confirmation_rule_asks() -> None:
    assert lengths.passes_needed(6, 6) == lengths.MIN_PASSES  # steady: one replay of a pass
    assert lengths.passes_needed(3, 6) == regressions.flaky_trials(3, 6) > lengths.MIN_PASSES
    assert lengths.passes_needed(1, 6) == regressions.MAX_FLAKY_TRIALS


@pytest.fixture
def seats(tmp_path: Path) -> Path:
    root = tmp_path / "seats"
    shutil.copytree(SEATS, root, ignore=shutil.ignore_patterns("regressions", ".hypothesis"))
    return root


def test_the_search_space_is_the_scenarios_longest_length_unless_given(seats: Path) -> None:
    scenario = load_suite(seats).scenario("seat-remembered")
    assert lengths.space(scenario, None) == (32, ["start", "middle"])
    assert lengths.space(scenario, 48)[0] == 48
    file = seats / "scenarios" / "seats.yaml"
    file.write_text(file.read_text().replace("remember: true", "remember: false"))
    assert lengths.space(load_suite(seats).scenario("seat-remembered"), None)[1] == ["start"]


def save_at(suite: Suite, cid: str) -> Path:
    case = find_case(suite, 4, cid)
    result, _ = result_of(case)
    check = CheckResult(
        check_id="seat-as-asked",
        check_type="sql",
        category="state",
        requirements=("SE-001",),
        verdict=Verdict.FAIL,
        message="no row",
    )
    result.checks = [check]
    found = {"found_at_length": 29, "longest_passing_length": 12}
    return regressions.save(suite, result, check, run_id="r", tried=3, shrunk=True, lengths=found)


def test_a_regression_file_keeps_the_drift_point_and_replays_there(seats: Path) -> None:
    path = save_at(load_suite(seats), "seat-remembered#2@13-middle")  # 13: on no grid
    saved = yaml.safe_load(path.read_text())
    assert (saved["length"], saved["position"]) == (13, "middle")
    assert saved["found"]["found_at_length"] == 29
    assert saved["found"]["longest_passing_length"] == 12
    assert "length 13, position middle (found at length 29; it passed at length 12)" in (
        path.read_text()
    )
    (case,) = regressions.known(load_suite(seats)).cases
    assert (case.length, case.position) == (13, "middle")
    assert case.id == regressions.PREFIX + path.stem  # still known by its file

    # a file saved before drift points (or by hand) plays at the shortest length, at start
    text = path.read_text().replace("length: 13\n", "").replace("position: middle\n", "")
    path.write_text(text)
    (case,) = regressions.known(load_suite(seats)).cases
    assert (case.length, case.position) == (0, "start")


def test_a_drift_point_on_a_scenario_without_drift_is_named(seats: Path) -> None:
    path = save_at(load_suite(seats), "seat-remembered#1@9")
    scenarios = seats / "scenarios" / "seats.yaml"
    text = scenarios.read_text()
    cut = text.index("    drift:")
    end = text.index("    checks:")
    body = text[:cut] + text[end:]
    scenarios.write_text(
        body.replace("        remember: true\n", "").replace("        probe: true\n", "")
    )
    suite = load_suite(seats)
    assert not suite.regressions
    (problem,) = suite.broken_regressions
    assert problem.path.endswith(path.name) and "length" in str(problem)
    assert "is not a drift scenario" in str(problem)


def test_a_drift_case_is_replayed_at_any_point_its_id_names(seats: Path) -> None:
    suite = load_suite(seats)
    case = find_case(suite, 4, "seat-remembered#2@9")
    assert (case.id, case.length, case.position) == ("seat-remembered#2@9", 9, "start")
    same = find_case(suite, 4, "seat-remembered#2")
    assert (same.vars, same.seed) == (case.vars, case.seed)  # the same inputs at every point
    assert same.length == 0
    with pytest.raises(KeyError, match="at most 400"):
        find_case(suite, 4, "seat-remembered#2@401")
    scenarios = seats / "scenarios" / "seats.yaml"
    scenarios.write_text(scenarios.read_text().replace("        remember: true\n", ""))
    with pytest.raises(KeyError, match=r"no remembered turns to move.*\(seat-remembered#2@9\)"):
        find_case(load_suite(seats), 4, "seat-remembered#2@9-middle")


def test_the_command_line_bound_of_max_length_is_the_suite_formats() -> None:
    from harness.cli.search import hunt

    option = next(p for p in hunt.params if p.name == "max_length")
    assert option.type.max == MAX_LENGTH  # type: ignore[attr-defined]


class FakeHunter:
    """The hunter's two calls a shrink makes, over an agent that fails the seat check from
    `threshold` filler turns on, on the runs `pattern` says (cycled): a flaky agent."""

    def __init__(self, threshold: int, pattern: list[bool]) -> None:
        self.threshold = threshold
        self.pattern = itertools.cycle(pattern)
        self.runs: list[tuple[int, int, bool]] = []  # (length, trial, failed) of every run

    def run(self, case: Case, key: str | None = None, trial: int = 1) -> CaseResult:
        assert case.length is not None
        failed = case.length >= self.threshold and next(self.pattern)
        self.runs.append((case.length, trial, failed))
        return seat_result(case, Verdict.FAIL if failed else Verdict.PASS)

    confirm = Hunter.confirm


def seat_result(case: Case, verdict: Verdict) -> CaseResult:
    failed = verdict is not Verdict.PASS
    check = CheckResult(
        check_id="seat-as-asked",
        check_type="sql",
        category="state",
        requirements=("SE-001",),
        verdict=verdict,
        message="no row" if failed else "",
        expected=[{"seat_kind": "aisle"}],
        found=[{"seat_kind": "middle"}] if failed else None,
    )
    return CaseResult(case=case, trial=1, observation=Observation(session_id="h"), checks=[check])


def found_at(seats: Path, length: int) -> Divergence:
    case = find_case(load_suite(seats), 4, f"seat-remembered#1@{length}")
    result = seat_result(case, Verdict.FAIL)
    return divergence_type(str(result.shape(result.checks[0])))(result, result.checks[0])


@pytest.mark.parametrize("pattern", [[True], [True, False], [False, True, True]])
def test_a_shrink_bisects_the_same_case_and_confirms_each_probe(
    seats: Path, pattern: list[bool]
) -> None:
    hunter = FakeHunter(9, pattern)
    exc = found_at(seats, 29)
    shortened = lengths.shorten(hunter, exc)  # type: ignore[arg-type]
    case = shortened.exc.result.case
    assert (case.id, case.length, case.position) == ("seat-remembered#1@9", 9, "start")
    assert shortened.passing_length == 8
    assert (case.vars, case.seed) == (exc.result.case.vars, exc.result.case.seed)
    runs = hunter.runs
    # confirmed at the length it was found at, then the probes, then confirmed at 9
    assert [n for n, _, _ in runs[:CONFIRMATIONS]] == [29] * CONFIRMATIONS
    assert [n for n, _, _ in runs[-CONFIRMATIONS:]] == [9] * CONFIRMATIONS
    seen = 1 + sum(failed for _, _, failed in runs[:CONFIRMATIONS])
    passes = lengths.passes_needed(seen, CONFIRMATIONS + 1)
    assert (passes > lengths.MIN_PASSES) is (seen < CONFIRMATIONS + 1)  # flaky: more replays
    probes = runs[CONFIRMATIONS:-CONFIRMATIONS]
    for n in {n for n, _, _ in probes if n < 9}:  # a length passes only after every replay
        assert [f for m, _, f in probes if m == n] == [False] * passes, (n, probes)
    for n in {n for n, _, _ in probes if n >= 9}:  # and fails at its first failing run
        outcomes = [f for m, _, f in probes if m == n]
        assert outcomes[-1] and not any(outcomes[:-1]), (n, probes)
    final = 1 + sum(failed for _, _, failed in runs[-CONFIRMATIONS:])
    assert shortened.confirmed == (final, CONFIRMATIONS + 1)
    trials = [t for _, t, _ in runs]
    assert len(set(trials)) == len(trials)  # every run a later trial: unique values fresh
