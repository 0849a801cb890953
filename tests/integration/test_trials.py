"""`harness run --trials k`: every case k times, each trial its own key, and a resumed run
finishes exactly the trials that are missing."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.helpers import environ, harness, only_run, python_agent, read_manifest, trial_records


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """harness ARGS (a run without its progress bar) with `env` added to ours."""
    quiet = ["--no-progress"] if args[0] == "run" else []
    return harness(*args, *quiet, env=environ(**env))


def test_every_case_runs_k_times_with_its_own_session(
    tmp_path: Path, make_suite: Callable[..., Path]
) -> None:
    suite = make_suite(python_agent("echo"), repeat=2)
    reports = tmp_path / "reports"
    proc = run("run", str(suite), "--trials", "3", "--reports-dir", str(reports))
    assert proc.returncode == 0, proc.stderr
    assert "2 case(s) x 3 trials" in proc.stderr
    run_dir = only_run(reports)
    recs = trial_records(run_dir)
    assert sorted(str(r["key"]) for r in recs) == [
        f"hello#{i}@{t}" for i in (1, 2) for t in (1, 2, 3)
    ]
    sessions = {r["observation"]["session_id"] for r in recs}
    assert len(sessions) == 6
    assert read_manifest(run_dir)["trials"] == 3


def test_trials_come_from_the_environment_and_resume_finishes_only_missing_trials(
    tmp_path: Path, make_suite: Callable[..., Path]
) -> None:
    suite = make_suite(python_agent("echo"), repeat=3)
    reports = tmp_path / "reports"
    proc = run("run", str(suite), "--reports-dir", str(reports), HARNESS_TRIALS="4")
    assert proc.returncode == 0, proc.stderr
    run_dir = only_run(reports)
    lines = (run_dir / "cases.jsonl").read_text().splitlines(keepends=True)
    assert len(lines) == 12
    # as if killed: trials 2 and 4 of hello#2 and all of hello#3's trial 3 never finished
    lost = {"hello#2@2", "hello#2@4", "hello#3@3"}
    kept = [line for line in lines if json.loads(line)["key"] not in lost]
    (run_dir / "cases.jsonl").write_text("".join(kept))
    manifest = read_manifest(run_dir)
    (run_dir / "manifest.json").write_text(json.dumps({**manifest, "status": "interrupted"}))

    # an incomplete run counts what it measured in trials, never more than finished
    partial = run("report", run_dir.name, "--reports-dir", str(reports))
    assert partial.returncode == 3, partial.stderr
    summary = (run_dir / "summary.md").read_text()
    assert "incomplete run: status interrupted, 9 of 12 trial(s) (4 per case) finished" in summary

    refused = run("run", "--resume", run_dir.name, "--reports-dir", str(reports), "--trials", "2")
    assert refused.returncode == 2
    assert "--trials 2 differs from run" in refused.stderr

    # the same value again (e.g. still exported) is fine
    resumed = run(
        "run", "--resume", run_dir.name, "--reports-dir", str(reports), HARNESS_TRIALS="4"
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming: 9 already done" in resumed.stderr
    keys = Counter(str(r["key"]) for r in trial_records(run_dir))
    assert set(keys) == {f"hello#{i}@{t}" for i in (1, 2, 3) for t in (1, 2, 3, 4)}
    assert set(keys.values()) == {1}, "a finished trial ran twice"
    attempts = read_manifest(run_dir)["attempts"]
    assert attempts[-1]["cases"] == len(lost)


def test_trials_precedence_command_line_then_pyproject_then_the_suite(
    tmp_path: Path, make_suite: Callable[..., Path]
) -> None:
    suite = make_suite(python_agent("echo"), repeat=1)
    (suite / "suite.yaml").write_text(
        (suite / "suite.yaml").read_text().replace("  seed: 1\n", "  seed: 1\n  trials: 2\n")
    )
    work = tmp_path / "work"
    work.mkdir()

    def trials_of(*args: str) -> int:
        reports = work / f"reports-{len(list(work.iterdir()))}"
        command = ["run", str(suite), "--no-progress", "--reports-dir", str(reports), *args]
        proc = harness(*command, env=environ(drop=["HARNESS_TRIALS"]), cwd=work)
        assert proc.returncode == 0, proc.stderr
        return len(trial_records(only_run(reports)))

    assert trials_of() == 2  # the suite's defaults
    (work / "pyproject.toml").write_text("[tool.harness]\ntrials = 3\n")
    assert trials_of() == 3  # [tool.harness] over the suite
    assert trials_of("--trials", "1") == 1  # the command line over both
