"""A killed run keeps every finished case; resume finishes it; nothing is left running."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

from harness.run.plan import plan
from harness.spec.suite import load_suite
from tests.helpers import (
    DEMO,
    environ,
    harness,
    only_run,
    read_manifest,
    start_harness,
    trial_records,
    wait_for_records,
)
from tests.procs import wait_gone


def start(reports: Path, *extra: str, defects: str = "all") -> subprocess.Popen[str]:
    return start_harness(
        "run", "--reports-dir", str(reports), "--no-progress", *extra,
        env=environ(REFUND_DESK_DEFECTS=defects),
    )  # fmt: skip


def keys(run_dir: Path) -> Counter[str]:
    return Counter(r["key"] for r in trial_records(run_dir))


def test_kill_9_then_resume_holds_every_case_exactly_once(tmp_path: Path) -> None:
    proc = start(tmp_path, "-c", "1")
    run_dir = wait_for_records(tmp_path, proc, 8)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not wait_gone(run_dir), "servers or agent outlived a kill -9 of the harness"
    done_before = keys(run_dir)
    assert len(done_before) >= 8
    # its report, rebuilt, calls it what it is and says how to finish it
    rebuilt = harness("report", run_dir.name, "--reports-dir", str(tmp_path))
    assert f"harness run --resume {run_dir.name} finishes it" in rebuilt.stderr, rebuilt.stderr
    assert "status killed (did not finish)" in (run_dir / "summary.md").read_text()

    resumed = harness(
        "run", "--resume", run_dir.name, "--reports-dir", str(tmp_path), "--no-progress",
        env=environ(REFUND_DESK_DEFECTS="all"), timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 1, resumed.stderr
    assert f"resuming: {len(done_before)} already done" in resumed.stderr
    suite = load_suite(DEMO)
    planned = {f"{c.id}@1" for c in plan(suite, suite.manifest.defaults.seed)}
    after = keys(run_dir)
    case_keys = {k: n for k, n in after.items() if not k.startswith("(run)")}
    assert set(case_keys) == planned
    assert set(case_keys.values()) == {1}, "a case was run twice"
    manifest = read_manifest(run_dir)
    assert manifest["status"] == "finished" and len(manifest["attempts"]) == 2
    import pandas as pd

    frame = pd.read_parquet(run_dir / "results.parquet")
    cases = frame[frame["case_id"] != "(run)"]
    assert not cases.duplicated(["case_id", "trial", "check_id"]).any()
    assert set(cases["case_id"] + "@1") == planned
    assert not wait_gone(run_dir)


def interrupt(tmp_path: Path, sig: int) -> None:
    proc = start(tmp_path, "-c", "1")
    run_dir = wait_for_records(tmp_path, proc, 5)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert f"harness run --resume {run_dir.name}" in stderr
    assert not wait_gone(run_dir, timeout=5), "interrupted run left processes behind"
    manifest = read_manifest(run_dir)
    assert manifest["status"] == "interrupted"
    assert (run_dir / "summary.md").is_file() and (run_dir / "report.html").is_file()
    assert len(keys(run_dir)) >= 5


def test_a_run_still_going_cannot_be_resumed(tmp_path: Path) -> None:
    """A resume while the run's harness still runs would run its missing cases twice."""
    proc = start(tmp_path, "-c", "1", "--repeat", "40")
    run_dir = wait_for_records(tmp_path, proc, 8)
    try:
        early = harness(
            "run", "--resume", run_dir.name, "--reports-dir", str(tmp_path), "--no-progress",
            timeout=60,
        )  # fmt: skip
        assert proc.poll() is None, "the run ended before the resume was tried"
        assert early.returncode == 2 and "is still going" in early.stderr, early.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)


def test_ctrl_c_stops_everything_and_keeps_finished_cases(tmp_path: Path) -> None:
    interrupt(tmp_path, signal.SIGINT)


def test_sigterm_stops_everything_and_keeps_finished_cases(tmp_path: Path) -> None:
    interrupt(tmp_path, signal.SIGTERM)


def test_agent_failing_at_startup_leaves_no_server(tmp_path: Path) -> None:
    proc = start(tmp_path, defects="no_such_defect")
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stderr
    assert "exited with code 2 before it was healthy" in stderr
    assert "no_such_defect" in stderr  # the agent's own message, from its log
    run_dir = only_run(tmp_path, stderr)
    assert not wait_gone(run_dir, timeout=5)
