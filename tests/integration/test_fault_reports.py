"""What the reports and the sign-off say about faults, on real runs: the ledger agent
(tests/agents/ledger_agent.py) as its own process on a real PostgreSQL (embedded) through the
run's fault proxy, suite tests/suites/faults. MODE=stuck (a planted defect) never tries the
database again after its first error, so it fails under the fault, never recovers, and fails
the clean trials played after a faulted phase too.

- the sign-off of a `--faults` run: its faults gate fails a requirement that fails in both
  phases and says what it could not judge (R_fault without a clean trial), a policy without a
  faults gate still gets one, and the complete gate says the run covers only the profile's
  scenarios;
- junit.xml: every testsuite's counts are its testcases' (the faults suite fails the
  requirements whose faulted trials failed);
- a failed recovery check names the fault(s) the case had and says "not recovered within
  5 s" in every report; its probe turns are shown once, with the recovery check only;
- the turn sent while a fault was on names it ("turn 2 (during db: down)") in every report.
"""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.helpers import ROOT, environ, harness, only_run, trial_records

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SUITE = ROOT / "tests" / "suites" / "faults"
NOT_WITHIN = "not recovered within 5 s"


def run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    done = harness(
        "run", str(SUITE), "--reports-dir", str(tmp_path / "r"), "--no-progress", *args,
        env=environ(HARNESS_DEPS="embedded", LEDGER_MODE="stuck"), timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    return done, only_run(tmp_path / "r", done.stderr)


def signoff(run_dir: Path, policy: str) -> tuple[int, dict[str, dict]]:
    path = run_dir.parent / "policy.yaml"
    path.write_text(policy)
    proc = harness(
        "signoff", run_dir.name, "--policy", str(path), "--reports-dir", str(run_dir.parent)
    )
    assert proc.returncode in (0, 1), proc.stderr
    data = json.loads((run_dir / "signoff.json").read_text())
    return proc.returncode, {g["name"]: g for g in data["gates"]}


def junit_counts_are_true(path: Path) -> dict[str, dict[str, int]]:
    """Each testsuite's stated counts against its testcases; returns them by suite name."""
    out = {}
    for suite in ET.parse(path).getroot().iter("testsuite"):
        cases = suite.findall("testcase")
        counted = {
            "tests": len(cases),
            "failures": sum(1 for c in cases if c.find("failure") is not None),
            "errors": sum(1 for c in cases if c.find("error") is not None),
        }
        stated = {k: int(suite.get(k, "-1")) for k in counted}
        assert stated == counted, (suite.get("name"), stated, counted)
        out[str(suite.get("name"))] = counted
    return out


def test_a_faulted_run_failing_in_both_phases_is_never_a_go(tmp_path: Path) -> None:
    # two trials: the clean phase after the first faulted one fails too (the agent is stuck)
    done, run_dir = run(tmp_path, "--faults", "cut", "--repeat", "2", "--trials", "2")
    records = [r for r in trial_records(run_dir) if "observation" in r]
    clean = [r for r in records if r["case"]["fault"] is None]
    assert any(c["verdict"] == "fail" for r in clean for c in r["checks"])  # both phases fail

    code, gates = signoff(
        run_dir, "title: t\nk: 2\ngates:\n  faults:\n    min_r_fault: {major: 1.0}\n"
        "    optional: true\n",
    )  # fmt: skip
    assert code == 1
    faults = gates["faults"]
    assert faults["status"] == "fail", faults
    said = " ".join(faults["findings"])
    assert "LG-001: fails in both phases (clean 2/4, faulted 0/4 trials passed)" in said
    # LG-002 (recovery, judged only under the fault): no R_fault, judged on its faulted trials
    assert re.search(
        r"LG-002: judged only under faults in faulted run \S+ under cut, and fails there "
        r"\(clean 0/0, faulted 0/4 trials passed\)",
        said,
    ), said
    assert set(faults["requirements"]) == {"LG-001", "LG-002"}
    complete = gates["complete"]
    assert complete["status"] == "fail"
    assert "played only the scenarios fault profile cut lists (plain)" in complete["findings"][0]

    # a policy without a faults gate: the faulted run's failing checks are still judged
    code, gates = signoff(run_dir, "title: t\nk: 2\ngates:\n  invariants: true\n")
    assert code == 1 and gates["faults"]["status"] == "fail", gates
    assert "LG-001: fails in both phases" in " ".join(gates["faults"]["findings"])

    # junit: the faults suite fails both requirements, and every count is its testcases'
    counts = junit_counts_are_true(run_dir / "junit.xml")
    assert counts["faults.faults"] == {"tests": 2, "failures": 2, "errors": 0}
    # the terminal says what was not measured too
    assert re.search(r"LG-002: not measured: no clean trial judged it \(faulted 0/4", done.stderr)
    assert f"{NOT_WITHIN} in 4 trial(s)" in done.stderr


def test_a_failed_recovery_names_its_fault_and_its_probes_are_shown_once(tmp_path: Path) -> None:
    done, run_dir = run(tmp_path, "-k", "outage")
    [record] = [r for r in trial_records(run_dir) if "observation" in r]
    recovery = next(c for c in record["checks"] if c["check_type"] == "recovery")
    assert recovery["verdict"] == "fail"
    assert recovery["message"] == f"{NOT_WITHIN} after db: down (turn 2) ended"
    assert recovery["found"] == NOT_WITHIN
    probes = [t for t in record["observation"]["turns"] if t["source"] == "recovery"]
    assert len(probes) >= 2  # sent until the 5 s were over
    assert any(c["check_type"] == "sql" and c["verdict"] == "fail" for c in record["checks"])

    md = (run_dir / "summary.md").read_text()
    html = (run_dir / "report.html").read_text()
    junit = (run_dir / "junit.xml").read_text()
    for text in (md, html, junit, done.stderr):
        assert NOT_WITHIN in text
    section = md.split("## Faults")[1].split("## Divergences")[0]
    assert f"{NOT_WITHIN} in 1 trial" in section and "| — |" not in section
    # the probes once each: in the recovery check's evidence, not in the sql check's
    assert md.count("(recovery), user") == len(probes)
    assert html.count('turn-source">recovery<') == len(probes)
    assert junit.count("user (recovery): ping") == len(probes)
    sql = md.split("### FAIL")[1:]
    assert len(sql) == 2 and sum("(recovery), user" in part for part in sql) == 1
    counts = junit_counts_are_true(run_dir / "junit.xml")
    assert counts["faults"]["failures"] == 2
    # the turn sent while the database was down says so, in every report; the others do not
    assert "Turn 2 (during db: down), user:" in md and "Turn 1 (during" not in md
    assert 'turn-fault">during db: down<' in html
    assert "turn 2 user (during db: down): note beta" in junit
    assert "turn 1 user: note alpha" in junit and "turn 3 user: note gamma" in junit


def test_a_profile_that_never_fires_is_warned_of_in_every_report(tmp_path: Path) -> None:
    """An `after_sent` regex that never matches: the faulted phase met no fault. The terminal
    and every report say, first, that R_fault says nothing, with the hit count (0 of N); the
    exit rule is unchanged (LG-002's recovery check errors with no fault to recover from:
    exit 1 for that, as without the warning)."""
    import shutil

    suite = tmp_path / "suite"
    shutil.copytree(SUITE, suite)
    text = (suite / "suite.yaml").read_text()
    text = text.replace("../../agents/", str(ROOT / "tests" / "agents") + "/")
    idle = (
        "    idle:\n      description: a reset that waits for bytes the agent never sends\n"
        "      scenarios: [plain]\n      faults:\n"
        "        - {link: db, toxic: reset_peer, after_sent: 'no agent sends this'}\n"
    )
    (suite / "suite.yaml").write_text(text.replace("  profiles:\n", "  profiles:\n" + idle, 1))
    done = harness(
        "run", str(suite), "--reports-dir", str(tmp_path / "r"), "--no-progress",
        "--faults", "idle",
        env=environ(HARNESS_DEPS="embedded", LEDGER_MODE="correct"), timeout=300,
    )  # fmt: skip
    # every check passes (the fault never acted): the exit code is the checks', the warning
    # is what says the run proved nothing about faults
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir = only_run(tmp_path / "r", done.stderr)
    said = re.search(
        r"WARNING: the faulted phase met no fault: profile idle hit 0 of (\d+) connection\(s\) "
        r"in its (\d+) faulted trial\(s\), so R_fault says nothing about robustness",
        " ".join(done.stderr.split()),
    )
    assert said is not None and int(said.group(2)) > 0, done.stderr
    assert re.search(r"db: reset_peer \(profile:idle\): \d+ trial\(s\), hit 0/\d+", done.stderr)
    assert "the faulted phase met no fault" in (run_dir / "summary.md").read_text()
    assert "fault-warning" in (run_dir / "report.html").read_text()
    props = {
        p.get("name"): p.get("value")
        for p in ET.parse(run_dir / "junit.xml").getroot().iter("property")
    }
    assert "the faulted phase met no fault" in (props.get("warning") or "")


def test_the_demo_under_db_reset_names_the_reset_turn_and_skips_what_faults_never_judged(
    tmp_path: Path,
) -> None:
    """The demo (defects on) under db-reset: the refund turn's evidence says the reset was on,
    and RD-011 (judged only in the clean phase) is a skipped testcase, not a "holds"."""
    done = harness(
        "run", str(ROOT / "scenarios" / "refund_desk"), "--faults", "db-reset",
        "--reports-dir", str(tmp_path / "r"), "--no-progress",
        env=environ(HARNESS_DEPS="embedded"), timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    run_dir = only_run(tmp_path / "r", done.stderr)
    md = (run_dir / "summary.md").read_text()
    assert "Turn 2 (during db: reset\\_peer downstream, after\\_sent " in md
    assert ", times 1), user:" in md
    assert "Turn 1 (during" not in md
    junit = (run_dir / "junit.xml").read_text()
    assert "turn 2 user (during db: reset_peer downstream, after_sent " in junit
    counts = junit_counts_are_true(run_dir / "junit.xml")
    assert counts["refund_desk.faults"]["failures"] == 2  # RD-006, RD-014
    (suite,) = [
        s
        for s in ET.parse(run_dir / "junit.xml").getroot().iter("testsuite")
        if s.get("name") == "refund_desk.faults"
    ]
    assert suite.get("skipped") == "1"
    skipped = {c.get("name") for c in suite.iter("testcase") if c.find("skipped") is not None}
    assert skipped == {"RD-011 holds under fault profile db-reset"}
    assert "RD-011: not judged under faults: no faulted trial judged it" in done.stderr
