"""The drift report's numbers, from drift run folders written by the run log's writer and read
back by its reader: the curve, the first degraded length (one-sided Fisher, Holm-corrected:
a noisy agent is not called degraded one run in five, a real step is found), the first
failing turn per case, positions, tokens, pass^k, and how far each requirement holds."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.report.drift import summarize_drift
from harness.report.driftframe import drift_frame, held
from harness.report.driftstats import degradation, degradation_by, fisher_less, holm
from harness.report.reliability import fisher_exact
from harness.runlog.read import open_run
from tests.driftruns import drift_run, step

LENGTHS = [0, 2, 4, 8, 16, 32]


def summary(folder: Path):  # type: ignore[no-untyped-def]
    result = summarize_drift(open_run(folder))
    assert result is not None
    return result


# ------------------------------------------------------------------ statistics


def test_one_sided_fisher_matches_r_and_holm_matches_its_definition() -> None:
    # R: fisher.test(matrix(c(3, 3, 6, 0), 2), alternative = "less")$p.value
    assert fisher_less(3, 6, 6, 6) == pytest.approx(0.0909090909)
    assert fisher_less(0, 6, 6, 6) == pytest.approx(1 / 924)
    assert fisher_less(6, 6, 0, 6) == pytest.approx(1.0)  # better than the baseline: no evidence
    assert fisher_less(0, 0, 6, 6) == 1.0
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.001]) == pytest.approx([0.5, 0.002])  # step-down stays monotone


@given(
    st.integers(0, 12), st.integers(0, 12), st.integers(0, 12), st.integers(0, 12)
)  # fmt: skip
def test_the_one_sided_p_is_at_most_the_two_sided_when_lower_and_sums_to_one_with_greater(
    a: int, b: int, c: int, d: int
) -> None:
    """P(X <= a) + P(X >= a) = 1 + P(X = a); when the first rate is lower, the one-sided p
    is at most the two-sided one (Fisher's two-sided p adds the other tail)."""
    n1, n2 = a + b, c + d
    less = fisher_less(a, n1, c, n2)
    greater = fisher_less(b, n1, d, n2)  # the non-passes' "less" is the passes' "greater"
    assert 0.0 <= less <= 1.0 + 1e-12
    if n1 and n2 and 0 < a + c < n1 + n2:

        def point(x: int) -> float:
            k, n = a + c, n1 + n2
            return math.comb(n1, x) * math.comb(n2, k - x) / math.comb(n, k)

        assert less + greater == pytest.approx(1 + point(a))
        if a * n2 < c * n1:
            assert less <= fisher_exact(a, b, c, d) + 1e-9


def test_a_correct_but_noisy_agent_is_rarely_called_degraded() -> None:
    """An agent at the same pass rate at every length (seeded simulation of many runs): the
    first degraded length is found in under 5% of the runs, where testing each length on its
    own (no correction) would call it degraded far more often."""
    rng = random.Random(13)
    for rate, cases, runs in ((0.9, 6, 1500), (0.9, 20, 1500), (0.5, 40, 1500)):
        corrected = uncorrected = 0
        for _ in range(runs):
            counts = [(n, cases, sum(rng.random() < rate for _ in range(cases))) for n in LENGTHS]
            raw, _, first = degradation(counts)
            corrected += first is not None
            uncorrected += any(p is not None and p < 0.05 for p in raw)
        assert corrected / runs < 0.05, (rate, cases, corrected / runs)
        if rate == 0.5:
            assert uncorrected / runs > 0.08  # what the correction is for
            assert corrected < uncorrected


def test_one_scenario_breaking_is_not_diluted_by_others_judging_the_same_requirement() -> None:
    """A requirement three scenarios judge; one breaks from length 8 (6/6 -> 0/6), two never
    can: each scenario is tested against its own baseline, Holm across all 15 tests, so the
    break is found (pooled, 12/18 against 18/18, it would be borderline)."""
    steady = [(n, 6, 6) for n in LENGTHS]
    broken = [(n, 6, 6 if n < 8 else 0) for n in LENGTHS]
    raw, corrected, first, underpowered = degradation_by({"a": steady, "b": broken, "c": steady})
    assert not underpowered
    assert first == 8
    assert raw[8] == pytest.approx(1 / 924)
    assert corrected[8] == pytest.approx(15 / 924)
    assert corrected[4] == 1.0
    # and noise in several scenarios is still rarely called degraded
    rng = random.Random(7)
    runs, called = 1000, 0
    for _ in range(runs):
        series = {
            s: [(n, 6, sum(rng.random() < 0.9 for _ in range(6))) for n in LENGTHS] for s in "abc"
        }
        called += degradation_by(series)[2] is not None
    assert called / runs < 0.05


def test_too_few_cases_to_tell_a_drop_from_noise_is_said_and_never_called_holding(
    tmp_path: Path,
) -> None:
    """Four cases a length over five tested lengths: even 4/4 -> 0/4 gives a corrected p of
    5/70 > 0.05, so no degradation can be shown; the report says so and how many cases would
    do, and the requirement holds only as far as nothing drops (a reviewer's agent failing
    every case from n=4 was called 'holds up to n=16')."""
    s = summary(drift_run(tmp_path, {"R-1": step(LENGTHS, 4, cases=4)}))
    (c,) = s.curves
    assert c.first_degraded is None and c.underpowered and c.undetermined
    assert c.dropped == 4 and c.holds_to == 2 and c.needed == 5
    assert "drops at n=4 (0.0% vs 100.0% at n=0), too few cases" in c.verdict
    assert "--repeat 5" in c.verdict
    assert s.undetermined == [c] and "too few cases to tell from noise: R-1 at n=4" in s.headline
    assert held(s)["R-1"].holds_to == 2
    # enough cases, and nothing drops: no such warning
    flat = summary(drift_run(tmp_path / "flat", {"R-1": step(LENGTHS, 99, cases=4)}))
    assert not flat.undetermined and flat.curves[0].holds_to == 32


def test_trials_of_a_deterministic_case_add_no_evidence(tmp_path: Path) -> None:
    """The unit of the test is the case (passing a length when all its trials there pass):
    the same 4 cases played twice each do not turn noise-level evidence into a degradation."""
    once = summary(drift_run(tmp_path / "1", {"R-1": step(LENGTHS, 4, cases=4)}))
    table = {point: [mark * 2 for mark in marks] for point, marks in step(LENGTHS, 4, 4).items()}
    twice = summary(drift_run(tmp_path / "2", {"R-1": table}, trials=2))
    assert once.curves[0].first_degraded is None and twice.curves[0].first_degraded is None
    assert twice.curves[0].points[2].p == once.curves[0].points[2].p == pytest.approx(1 / 70)


def test_an_all_pass_to_all_fail_step_at_8_is_found_at_8(tmp_path: Path) -> None:
    s = summary(drift_run(tmp_path, {"R-1": step(LENGTHS, 8)}))
    (c,) = s.curves
    assert c.first_degraded == 8 and s.degraded == [c]
    assert [p.length for p in c.points] == LENGTHS
    assert [p.degraded for p in c.points] == [False, False, False, True, True, True]
    assert c.points[3].p == pytest.approx(1 / 924)
    assert c.points[3].p_holm == pytest.approx(5 / 924)  # five lengths tested against n=0
    assert c.points[0].p is None  # the baseline is not tested against itself
    assert c.holds_to == 4 and c.verdict == "holds up to n=4, degraded from n=8"
    assert c.points[3].rate.value == 0.0 and c.points[3].rate.high == pytest.approx(0.390, abs=1e-3)
    assert "R-1 from n=8" in s.headline
    assert s.conversations == 36 and s.turns == sum(6 * (n + 2) for n in LENGTHS)


def test_one_failing_case_at_a_length_is_noise_not_degradation(tmp_path: Path) -> None:
    table = step(LENGTHS, 99)
    table[(16, "start")] = ["P", "P", "F", "P", "P", "P"]
    s = summary(drift_run(tmp_path, {"R-1": table}))
    (c,) = s.curves
    assert c.first_degraded is None and c.holds_to == 32 and not s.degraded
    assert c.at(16) is not None and c.at(16).passes == 5  # type: ignore[union-attr]


def test_an_error_is_never_a_pass_and_a_requirement_failing_at_n0_is_no_drift(
    tmp_path: Path,
) -> None:
    table = step(LENGTHS, 99)
    table[(0, "start")] = ["P", "P", "P", "P", "P", "E"]
    table[(8, "start")] = ["E", "E", "E", "E", "E", "E"]
    s = summary(drift_run(tmp_path, {"R-1": table, "R-2": step(LENGTHS, 99)}))
    one, two = s.curves
    base = one.baseline
    assert base is not None and (base.trials, base.passes, base.errors) == (6, 5, 1)
    assert one.fails_at_baseline and one.holds_to is None
    assert one.verdict.startswith("fails at the shortest length n=0 (83.3%)")
    assert one.first_degraded == 8  # errors are no passes: worse than the baseline
    assert one.at(8).errors == 6 and one.at(8).rate.value == 0.0  # type: ignore[union-attr]
    assert not two.fails_at_baseline and two.holds_to == 32
    assert [c.requirement for c in s.failing] == ["R-1"]


def test_the_first_failing_turn_is_named_per_case_with_its_check_and_a_capped_message(
    tmp_path: Path,
) -> None:
    hostile = "<script>x</script>|`" + "y" * 5000
    s = summary(drift_run(tmp_path, {"R-1": step([0, 4, 16], 4, cases=2)}, message=hostile))
    (c,) = s.curves
    firsts = c.first_failures
    assert [(f.case_id, f.turn, f.source) for f in firsts] == [
        ("remember-card#1@4", 6, "probe"),
        ("remember-card#1@16", 18, "probe"),
        ("remember-card#2@4", 6, "probe"),
        ("remember-card#2@16", 18, "probe"),
    ]
    f = next(f for f in firsts if f.case_id == "remember-card#1@16")
    assert (f.turn, f.source, f.check_id, f.verdict) == (18, "probe", "remember-card#R-1", "fail")
    assert f.message.startswith("<script>") and len(f.message) < 400  # escaped by renderers
    assert "more characters" in f.message and (f.failed, f.trials) == (1, 1)


def test_positions_at_the_position_length_and_their_fisher_test(tmp_path: Path) -> None:
    table = step(LENGTHS, 99)
    table[(32, "middle")] = ["F"] * 6
    table[(32, "end")] = ["P", "P", "P", "F", "P", "P"]
    s = summary(drift_run(tmp_path, {"R-1": table}))
    (c,) = s.curves
    assert [(p.position, p.length, p.passes, p.trials) for p in c.positions] == [
        ("start", 32, 6, 6),
        ("middle", 32, 0, 6),
        ("end", 32, 5, 6),
    ]
    assert c.position_lengths == [32]
    assert c.position_p == pytest.approx(fisher_exact(6, 0, 0, 6))  # best vs worst, two-sided
    assert c.first_degraded is None  # the curve is at position start only


def test_tokens_per_length_are_the_probe_turns_prompt_and_absent_without_usage(
    tmp_path: Path,
) -> None:
    with_usage = summary(drift_run(tmp_path / "a", {"R-1": step(LENGTHS, 99)}, usage=True))
    # the probe is turn length + 2, its prompt 100 tokens a turn in this fake
    assert with_usage.tokens == {n: 100.0 * (n + 2) for n in LENGTHS}
    assert [p.tokens for p in with_usage.curves[0].points] == [100.0 * (n + 2) for n in LENGTHS]
    without = summary(drift_run(tmp_path / "b", {"R-1": step(LENGTHS, 99)}))
    assert without.tokens == {} and all(p.tokens is None for p in without.curves[0].points)


def test_pass_k_counts_a_case_only_when_all_its_trials_pass(tmp_path: Path) -> None:
    table = {(0, "start"): ["PPP", "PPP", "PPP"], (8, "start"): ["PPF", "PPP", "FFF"]}
    s = summary(drift_run(tmp_path, {"R-1": table}, trials=3))
    (c,) = s.curves
    at8 = c.at(8)
    assert at8 is not None and (at8.trials, at8.passes, at8.cases) == (9, 5, 3)
    assert at8.pass_k.value == pytest.approx(1 / 3) and c.points[0].pass_k.value == 1.0
    assert at8.rate.value == pytest.approx(5 / 9)
    firsts = {f.case_id: (f.failed, f.trials) for f in c.first_failures}
    assert firsts == {"remember-card#1@8": (1, 3), "remember-card#3@8": (3, 3)}


def test_held_and_drift_parquet_rows(tmp_path: Path) -> None:
    table = step(LENGTHS, 16)
    table[(32, "middle")] = ["F"] * 6
    s = summary(drift_run(tmp_path, {"R-1": table, "R-2": step(LENGTHS, 99)}))
    h = held(s)
    assert (h["R-1"].holds_to, h["R-1"].first_degraded) == (8, 16)
    assert (h["R-2"].holds_to, h["R-2"].first_degraded) == (32, None)
    assert h["R-1"].lengths == tuple(LENGTHS)
    frame = drift_frame(s)
    assert len(frame) == 2 * len(LENGTHS) + 1  # R-1 also at position middle
    r1 = frame[frame["requirement"] == "R-1"].set_index(["length", "position"])
    assert bool(r1.loc[(16, "start"), "degraded"]) and not bool(r1.loc[(8, "start"), "degraded"])
    assert r1.loc[(32, "middle"), "n"] == 6 and r1.loc[(32, "middle"), "passes"] == 0
    assert r1.loc[(0, "start"), "baseline"] and r1.loc[(0, "start"), "first_degraded"] == 16
    # two lengths tested of five at p = 1/924: Holm's step-down gives both 5p (monotone)
    assert r1.loc[(16, "start"), "p_holm"] == pytest.approx(r1.loc[(16, "start"), "p"] * 5)
    assert r1.loc[(0, "start"), "holds_to"] == 8 and not r1.loc[(0, "start"), "undetermined"]
    # the position test's p on the positions' rows (start and middle at 32), not the curve's
    assert r1.loc[(32, "middle"), "position_p"] == pytest.approx(1.0)
    assert pd.isna(r1.loc[(8, "start"), "position_p"])


def test_a_plain_run_has_no_drift_numbers(tmp_path: Path) -> None:
    from harness.runlog.models import RunManifest
    from harness.runlog.store import RunLog

    log = RunLog.create(tmp_path, RunManifest(suite="s"))
    log.close()
    assert summarize_drift(open_run(log.dir)) is None
