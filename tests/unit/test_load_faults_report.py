"""A load run's fault windows in its report, from records written through the run log's own
types: before, during and after each window, the dip, the recovery time, and the reports."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.core import Case, CheckResult, Failure, FailureKind, Observation, TurnRecord, Verdict
from harness.report.build import build_reports
from harness.report.load import summarize
from harness.report.loadfaults import fault_windows
from harness.runlog.models import (
    LoadFaultWindow,
    LoadInfo,
    LoadManifest,
    LoadTag,
    RequirementInfo,
    TrialRecord,
)
from harness.runlog.read import CASES, MANIFEST, open_run

STEP = 0.1  # a conversation starts every 0.1 s, one turn each


def trial(n: int, start: float, ok: bool, latency: float, window: int | None) -> TrialRecord:
    error = None if ok else Failure(FailureKind.STATUS, "HTTP 500")
    turn = TurnRecord(index=1, text="hold", reply="ok" if ok else "", latency_ms=latency)
    turn.error = error
    obs = Observation(session_id=f"h-{n}", turns=[turn])
    verdict = Verdict.PASS if ok else Verdict.ERROR
    check = CheckResult(
        check_id="c", check_type="contains", category="output", requirements=("T-001",),
        verdict=verdict, message="",
    )  # fmt: skip
    case = Case(id=f"s#{n}", scenario="s", index=n, seed=n)
    tag = LoadTag(users=3, active=3, window=int(start), start=start, at=[start])
    tag.faults = [1] if window else []
    return TrialRecord(
        key=f"s#{n}@1", case=case, trial=1, observation=obs, checks=[check], load=tag
    )


def records(during: str, late: int = 0, until: float = 12.0) -> list[TrialRecord]:
    """Passing conversations of 20 ms, but inside [4, 7): failing fast ("fail") or passing
    slowly ("slow"); the first `late` conversations after 7 s still fail."""
    out = []
    for n in range(int(until / STEP)):
        start = round(n * STEP, 3)
        inside = 4.0 <= start < 7.0
        after = 7.0 <= start < 7.0 + late * STEP - 1e-9
        if (inside and during == "fail") or after:
            out.append(trial(n, start, False, 5.0, 1 if inside else None))
        elif inside:
            out.append(trial(n, start, True, 400.0, 1))
        else:
            out.append(trial(n, start, True, 20.0 + n % 3, None))
    return out


def load_info(**window: object) -> LoadInfo:
    fault = LoadFaultWindow(
        link="db", toxic="reset_peer", name="load1_reset_peer_downstream", at=4.0, for_s=3.0,
        started=4.0, ended=7.0, seed=11, connections=4, affected=3,
    ).model_copy(update=window)  # fmt: skip
    return LoadInfo(profile="dip", shape="soak", length_s=12.0, window_s=1.0, faults=[fault])


def test_the_dip_and_the_recovery_in_numbers() -> None:
    (n,) = fault_windows(load_info(), records("fail", late=5), until=12.0)
    before, during, after = n.phases
    assert (before.start, before.end, during.start, during.end) == (0.0, 4.0, 4.0, 7.0)
    assert before.conversations == 40 and before.pass_rate == 1.0
    assert during.conversations == 30 and during.pass_rate == 0.0 and during.error_rate == 1.0
    assert after.conversations == 50 and after.pass_rate == 0.9
    assert n.dipped
    # 7.0-7.4 fail; from 7.5 on every results window passes: back 0.5 s after the end
    assert n.recovery_s == 0.5
    assert "back within the before interval 0.5 s after it ended" in n.sentence()
    # records without the feeder's marks: the same phases from their times
    unmarked = records("fail", late=5)
    for r in unmarked:
        assert r.load is not None
        r.load.faults = []
    (same,) = fault_windows(load_info(), unmarked, until=12.0)
    assert [(p.conversations, p.passes) for p in same.phases] == [
        (p.conversations, p.passes) for p in n.phases
    ]
    assert same.recovery_s == 0.5


def test_a_latency_dip_counts_and_no_recovery_is_said_so() -> None:
    (n,) = fault_windows(load_info(), records("slow"), until=12.0)
    assert n.during.pass_rate == 1.0 and n.during.percentile(0.5) == 400.0
    assert n.dipped and n.recovery_s == 0.0  # latency above the before p95, then back at once
    (never,) = fault_windows(load_info(), records("fail", late=50), until=12.0)
    assert never.recovery_s is None and "did not return" in never.why_not
    (unapplied,) = fault_windows(
        load_info(started=None, ended=None, error="no proxy"), records("fail"), until=12.0
    )
    assert "was never applied (no proxy)" in unapplied.sentence()


def test_an_allowed_outage_is_no_pass_and_shows_its_503s() -> None:
    """During the window every turn is answered 503 (accepted) and every own check skipped:
    only a passing scoped invariant is left. Not a pass: not judged, and the 503s show."""
    trials = records("fail")
    for r in trials:
        if r.load is not None and r.load.faults:
            (turn,) = r.observation.turns
            turn.error, turn.status, turn.reply = None, 503, "try again later"
            r.checks[0].category, r.checks[0].verdict = "invariant", Verdict.PASS
    (n,) = fault_windows(load_info(toxic="down"), trials, until=12.0)
    before, during, _ = n.phases
    assert during.conversations == during.not_judged == 30 and during.pass_rate is None
    assert during.non_2xx_rate == 1.0 and during.accepted == {503: 30} and during.error_rate == 0
    assert before.non_2xx_rate == 0.0 and before.not_judged == 0 and n.dipped
    assert n.recovery_s == 0.0  # measured from the judged conversations after it
    said = n.sentence()
    assert said.startswith("Fault 1 (down on db, 4–7 s): dipped; ")
    assert "pass rate of judged conversations 100.0% before, — (30 not judged) during" in said
    assert "non-2xx answers 0.0% / 100.0% (503 accepted: 30) / 0.0% of turns" in said
    # a window whose after phase holds only conversations not judged reports no recovery
    for r in trials:
        if r.load is not None and r.load.start is not None and r.load.start >= 7.0:
            r.checks[0].category = "invariant"
    (late,) = fault_windows(load_info(toxic="down"), trials, until=12.0)
    assert late.recovery_s is None and "no judged conversation" in late.why_not


def write(tmp_path: Path, trials: list[TrialRecord]) -> Path:
    run = tmp_path / "20260101-000000-fault"
    run.mkdir()
    manifest = LoadManifest(
        kind="load", run_id=run.name, suite="t", status="finished", seed=1, trials=1,
        requirements=[RequirementInfo(id="T-001", title="holds", severity="major")],
        load=load_info(),
    )  # fmt: skip
    (run / MANIFEST).write_text(manifest.model_dump_json())
    (run / CASES).write_text("".join(t.model_dump_json() + "\n" for t in trials))
    return run


def test_the_reports_show_the_windows_and_keep_them_out_of_the_levels(tmp_path: Path) -> None:
    run = write(tmp_path, records("fail", late=5))
    summary = summarize(open_run(run))
    assert summary is not None and summary.faulted == 30
    (level,) = summary.levels  # the faulted conversations measure the fault, not the load
    assert level.conversations == 90 and level.passes == 85
    build_reports(run)
    md = (run / "summary.md").read_text()
    assert "### Fault windows" in md
    assert (
        "| 1 | db | reset\\_peer \\(downstream, toxicity 1\\) | 3 of 4 \\(75%\\), seed 11 |" in md
    )
    assert "| during | 4–7 | 30 | 0 | 0.0% \\(0–11%\\) | 5 | 5 | 100.0% | 0.0% |" in md
    assert "30 conversation(s) overlapped a fault window" in md
    html = (run / "report.html").read_text()
    assert "<h3>Fault windows</h3>" in html and "fault 1: reset_peer on db" in html
    assert '<span class="tag fail">0.0% (0–11%)</span>' in html
    frame = pd.read_parquet(run / "load.parquet")
    faults = frame[frame["kind"] == "fault"].set_index("phase")
    assert list(faults.index) == ["before", "during", "after"]
    assert faults.loc["during", "pass_rate"] == 0.0 and faults.loc["before", "pass_rate"] == 1.0
    assert faults.loc["after", "recovery_s"] == 0.5 and (faults["window"] == 1).all()
