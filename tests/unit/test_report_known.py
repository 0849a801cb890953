"""The reports' words on known regressions: a replayed case that could not be judged is
never said to be still failing, nor passing, in the headline or the section."""

from __future__ import annotations

from harness.report.known import KnownRegression
from harness.report.view import ReportView
from harness.runlog.models import RequirementInfo, RunManifest


def view(*verdicts: str) -> ReportView:
    manifest = RunManifest(suite="s", seed=3, requirements=[RequirementInfo(id="R-1")])
    known = [KnownRegression(f"regression:r{i}", "R-1", "c", v) for i, v in enumerate(verdicts)]
    return ReportView(manifest, [], [], {"pass": 1, "fail": 0, "error": 0}, 1, known)


def test_a_regression_that_could_not_be_judged_is_said_so_in_the_headline() -> None:
    v = view("error", "pass", "pass")
    assert v.regressions_headline == "0 still failing, 1 could not be judged (error), 2 now passing"
    assert v.regression_findings == ["1 known regression(s) could not be judged (error)"]
    assert "still failing" not in v.headline and v.diverged  # an error is never a pass


def test_still_failing_and_not_judged_are_counted_apart() -> None:
    v = view("fail", "error", "fail")
    assert v.regression_findings == [
        "2 known regression(s) still failing",
        "1 known regression(s) could not be judged (error)",
    ]
    assert view("pass").regression_findings == []
