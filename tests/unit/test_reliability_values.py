"""Reliability numbers against values known independently of the code: Wilson intervals
from Newcombe's published table, Fisher's exact test from its textbook example and from an
exact rational computation, and pass@1 / pass^k / flakiness worked out by hand from trials."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from typing import Any

import pytest

from harness.report.reliability import (
    NOT_MEASURED,
    CaseReliability,
    Rate,
    case_pass_hat_k,
    compute,
    fisher_exact,
    interval,
    pass_at_1,
    pass_hat_k,
    percent,
    pooled,
    wilson,
)
from harness.runlog.read import parse_manifest
from tests.helpers import results_frame, trial_rows

# --------------------------------------------------------------------------- Wilson


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857-872, table I, method 3 (Wilson score)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        # the usual worked examples for n = 10 and n = 100
        (0, 10, 0.0, 0.2775),
        (1, 10, 0.0179, 0.4042),
        (5, 10, 0.2366, 0.7634),
        (50, 100, 0.4038, 0.5962),
        (95, 100, 0.8882, 0.9785),
    ],
)
def test_wilson_matches_published_intervals(
    successes: int, n: int, low: float, high: float
) -> None:
    got = wilson(successes, n)
    assert got == pytest.approx((low, high), abs=5e-5)


@pytest.mark.parametrize("n", [1, 2, 7, 30, 101])
def test_wilson_is_symmetric_and_contains_the_rate(n: int) -> None:
    for c in range(n + 1):
        low, high = wilson(c, n)
        mirror_low, mirror_high = wilson(n - c, n)
        assert low == pytest.approx(1 - mirror_high, abs=1e-12)
        assert high == pytest.approx(1 - mirror_low, abs=1e-12)
        assert 0.0 <= low <= c / n <= high <= 1.0


def test_wilson_takes_fractional_successes_and_refuses_no_observations() -> None:
    low, high = wilson(2.5, 5)  # a requirement's pass^k: cases counting estimates in [0, 1]
    assert low + high == pytest.approx(1.0) and low == pytest.approx(0.1704, abs=5e-5)
    with pytest.raises(ValueError, match="at least one observation"):
        wilson(0, 0)


# --------------------------------------------------------------------------- pass@1, pass^k


def test_pass_at_1_is_the_share_of_passing_trials_with_its_wilson_interval() -> None:
    assert pass_at_1(10, 8) == Rate(0.8, *wilson(8, 10))
    assert pass_at_1(0, 0) == NOT_MEASURED and not NOT_MEASURED.measured


def test_case_pass_hat_k_by_hand() -> None:
    # 9 of 10 trials passed: C(9,5)/C(10,5) = 126/252; Wilson(9/10)^5 around it
    low, high = wilson(9, 10)
    assert case_pass_hat_k(10, 9, 5) == Rate(0.5, low**5, high**5)
    # k trials, all passed: the estimate is 1, the interval's top is 1
    assert case_pass_hat_k(5, 5, 5) == Rate(1.0, wilson(5, 5)[0] ** 5, 1.0)
    # fewer than k passes: the estimate is 0, and so is the interval's lower end
    assert case_pass_hat_k(5, 4, 5) == Rate(0.0, 0.0, wilson(4, 5)[1] ** 5)
    # fewer trials than k: not measured at all
    assert case_pass_hat_k(4, 4, 5) == NOT_MEASURED
    assert pass_hat_k(5, 5, 0) is None


def test_pooled_counts_every_trial_for_pass_at_1_and_each_case_once_for_pass_k() -> None:
    counts = [(5, 5), (5, 4), (3, 3), (0, 0)]  # the 3-trial case has no pass^5; 0 trials: none
    at_1, at_k, cases_at_k = pooled(counts, 5)
    assert at_1 == Rate(12 / 13, *wilson(12, 13))
    assert cases_at_k == 2
    assert at_k == Rate(0.5, *wilson(1.0, 2))  # estimates 1 and 0 over two cases
    # with 10 trials a case counts its unbiased estimate, a fraction
    _, at_k, _ = pooled([(10, 9), (10, 10)], 5)
    assert at_k.value == pytest.approx(0.75)
    assert (at_k.low, at_k.high) == pytest.approx(wilson(1.5, 2))
    assert pooled([], 5) == (NOT_MEASURED, NOT_MEASURED, 0)


# --------------------------------------------------------------------------- from stored rows

MANIFEST: dict[str, Any] = {
    "run_id": "r",
    "suite": "s",
    "trials": 4,
    "requirements": [
        {"id": "R-1", "severity": "critical", "title": "one"},
        {"id": "R-2", "severity": "major", "title": "two"},
    ],
}


def test_a_trial_passes_only_if_every_check_passes_and_an_error_outranks_a_fail() -> None:
    rows = [
        *trial_rows("a#1", 1, {"R-1:x": "pass", "R-2:y": "pass"}),
        *trial_rows("a#1", 2, {"R-1:x": "fail", "R-2:y": "pass"}),
        *trial_rows("a#1", 3, {"R-1:x": "fail", "R-2:y": "error"}),
        *trial_rows("a#1", 4, {"R-1:x": "pass", "R-2:y": "error"}),
    ]
    rel = compute(results_frame(rows), parse_manifest(MANIFEST))
    (case,) = rel.cases
    assert case.outcomes == "PFEE" and case.flaky
    per_requirement = {c.requirement: c.outcomes for c in rel.by_requirement}
    assert per_requirement == {"R-1": "PFFP", "R-2": "PPEE"}


def test_a_check_of_several_requirements_counts_for_each() -> None:
    rows = [
        row
        for t in (1, 2, 3, 4)
        for row in trial_rows("b#1", t, {"R-1,R-2:both": "fail" if t == 3 else "pass"})
    ]
    rel = compute(results_frame(rows), parse_manifest(MANIFEST))
    for rid in ("R-1", "R-2"):
        r = rel.requirement(rid)
        assert r is not None
        assert (r.cases, r.trials, r.passes, r.flaky_cases) == (1, 4, 3, ("b#1",))
        assert r.pass_at_1 == Rate(0.75, *wilson(3, 4))
        assert r.pass_hat_k == Rate(0.0, *wilson(0, 1))  # C(3,4)/C(4,4) = 0, one case


def test_trials_are_read_in_trial_order_and_cases_in_natural_order() -> None:
    rows: list[dict[str, Any]] = []
    for case in ("c#13", "c#2", "c#1"):
        for t in (4, 2, 3, 1):  # stored out of order, as a resumed run may append them
            rows += trial_rows(case, t, {"R-1:x": "fail" if t == 1 and case == "c#2" else "pass"})
    rel = compute(results_frame(rows), parse_manifest(MANIFEST))
    assert [(c.case_id, c.outcomes) for c in rel.cases] == [
        ("c#1", "PPPP"),
        ("c#2", "FPPP"),
        ("c#13", "PPPP"),
    ]
    assert [c.case_id for c in rel.flaky] == ["c#2"]
    assert rel.flaky_requirements("c#2") == ["R-1"] and rel.flaky_requirements("c#1") == []


def test_k_may_be_smaller_than_the_trials_run() -> None:
    rows = [
        row
        for t in (1, 2, 3, 4)
        for row in trial_rows("d#1", t, {"R-1:x": "pass" if t != 4 else "fail"})
    ]
    rel = compute(results_frame(rows), parse_manifest(MANIFEST), k=2)
    assert (rel.k, rel.trials) == (2, 4)
    r1 = rel.requirement("R-1")
    assert r1 is not None and r1.pass_hat_k.value == pytest.approx(3 / 6)  # C(3,2)/C(4,2)
    assert rel.all_k("R-1") == (1, 1)  # its first two trials passed


@pytest.mark.parametrize(
    ("outcomes", "flaky"),
    [("PPPP", False), ("FFFF", False), ("EEEE", False), ("PPPF", True), ("EP", True), ("P", False)],
)
def test_a_case_is_flaky_when_it_passed_in_some_trials_only(outcomes: str, flaky: bool) -> None:
    case = CaseReliability("c#1", "c", "scenario", "", outcomes, NOT_MEASURED, NOT_MEASURED)
    assert case.flaky is flaky
    assert (case.trials, case.passes) == (len(outcomes), outcomes.count("P"))


def test_rates_are_shown_as_percentages_or_a_dash() -> None:
    assert percent(None) == "—" and percent(0.98765) == "98.8%" and percent(1.0) == "100.0%"
    assert interval(Rate(0.5, 0.2366, 0.7634)) == "23.7–76.3%"
    assert interval(NOT_MEASURED) == "—" and interval(Rate(0.5)) == "—"


# --------------------------------------------------------------------------- Fisher


def _fisher_reference(a: int, b: int, c: int, d: int) -> float:
    """Two-sided Fisher p-value by its definition, in exact fractions: the probability of
    every table with the same margins that is no more likely than the observed one."""
    r1, r2, c1 = a + b, c + d, a + c
    total = math.comb(r1 + r2, c1)

    def p(x: int) -> Fraction:
        return Fraction(math.comb(r1, x) * math.comb(r2, c1 - x), total)

    observed = p(a)
    tables = range(max(0, c1 - r2), min(c1, r1) + 1)
    return float(sum((p(x) for x in tables if p(x) <= observed), Fraction(0)))


def test_fisher_matches_its_textbook_example() -> None:
    # Wikipedia's "Fisher's exact test" example: 1 of 10 men and 11 of 14 women dieting
    assert fisher_exact(1, 9, 11, 3) == pytest.approx(0.002759, abs=5e-7)


def test_fisher_matches_the_exact_definition_on_every_small_table() -> None:
    for a, b, c, d in itertools.product(range(6), repeat=4):
        assert fisher_exact(a, b, c, d) == pytest.approx(
            min(1.0, _fisher_reference(a, b, c, d)), rel=1e-9, abs=1e-12
        ), (a, b, c, d)


def test_fisher_does_not_care_which_run_or_outcome_comes_first() -> None:
    for a, b, c, d in [(9, 0, 4, 5), (28, 12, 40, 0), (3, 7, 6, 2)]:
        p = fisher_exact(a, b, c, d)
        assert fisher_exact(c, d, a, b) == pytest.approx(p)  # runs swapped
        assert fisher_exact(b, a, d, c) == pytest.approx(p)  # pass and fail swapped
        assert fisher_exact(a, c, b, d) == pytest.approx(p)  # transposed


def test_fisher_without_any_variation_gives_no_evidence() -> None:
    assert fisher_exact(0, 0, 5, 5) == 1.0  # one run had no trials
    assert fisher_exact(10, 0, 10, 0) == 1.0  # nothing failed anywhere
    assert fisher_exact(0, 10, 0, 10) == 1.0  # nothing passed anywhere
