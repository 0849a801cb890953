"""pass@1, pass^k and their intervals: exact values, unbiasedness, and the coverage of the
95% intervals on simulated outcomes with known rates (seeded, so always the same)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from harness.report.reliability import (
    case_pass_hat_k,
    compute,
    pass_hat_k,
    pooled,
    wilson,
)
from harness.report.reliabilityframe import reliability_frame
from harness.runlog.read import parse_manifest
from tests.helpers import results_frame, trial_rows

SIMULATIONS = 1000


def test_pass_hat_k_is_the_tau_bench_estimate() -> None:
    assert pass_hat_k(5, 5, 5) == 1.0
    assert pass_hat_k(5, 4, 5) == 0.0
    assert pass_hat_k(10, 9, 5) == pytest.approx(126 / 252)
    assert pass_hat_k(4, 4, 5) is None  # needs n >= k trials
    assert pass_hat_k(3, 2, 1) == pytest.approx(2 / 3)  # pass^1 is pass@1


@pytest.mark.parametrize(("n", "k", "p"), [(5, 5, 0.9), (10, 5, 0.9), (8, 3, 0.6), (20, 5, 0.97)])
def test_pass_hat_k_is_unbiased(n: int, k: int, p: float) -> None:
    expected = sum(
        math.comb(n, c) * p**c * (1 - p) ** (n - c) * (pass_hat_k(n, c, k) or 0.0)
        for c in range(n + 1)
    )
    assert expected == pytest.approx(p**k, rel=1e-12)


def test_wilson_matches_the_textbook_values() -> None:
    low, high = wilson(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert wilson(10, 10)[1] == 1.0 and wilson(0, 10)[0] == 0.0
    assert wilson(10, 10)[0] == pytest.approx(0.7225, abs=1e-4)  # 10/10 is not proof of 1.0


def _covered(lows: np.ndarray, highs: np.ndarray, truth: float | np.ndarray) -> float:
    return float(np.mean((lows <= truth) & (truth <= highs)))


@pytest.mark.parametrize(("p", "n"), [(0.9, 60), (0.8, 50), (0.95, 40), (0.7, 200)])
def test_wilson_interval_for_pass_at_1_covers_the_true_rate_95_percent_of_the_time(
    p: float, n: int
) -> None:
    rng = np.random.default_rng(20261126)
    passes = rng.binomial(n, p, size=SIMULATIONS)
    bounds = np.array([wilson(int(c), n) for c in passes])
    coverage = _covered(bounds[:, 0], bounds[:, 1], p)
    assert 0.93 <= coverage <= 0.97, coverage


def _simulated_cases(
    rng: np.random.Generator, rates: np.ndarray, trials: int
) -> list[list[tuple[int, int]]]:
    """Per simulation, each case's (trials, passes) for cases with the given true rates."""
    passes = rng.binomial(trials, rates, size=(SIMULATIONS, len(rates)))
    return [[(trials, int(c)) for c in row] for row in passes]


@pytest.mark.parametrize(
    ("cases", "mixture"),
    [(30, (0.6, 1.0, 0.85)), (40, (1.0, 0.9, 0.9))],  # share of cases at rate a, else rate b
)
def test_requirement_pass_hat_k_interval_covers_95_percent_with_k_trials(
    cases: int, mixture: tuple[float, float, float]
) -> None:
    """Cases drawn from one population (as generated cases are); the target is the
    population's pass^k, E[p^k]; n = k trials per case: the interval is nominal."""
    share, a, b = mixture
    k = 5
    truth = share * a**k + (1 - share) * b**k
    rng = np.random.default_rng(7)
    rates = np.where(rng.random((SIMULATIONS, cases)) < share, a, b)
    passes = rng.binomial(k, rates)
    lows, highs = [], []
    for row in passes:
        _, at_k, _ = pooled(((k, int(c)) for c in row), k)
        assert at_k.low is not None and at_k.high is not None
        lows.append(at_k.low)
        highs.append(at_k.high)
    coverage = _covered(np.array(lows), np.array(highs), truth)
    assert 0.93 <= coverage <= 0.97, coverage


def test_requirement_pass_hat_k_interval_is_conservative_with_more_trials_than_k() -> None:
    rng = np.random.default_rng(11)
    k, rate = 5, 0.9
    bounds = [pooled(row, k)[1] for row in _simulated_cases(rng, np.full(30, rate), 10)]
    coverage = _covered(
        np.array([b.low for b in bounds]), np.array([b.high for b in bounds]), rate**k
    )
    assert coverage >= 0.95, coverage


@pytest.mark.parametrize(("p", "n"), [(0.9, 60), (0.95, 40)])
def test_case_pass_hat_k_interval_covers_p_to_the_k_as_often_as_wilson_covers_p(
    p: float, n: int
) -> None:
    k = 5
    rng = np.random.default_rng(3)
    rates = [case_pass_hat_k(n, int(c), k) for c in rng.binomial(n, p, size=SIMULATIONS)]
    coverage = _covered(np.array([r.low for r in rates]), np.array([r.high for r in rates]), p**k)
    assert 0.93 <= coverage <= 0.97, coverage
    assert all(r.low is not None and r.low <= (r.value or 0) <= (r.high or 1) for r in rates)


# ------------------------------------------------------------------ from a results frame


MANIFEST = {
    "run_id": "r",
    "suite": "s",
    "trials": 5,
    "requirements": [
        {"id": "R-001", "severity": "critical", "title": "one"},
        {"id": "R-002", "severity": "minor", "title": "two"},
        {"id": "R-003", "severity": "major", "title": "never checked"},
    ],
}


def test_flaky_cases_errors_and_the_invariant_sweep_from_storedtrial_rows() -> None:
    rows: list[Any] = []
    for t in range(1, 6):
        rows += trial_rows("steady#1", t, {"R-001:a": "pass", "R-002:b": "pass"})
        # R-002 errors in trial 4: an error is never a pass, so the case is flaky
        rows += trial_rows(
            "shaky#1", t, {"R-001:a": "pass", "R-002:b": "error" if t == 4 else "pass"}
        )
        rows += trial_rows("broken#1", t, {"R-001:a": "fail", "R-002:b": "pass"})
    rows += trial_rows("(run)", 1, {"R-001:inv": "fail"}, origin="invariant-sweep")
    frame = results_frame(rows)
    rel = compute(frame, parse_manifest(MANIFEST))
    assert rel.k == 5 and rel.trials == 5
    assert [(c.case_id, c.outcomes) for c in rel.flaky] == [("shaky#1", "PPPEP")]
    assert rel.flaky_requirements("shaky#1") == ["R-002"]
    r1 = rel.requirement("R-001")
    assert r1 is not None and (r1.cases, r1.trials, r1.passes) == (3, 15, 10)  # sweep left out
    assert r1.pass_at_1.value == pytest.approx(10 / 15)
    assert r1.pass_hat_k.value == pytest.approx(2 / 3) and r1.flaky_cases == ()
    r2 = rel.requirement("R-002")
    assert r2 is not None and r2.pass_at_1.value == pytest.approx(14 / 15)
    assert r2.pass_hat_k.value == pytest.approx(2 / 3) and r2.flaky_cases == ("shaky#1",)
    r3 = rel.requirement("R-003")
    assert r3 is not None and not r3.pass_at_1.measured and not r3.pass_hat_k.measured
    # fewer trials than k: pass^k is not measured, pass@1 still is
    short = compute(frame[frame["trial"] <= 3], parse_manifest(MANIFEST))
    r1_short = short.requirement("R-001")
    assert r1_short is not None and r1_short.pass_at_1.measured
    assert not r1_short.pass_hat_k.measured and r1_short.cases_at_k == 0
    table = reliability_frame(rel, parse_manifest(MANIFEST))
    assert set(table["scope"]) == {"requirement", "case", "case-requirement"}
    shaky = table[(table["scope"] == "case") & (table["case_id"] == "shaky#1")].iloc[0]
    assert (shaky["outcomes"], shaky["flaky"], shaky["trials"]) == ("PPPEP", 1, 5)


def test_replayed_known_regressions_are_not_counted_and_the_report_says_so() -> None:
    rows: list[Any] = []
    for t in range(1, 6):
        rows += trial_rows("steady#1", t, {"R-001:a": "pass"})
        # a known regression still failing: judged by the regressions gate, never here
        rows += trial_rows("regression:r-001-x", t, {"R-001:a": "fail"}, origin="regression")
    frame = results_frame(rows)
    rel = compute(frame, parse_manifest(MANIFEST))
    r1 = rel.requirement("R-001")
    assert r1 is not None and (r1.cases, r1.trials, r1.passes) == (1, 5, 5)
    assert r1.pass_at_1.value == 1.0 and r1.pass_hat_k.value == 1.0
    assert [c.case_id for c in rel.cases] == ["steady#1"]
    assert rel.regressions_left_out == 1
    assert "own 1 case(s)" in rel.counted and "1 replayed known regression case(s)" in rel.counted
    # the same numbers as the run's report, which leaves them out before computing
    own = compute(frame[frame["origin"] != "regression"], parse_manifest(MANIFEST))
    assert own.requirement("R-001") == r1


def test_all_k_counts_whole_cases_by_their_first_k_trials() -> None:
    rows: list[Any] = []
    for t in range(1, 8):
        rows += trial_rows("a#1", t, {"R-001:a": "pass"})
        rows += trial_rows("b#1", t, {"R-001:a": "fail" if t == 6 else "pass"})  # after the first 5
        rows += trial_rows("c#1", t, {"R-001:a": "fail" if t == 2 else "pass"})
    for t in range(1, 4):
        rows += trial_rows("d#1", t, {"R-001:a": "pass"})  # fewer than k trials: not counted
    rel = compute(results_frame(rows), parse_manifest(MANIFEST), k=5)
    assert rel.all_k("R-001") == (3, 2)
    assert rel.all_k("R-003") == (0, 0)


def test_the_markdown_writes_the_estimate_the_same_way_everywhere_and_says_what_counts() -> None:
    from harness.report.markdown import reliability_section

    rows: list[Any] = []
    for t in range(1, 6):
        rows += trial_rows("steady#1", t, {"R-001:a": "pass"})
        rows += trial_rows("regression:q", t, {"R-001:a": "pass"}, origin="regression")
    rel = compute(results_frame(rows), parse_manifest(MANIFEST))
    text = "\n".join(reliability_section(rel))
    assert "`C(c,5)/C(n,5)`" in text and "`C(c,k)/C(n,k)`" in text
    assert "C\\(" not in text and "C(c,5)/C(n,5) " not in text.replace("`C(c,5)/C(n,5)`", "")
    assert "its lower end is 0" in text
    assert "Counted: the run's own 1 case(s); the 1 replayed known regression case(s)" in text
