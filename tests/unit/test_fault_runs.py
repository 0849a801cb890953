"""Faulted runs in `harness compare` and `harness trend`, over run folders written by the run
log's own writer: R_fault before and after, HEAD red when a requirement now degrades beyond
noise under the same profile, other profiles side by side and never called worse; the trend
lists each faulted run's R_fault apart from its charts."""

from __future__ import annotations

from pathlib import Path

from harness.report.compare import compare_runs
from harness.report.compare_render import render_comparison
from harness.report.faultruns import compare_faults
from harness.report.trend import Apart, build_trend, render_trend
from harness.runlog.read import open_run
from tests.faultruns import fault_run

BROKEN = (["PP"] * 6, ["FF"] * 5 + ["PP"])
HELD = (["PP"] * 6, ["PP"] * 6)


def test_a_requirement_that_now_degrades_under_faults_turns_compare_red(tmp_path: Path) -> None:
    base = open_run(fault_run(tmp_path, {"R-1": HELD, "R-2": HELD}))
    head = open_run(fault_run(tmp_path, {"R-1": BROKEN, "R-2": HELD}))
    result = compare_runs(base, head)
    assert result.faults is not None
    assert [c.requirement for c in result.faults.worse] == ["R-1"]
    assert "degrades under faults beyond noise: R-1" in result.red
    text = render_comparison(result)
    assert "## Faults: R_fault per requirement (reset -> reset)" in text
    assert "| ▼ R-1 | critical | 1.00 [" in text and "-> 0.17 [0.05, 0.47]" in text
    back = compare_runs(head, base)
    assert back.faults is not None and [c.requirement for c in back.faults.worse] == []
    assert [c.direction for c in back.faults.changes] == ["better", "same"]


def test_other_profiles_are_shown_side_by_side_and_never_called_worse(tmp_path: Path) -> None:
    base = open_run(fault_run(tmp_path, {"R-1": HELD}, profile="reset"))
    head = open_run(fault_run(tmp_path, {"R-1": BROKEN}, profile="timeout"))
    d = compare_faults(base, head)
    assert d is not None and not d.worse
    assert "other fault profiles (reset vs timeout)" in d.notes[0]
    plain = open_run(fault_run(tmp_path, {"R-1": (["P"], [])}, windows=[], record_profile=False))
    assert compare_faults(plain, plain) is None
    one = compare_faults(plain, head)
    assert one is not None and "ran no fault profile" in one.notes[0] and not one.worse


def test_the_trend_lists_each_faulted_runs_r_fault_apart(tmp_path: Path) -> None:
    fault_run(tmp_path, {"R-1": HELD}, started_at="2026-12-01T10:00:00+00:00")
    fault_run(tmp_path, {"R-1": BROKEN}, started_at="2026-12-02T10:00:00+00:00")
    trend = build_trend(tmp_path, "s", 30, k=2)
    assert len(trend.faults) == 2 and len(trend.runs) == 2
    # the charts count the clean phase only: every clean trial passed in both runs
    (series,) = trend.series
    assert [p.pass_at_1.value for p in series.points] == [1.0, 1.0]
    html = render_trend(trend)
    assert 'id="faults"' in html and '<span class="tag fail">0.17 [0.05, 0.47]</span>' in html


def test_a_faulted_run_of_some_scenarios_is_left_out_of_the_whole_suite_runs(
    tmp_path: Path,
) -> None:
    """As the sign-off's complete gate fails it: a --faults run whose profile plays only some
    of the scenarios is no run of the whole suite; the trend says why, as for -k, and still
    lists its R_fault apart."""
    fault_run(tmp_path, {"R-1": HELD}, started_at="2026-12-01T10:00:00+00:00")
    part = fault_run(
        tmp_path, {"R-1": BROKEN}, started_at="2026-12-02T10:00:00+00:00", unplayed=["other"]
    )
    trend = build_trend(tmp_path, "s", 30, k=2)
    assert len(trend.runs) == 1 and len(trend.faults) == 2
    (left,) = trend.left_out
    assert (left.run_id, left.apart) == (part.name, Apart.PARTIAL)
    assert left.why == (
        "played only the scenarios fault profile reset lists (refund), not the whole suite "
        "(not played: other)"
    )
    assert f"{part.name}: played only the scenarios fault profile reset" in render_trend(trend)


def test_a_requirement_degrading_in_head_that_base_did_not_judge_under_faults_is_said(
    tmp_path: Path,
) -> None:
    """No direction without a base, but a requirement that degrades under faults in HEAD is
    named even when BASE judged it clean only (it was left out of the one line)."""
    from harness.report.faultruns import compare_markdown

    base = open_run(fault_run(tmp_path, {"R-1": HELD, "R-2": (["PP"] * 6, [])}))
    head = open_run(fault_run(tmp_path, {"R-1": HELD, "R-2": BROKEN}))
    d = compare_faults(base, head)
    assert d is not None and not d.worse
    text = "\n".join(compare_markdown(d))
    assert "Degrades under faults in HEAD, not in BASE: none." in text
    assert "Degrades under faults in HEAD, not judged under faults in BASE: R-2." in text, text
    # and it turns the comparison red, as a failing case BASE did not have does
    assert [c.requirement for c in d.new_degraded] == ["R-2"]
    from harness.report.compare import compare_runs

    assert (
        "degrades under faults, not judged under faults in BASE: R-2"
        in compare_runs(base, head).red
    )
