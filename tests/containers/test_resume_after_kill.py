"""A docker run killed with kill -9 is resumed without `harness clean`: the resume removes
what the killed attempt left (its containers and network, whose owner process is gone)
before it starts its own, finishes the run, and leaves nothing behind; it warns about what
other killed runs left, never about its own run's leftovers, which it removes itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.deps import cleanup, engine
from tests.containers.conftest import labelled, run_env, wait_unlabelled
from tests.helpers import ROOT, start_harness

REPEAT = 12


def slow_suite(tmp_path: Path) -> Path:
    """PostgreSQL, Redis and an agent that takes half a second a reply: a run lasts a while."""
    root = tmp_path / "suite"
    (root / "scenarios").mkdir(parents=True)
    (root / "suite.yaml").write_text(
        "name: slow\ndefaults: {seed: 1, concurrency: 1, case_timeout: 20}\n"
        "environment:\n"
        "  dependencies:\n"
        "    db: {kind: postgres, database: app}\n"
        "    cache: {kind: redis}\n"
        "  agent:\n"
        f"    python: {{callable: 'tests.agents.slow:slow_echo', path: ['{ROOT}']}}\n"
    )
    (root / "spec.yaml").write_text(
        "title: Slow\nrequirements:\n"
        "  - {id: E-001, title: Echoes, severity: major, text: The reply echoes the message.}\n"
    )
    (root / "scenarios" / "s.yaml").write_text(
        "scenarios:\n"
        f"  - id: hello\n    title: Echo\n    repeat: {REPEAT}\n"
        '    turns: ["hello {{ case.id }}"]\n'
        "    checks: [{type: contains, requirements: [E-001], value: hello}]\n"
    )
    return root


def wait_running(reports: Path, proc: subprocess.Popen[str]) -> Path:
    """The run's folder once its containers are up and a case has finished."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = [p for p in reports.iterdir() if p.is_dir()] if reports.exists() else []
        cases = runs[0] / "cases.jsonl" if runs else None
        if cases is not None and cases.exists() and cases.read_bytes().count(b"\n") >= 1:
            return runs[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the run never got going")


@pytest.fixture
def other_killed_run() -> Iterator[str]:
    """What another run killed with kill -9 left: a network labelled with an owner that is
    gone. Its run id; the network is removed afterwards."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    run_id = f"killed-elsewhere-{os.getpid()}"
    labels = {cleanup.RUN: run_id, cleanup.PID: gone.stdout.strip(), cleanup.STARTED: "1",
              cleanup.HOST: cleanup.hostname()}  # fmt: skip
    client = engine.client()
    try:
        client.networks.create(f"harness-{run_id}", labels=labels)
        yield run_id
    finally:
        cleanup.remove_matching(client, {cleanup.RUN: run_id})
        client.close()


def test_resume_after_kill_9_removes_the_killed_attempts_containers_itself(
    tmp_path: Path, other_killed_run: str
) -> None:
    suite = slow_suite(tmp_path)
    reports = tmp_path / "reports"
    first = start_harness("run", str(suite), "--deps", "docker", "--reports-dir",
                          str(reports), "--no-progress", env=run_env())  # fmt: skip
    run_dir = wait_running(reports, first)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=30)
    run_id = run_dir.name
    try:
        left = {(item.kind, item.name) for item in labelled(run_id)}
        # what the resume must deal with: kill -9 cannot clean up after itself
        assert ("container", f"harness-{run_id}-db") in left, left
        assert ("network", f"harness-{run_id}") in left, left

        resumed = start_harness(
            "run", "--resume", run_id, "--reports-dir", str(reports), "--no-progress", env=run_env()
        )
        _, stderr = resumed.communicate(timeout=300)
        assert resumed.returncode in (0, 1), stderr
        # its own run's leftovers are its to remove, not the user's: no `harness clean` asked
        # for them (before: "... left by killed run(s) <this run>: run `harness clean`")
        warning = next(line for line in stderr.splitlines() if "left by killed run" in line)
        assert other_killed_run in warning and run_id not in warning, warning
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["status"] == "finished", stderr
        assert len(manifest["attempts"]) == 2
        lines = (run_dir / "cases.jsonl").read_text().splitlines()
        keys = {json.loads(line)["key"] for line in lines}
        assert len([k for k in keys if not k.startswith("(run)")]) == REPEAT
        assert not wait_unlabelled(run_id, timeout=10), "the resume left containers or networks"
    finally:  # a failing test must not leave the killed run's containers to the next ones
        client = engine.client()
        try:
            cleanup.remove_matching(client, {cleanup.RUN: run_id})
        finally:
            client.close()
