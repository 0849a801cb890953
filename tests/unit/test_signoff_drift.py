"""The sign-off's drift gate over drift run folders written by the run log's own writer:
a degraded requirement fails it, one held far enough passes, a drop with too few cases to
tell fails (it cannot be said to hold), a run judged not far enough or not finished is not
measured; and a drift run resumes whatever regression files a hunt saved meanwhile."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from harness.report.compare import compare_runs
from harness.report.signoff_drift import drift_gate, drift_judged, unfinished
from harness.runlog.read import open_run
from harness.spec.policy import DriftGate
from harness.spec.suite import load_suite
from tests.driftruns import drift_run, step
from tests.helpers import ROOT

LENGTHS = [0, 2, 4, 8, 16, 32]


def gate(runs: list[Path], min_length: int = 16) -> tuple[str, list[str]]:
    folders = [open_run(r) for r in runs]
    result = drift_gate(
        DriftGate(min_length=min_length), drift_judged(folders), len(folders), unfinished(folders)
    )
    return result.status, result.findings


def test_a_degraded_requirement_fails_and_a_held_one_passes(tmp_path: Path) -> None:
    status, findings = gate([drift_run(tmp_path / "a", {"R-1": step(LENGTHS, 8)})])
    assert status == "fail"
    assert findings[0].startswith("R-1: holds up to n=4, degraded from n=8 in drift run")
    assert gate([drift_run(tmp_path / "b", {"R-1": step(LENGTHS, 99)})]) == ("pass", [])
    # degraded only beyond the gate's length: holds as far as the gate asks
    assert gate([drift_run(tmp_path / "c", {"R-1": step(LENGTHS, 32)})])[0] == "pass"


def test_a_drop_with_too_few_cases_to_tell_fails_the_gate(tmp_path: Path) -> None:
    status, findings = gate([drift_run(tmp_path, {"R-1": step(LENGTHS, 4, cases=4)})])
    assert status == "fail"
    assert "drops at n=4" in findings[0] and "too few cases" in findings[0]


def test_judged_not_far_enough_or_not_finished_is_not_measured(tmp_path: Path) -> None:
    short = drift_run(tmp_path / "short", {"R-1": step([0, 2, 4, 8], 99)})
    status, findings = gate([short])
    assert status == "not measured"
    assert "judged up to n=8 only" in findings[0] and "the gate needs n=16" in findings[0]
    cut = drift_run(tmp_path / "cut", {"R-1": step(LENGTHS, 99)})
    manifest = json.loads((cut / "manifest.json").read_text())
    manifest["status"] = "interrupted"
    (cut / "manifest.json").write_text(json.dumps(manifest))
    status, findings = gate([cut])
    assert status == "not measured"
    assert "is interrupted, not finished: its curves are left out" in findings[0]
    assert f"harness drift --resume {cut.name}" in findings[0]


def test_a_regression_file_saved_later_does_not_change_what_a_drift_run_plays(
    tmp_path: Path,
) -> None:
    suite = tmp_path / "clinic"
    shutil.copytree(ROOT / "tests" / "suites" / "clinic", suite)
    before = load_suite(suite)
    (suite / "regressions").mkdir()
    (suite / "regressions" / "x.yaml").write_text("id: x\n")  # what a hunt would add
    after = load_suite(suite)
    assert after.suite_hash != before.suite_hash  # a run replays regression files
    assert after.cases_hash == before.cases_hash  # a drift run does not


def test_a_noisy_requirement_no_worse_with_length_passes_the_drift_gate(tmp_path: Path) -> None:
    """One case in six fails at every length (noise, not drift): the drift report says it
    fails at the shortest length, the drift gate passes it (the reliability and capability
    gates judge failures alike at every length), and comparing two such runs is not red."""
    noisy = {(n, "start"): ["F", "P", "P", "P", "P", "P"] for n in LENGTHS}
    run = drift_run(tmp_path / "a", {"R-1": noisy})
    assert gate([run]) == ("pass", [])
    folder = open_run(run)
    (judged,) = drift_judged([folder])["R-1"]
    assert judged.words.startswith("fails at the shortest length n=0 (83.3%); no worse")
    other = open_run(drift_run(tmp_path / "b", {"R-1": noisy}))
    c = compare_runs(folder, other)
    assert c.drift is not None and not c.drift.worse
    assert not any("holds less far" in r for r in c.red)
