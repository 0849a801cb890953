"""The reports' words where they could mislead: a replayed known regression that could not
be judged is never said to be still failing, nor passing; a check's evidence says that
recovery probes followed the turns it shows."""

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


def test_recovery_probes_are_shown_with_their_check_and_counted_with_the_others() -> None:
    from harness.report.text import evidence_turns, probes_left_out

    turns = [
        {"index": 1, "source": None},
        {"index": 2, "source": None},
        {"index": 3, "source": "recovery"},
        {"index": 4, "source": "recovery"},
    ]
    sql = {"check_type": "sql", "turns": turns}
    shown = evidence_turns(sql)
    assert [t["index"] for t in shown] == [1, 2]
    assert probes_left_out(turns, shown) == (
        "then 2 recovery probe(s), turns 3-4, shown with the recovery check: what they did is "
        "in the rows and spans judged"
    )
    recovery = {"check_type": "recovery", "turns": turns}
    assert evidence_turns(recovery) == turns and probes_left_out(turns, turns) is None
    one = turns[:3]
    assert "then 1 recovery probe(s), turn 3," in str(
        probes_left_out(one, evidence_turns(sql | {"turns": one}))
    )
