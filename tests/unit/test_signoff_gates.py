"""Sign-off gates on stored data: known failures must be replayed and pass, a killed run is
called killed, --with takes only hunt or load runs of the same suite, and a policy's
wrong gate value gets one clear message."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.report.gates import FAIL, NOT_MEASURED, PASS, GateResult
from harness.report.signoff_regressions import HuntFinding, hunt_findings, regressions_gate
from harness.report.view import build_view
from harness.runlog.history import KILLED, group_runs, run_status
from harness.runlog.owner import Owner, process_start
from harness.runlog.read import RunFolder, parse_manifest
from harness.spec.policy import Gate, load_policy
from tests.helpers import results_frame, results_row


def _row(case: str, verdict: str, origin: str = "scenario") -> dict[str, Any]:
    return results_row(
        case_id=case,
        scenario="s",
        origin=origin,
        trial=1,
        check_id="x",
        target="x" if origin == "regression" else "",
        requirements="R-1",
        verdict=verdict,
        category="output",
        duration_ms=0.0,
    )


def _suite(tmp_path: Path, *saved: str) -> Path:
    folder = tmp_path / "suite"
    (folder / "regressions").mkdir(parents=True)
    for rid in saved:
        (folder / "regressions" / f"{rid}.yaml").write_text(f"id: {rid}\n")
    return folder


def _gate(
    frame_rows: list[dict[str, Any]], manifest: dict[str, Any], found: list[HuntFinding]
) -> GateResult:
    frame = results_frame(frame_rows)
    typed = parse_manifest(
        {"requirements": [{"id": "R-1", "severity": "major", "title": "t"}], **manifest}
    )
    return regressions_gate(Gate(), build_view(frame, typed), frame, typed, found)


def test_every_known_failure_replayed_and_passing_passes(tmp_path: Path) -> None:
    suite = _suite(tmp_path, "r-old")
    rows = [_row("a#1", "pass"), _row("regression:r-old", "pass", "regression")]
    found = [HuntFinding("h1", "R-1", "a#7", "x", "regression:r-old")]
    gate = _gate(rows, {"suite_path": str(suite), "regressions": ["regression:r-old"]}, found)
    assert gate.status == PASS, gate.findings
    assert gate.detail == "1 of 1 known regression case(s) replayed; 1 hunt finding(s) in the group"


def test_files_saved_since_the_run_and_hunt_findings_it_did_not_replay_fail(
    tmp_path: Path,
) -> None:
    suite = _suite(tmp_path, "r-old", "r-new", "r-disk")
    rows = [_row("a#1", "pass"), _row("regression:r-old", "pass", "regression")]
    found = [
        HuntFinding("h1", "R-1", "a#7", "x", "regression:r-new"),
        HuntFinding("h2", "R-2", "a#9", "y", None),  # a plain hunt saves nothing
    ]
    gate = _gate(rows, {"suite_path": str(suite), "regressions": ["regression:r-old"]}, found)
    assert gate.status == FAIL and gate.blocking
    assert gate.findings == [
        "regression:r-disk, on disk, was not replayed by this run",
        "regression:r-new, saved by hunt h1 (R-1, check x), was not replayed by this run",
        "run harness run again to replay 2 new regression case(s), then sign that run off",
        "hunt h2 found R-2 diverging in a#9 (check y) but saved no regression case (a plain "
        "hunt), so no run can show it fixed: hunt again without --plain",
    ]
    assert gate.requirements == ["R-1", "R-2"]


def test_a_regression_file_the_run_could_not_replay_fails_the_gate_with_its_reason(
    tmp_path: Path,
) -> None:
    suite = _suite(tmp_path, "r-old", "r-broken")
    rows = [_row("a#1", "pass"), _row("regression:r-old", "pass", "regression")]
    broken = f"{suite}/regressions/r-broken.yaml:9:9: vars.form: not a value"
    manifest = {
        "suite_path": str(suite),
        "regressions": ["regression:r-old"],
        "unreadable_regressions": [broken],
    }
    gate = _gate(rows, manifest, [])
    assert gate.status == FAIL
    # said once, with its reason; not also as a file "not replayed" a new run would replay
    assert gate.findings == [f"a regression file the run could not replay: {broken}"]


def test_a_regression_still_failing_or_left_out_fails_and_a_missing_suite_is_unmeasured(
    tmp_path: Path,
) -> None:
    suite = _suite(tmp_path, "r-old")
    rows = [_row("a#1", "pass"), _row("regression:r-old", "fail", "regression")]
    gate = _gate(rows, {"suite_path": str(suite), "regressions": ["regression:r-old"]}, [])
    assert gate.status == FAIL and gate.findings == ["regression:r-old still fails R-1 (check x)"]
    gate = _gate([_row("a#1", "pass")], {"suite_path": str(suite), "regressions": []}, [])
    assert gate.status == FAIL  # the file is there, the run did not replay it
    deleted = [HuntFinding("h1", "R-1", "a#7", "x", "regression:r-deleted")]
    gate = _gate([_row("a#1", "pass"), _row("regression:r-old", "pass", "regression")],
                 {"suite_path": str(suite)}, deleted)  # fmt: skip
    assert gate.status == FAIL and gate.findings == [
        "regression:r-deleted, saved by hunt h1 (R-1, check x), was not replayed by this run "
        "and its file is gone from the suite, so no run can: restore the file (e.g. from "
        "git), or hunt again"
    ]
    gate = _gate([_row("a#1", "pass")], {"suite_path": str(tmp_path / "gone")}, [])
    assert gate.status == NOT_MEASURED and "is not there" in gate.findings[-1]


def test_hunt_findings_are_read_from_the_hunts_manifests(tmp_path: Path) -> None:
    hunt = RunFolder(
        tmp_path / "h1",
        parse_manifest(
            {
                "kind": "hunt",
                "found": [
                    {
                        "requirement": "R-1",
                        "case_id": "a#7",
                        "check": "x",
                        "regression_id": "regression:q",
                    }
                ],
            }
        ),
    )
    load = RunFolder(tmp_path / "l1", parse_manifest({"kind": "load"}))
    assert hunt_findings([hunt, load]) == [HuntFinding("h1", "R-1", "a#7", "x", "regression:q")]


def _stored(root: Path, run_id: str, **manifest: Any) -> RunFolder:
    folder = root / run_id
    folder.mkdir(parents=True)
    info = {"kind": "run", "suite": "s", "status": "finished", **manifest}
    (folder / "manifest.json").write_text(json.dumps(info))
    return RunFolder(folder, parse_manifest(info))


def test_with_takes_only_hunt_or_load_runs_of_the_same_suite(tmp_path: Path) -> None:
    run = _stored(tmp_path, "run", group="g")
    _stored(tmp_path, "hunt-same", kind="hunt", group="g")
    _stored(tmp_path, "hunt-other-suite", kind="hunt", group="g", suite="other")
    _stored(tmp_path, "load-ok", kind="load")
    _stored(tmp_path, "run-2")
    _stored(tmp_path, "load-other", kind="load", suite="other")
    related = group_runs(tmp_path, run, ("load-ok",))
    assert [r.run_id for r in related] == ["hunt-same", "load-ok"]
    suite_run = r"--with run-2: it is a suite run \(harness run\)"
    with pytest.raises(ConfigError, match=suite_run) as exc:
        group_runs(tmp_path, run, ("run-2",))
    assert exc.value.exit_code == 2
    other = r"load run \(harness load\) of suite 'other', not of 's'"
    with pytest.raises(ConfigError, match=other):
        group_runs(tmp_path, run, ("load-other",))


def test_a_running_run_whose_process_is_gone_is_called_killed() -> None:
    here = socket.gethostname()
    code = "import time; print('up', flush=True); time.sleep(60)"
    alive = subprocess.Popen([sys.executable, "-c", code, "harness"], stdout=subprocess.PIPE)
    try:
        assert alive.stdout is not None and alive.stdout.readline() == b"up\n"  # exec'd
        assert status({"status": "running", "pid": alive.pid, "host": here}) == "running"
        owner = Owner(pid=alive.pid, host=here, start=process_start(alive.pid))
        assert status({"status": "running", "owner": owner.model_dump()}) == "running"
        reused = Owner(pid=alive.pid, host=here, start="1")  # the pid, given to another program
        assert status({"status": "running", "owner": reused.model_dump()}) == KILLED
    finally:
        alive.kill()
        alive.communicate()
    assert status({"status": "running", "pid": alive.pid, "host": here}) == KILLED
    assert status({"status": "running", "pid": alive.pid, "host": "elsewhere"}) == "running"
    assert status({"status": "running"}) == "running"  # an older run: cannot tell
    assert status({"status": "finished", "pid": alive.pid, "host": here}) == "finished"


def status(manifest: dict[str, Any]) -> str:
    return run_status(parse_manifest(manifest))


def test_a_wrong_gate_value_is_one_clear_message_per_key(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "title: t\ngates:\n  coverage: 5\n  load: yes please\n  invariants: {optinal: true}\n"
    )
    with pytest.raises(ConfigError) as exc:
        load_policy(path)
    lines = str(exc.value).splitlines()
    assert [line.split(": ")[1] for line in lines if "policy.yaml" in line] == [
        "gates.coverage",
        "gates.load",
        "gates.invariants.optinal",
    ]
    text = str(exc.value)
    assert "gates.coverage: expected true, false or a mapping of the gate's settings" in text
    assert "(optional, conditions_never_held, mandatory_steps) (got 5)" in text
    assert "unknown key 'optinal' (did you mean 'optional'?)" in text


def test_coverage_settings_say_whether_a_condition_that_never_held_fails(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("title: t\ngates:\n  coverage: {conditions_never_held: fail}\n")
    gate = load_policy(path).gates.coverage_gate()
    assert gate is not None and gate.conditions_never_held == "fail"
    path.write_text("title: t\ngates:\n  coverage: true\n")
    gate = load_policy(path).gates.coverage_gate()
    assert gate is not None and gate.conditions_never_held == "warn"


def test_a_rate_gate_has_a_minimum_for_each_severity_and_none_for_other_words() -> None:
    from harness.core import Severity as Vocabulary
    from harness.spec.models import Requirement
    from harness.spec.policy import RateGate
    from harness.spec.severity import Severity

    assert Vocabulary is Severity and Requirement.model_fields["severity"].annotation is Severity
    gate = RateGate(critical=1.0, major=0.9, minor=0.5)
    assert [gate.minimum(s) for s in Severity] == [1.0, 0.9, 0.5]
    assert gate.minimum("blocker") is None and gate.minimum("bound") is None


def test_the_complete_gate_reads_a_partial_run_from_its_typed_manifest() -> None:
    from harness.report.signoff import complete_gate

    base = {"kind": "run", "status": "finished", "trials": 1}
    partial = complete_gate(parse_manifest({**base, "select": ["refund*", "login"]}), 4)
    assert partial.status == FAIL
    assert partial.findings == ["the run judged only the scenarios matching -k refund* -k login"]
    assert complete_gate(parse_manifest(base), 4).status == PASS
    load = complete_gate(parse_manifest({**base, "kind": "load"}), 4)  # no -k of its own
    assert load.status == PASS and load.findings == []


def test_the_complete_gate_says_a_faulted_run_covers_its_profiles_scenarios_only() -> None:
    from harness.report.signoff import complete_gate

    checks = [
        {"scenario": s, "check_id": "c", "type": "sql", "category": "state", "requirements": []}
        for s in ("a", "b", "c")
    ]
    base = {"kind": "run", "status": "finished", "trials": 1, "checks": checks}
    faulted = parse_manifest({**base, "fault_profile": "cut"})
    partial = complete_gate(faulted, 4, {"a", "(run)"})  # the run-wide sweep is no scenario
    assert partial.status == FAIL
    assert partial.findings[0].startswith(
        "the run played only the scenarios fault profile cut lists (a): a sign-off on it "
        "covers those scenarios, not the whole suite"
    )
    assert complete_gate(faulted, 4, {"a", "b", "c"}).status == PASS  # a profile of them all
    assert complete_gate(parse_manifest(base), 4, {"a"}).status == PASS  # no profile: -k says
