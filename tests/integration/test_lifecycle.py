"""One lifecycle for every command, and its reliability: the run id survives a kill -9 on a
pipe, two resumes of one run never both run, a run killed after its last record is
completed by a resume, a second Ctrl-C during the reports lets them finish, a Ctrl-C'd
replay is `interrupted`, and a configuration refused against the real schema leaves no run
folder for run, replay, hunt and load alike."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from harness.runlog.models import SweepRecord, TrialRecord
from harness.runlog.read import read_records
from tests.helpers import ROOT, http_agent, python_agent
from tests.procs import wait_gone

HARNESS = (sys.executable, "-m", "harness")


def popen(*args: str, stdout: int | object = subprocess.PIPE) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*HARNESS, *args],
        cwd=ROOT,
        stdout=stdout,  # type: ignore[arg-type]
        stderr=subprocess.PIPE,
        text=True,
    )


def harness(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HARNESS, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def only_run(reports: Path) -> Path:
    runs = [p for p in reports.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def wait_lines(path: Path, at_least: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if path.is_file() and path.read_bytes().count(b"\n") >= at_least:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"{path} never got {at_least} lines")


def trial_keys(run: Path) -> Counter[str]:
    return Counter(r.key for r in read_records(run) if isinstance(r, TrialRecord))


def raw_keys(run: Path) -> Counter[str]:
    """Every record line written (a key written twice would show here, not in read_records)."""
    return Counter(
        json.loads(line)["key"]
        for line in (run / "cases.jsonl").read_text().splitlines()
        if line.strip()
    )


def test_the_run_id_line_survives_a_kill_9_on_a_file(make_suite, tmp_path: Path) -> None:
    suite = make_suite(python_agent("echo"), repeat=3000, concurrency=2)
    reports = tmp_path / "reports"
    out = tmp_path / "stdout.txt"
    with out.open("w") as handle:
        proc = popen("run", str(suite), "--reports-dir", str(reports), "--no-progress",
                     stdout=handle)  # fmt: skip
        run = None
        deadline = time.monotonic() + 60
        while run is None and time.monotonic() < deadline:
            runs = [p for p in reports.iterdir() if p.is_dir()] if reports.exists() else []
            run = runs[0] if runs else None
            time.sleep(0.02)
        assert run is not None
        wait_lines(run / "cases.jsonl", 20, proc)
        proc.kill()
        proc.communicate(timeout=30)
    assert out.read_text().splitlines()[0] == f"run id: {run.name}"


def test_two_resumes_at_once_one_runs_the_other_is_refused(make_suite, tmp_path: Path) -> None:
    suite = make_suite(python_agent("echo"), repeat=400, concurrency=1)
    reports = tmp_path / "reports"
    first = popen("run", str(suite), "--reports-dir", str(reports), "--no-progress")
    wait_lines_in_folder = time.monotonic() + 60
    while not (reports.exists() and any(reports.iterdir())):
        assert time.monotonic() < wait_lines_in_folder
        time.sleep(0.02)
    run = only_run(reports)
    wait_lines(run / "cases.jsonl", 10, first)
    first.kill()
    first.communicate(timeout=30)
    resume = ("run", "--resume", run.name, "--reports-dir", str(reports), "--no-progress")
    a, b = popen(*resume), popen(*resume)  # started at the same instant
    _, err_a = a.communicate(timeout=300)
    _, err_b = b.communicate(timeout=300)
    codes = sorted([a.returncode, b.returncode])
    assert codes == [0, 2], (err_a, err_b)
    refused = err_a if a.returncode == 2 else err_b
    assert "is still going" in refused
    counts = raw_keys(run)
    trials = {k: n for k, n in counts.items() if not k.startswith("(run)")}
    assert len(trials) == 400 and set(trials.values()) == {1}, "a (case, trial) ran twice"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "finished" and len(manifest["attempts"]) == 2


def test_a_run_killed_after_its_last_record_is_completed_by_resume(tmp_path: Path) -> None:
    """Killed after the last case but before the sweep and `finished`: resume runs the sweep
    and finishes it (before, it said "nothing to resume" and stayed killed for ever)."""
    reports = tmp_path / "reports"
    done = harness("run", "-k", "small-refund*", "--reports-dir", str(reports), "--no-progress")
    assert done.returncode in (0, 1), done.stderr
    run = only_run(reports)
    # what a kill -9 at that moment leaves: every trial stored, no sweep, status running,
    # an owner that is gone
    lines = (run / "cases.jsonl").read_text().splitlines()
    kept = [line for line in lines if json.loads(line).get("type") != "sweep"]
    assert len(kept) == len(lines) - 1
    (run / "cases.jsonl").write_text("\n".join(kept) + "\n")
    manifest = json.loads((run / "manifest.json").read_text())
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    manifest.update(status="running", finished_at=None)
    manifest["owner"] = {"pid": int(gone.stdout), "host": manifest["owner"]["host"], "start": "1"}
    (run / "manifest.json").write_text(json.dumps(manifest))
    report = harness("report", run.name, "--reports-dir", str(reports))
    assert "killed (did not finish)" in (run / "summary.md").read_text(), report.stderr

    resumed = harness("run", "--resume", run.name, "--reports-dir", str(reports), "--no-progress")
    assert resumed.returncode in (0, 1), resumed.stderr
    assert "running its sweep" in resumed.stderr
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    assert any(isinstance(r, SweepRecord) for r in read_records(run))
    again = harness("run", "--resume", run.name, "--reports-dir", str(reports), "--no-progress")
    assert "nothing to resume" in again.stderr
    assert not wait_gone(run)


def test_a_second_ctrl_c_while_the_reports_are_written_lets_them_finish(
    make_suite, tmp_path: Path
) -> None:
    suite = make_suite(python_agent("echo"), repeat=4000, concurrency=8)
    reports = tmp_path / "reports"
    proc = popen("run", str(suite), "--reports-dir", str(reports), "--no-progress")
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while not (reports.exists() and any(reports.iterdir())):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    run = only_run(reports)
    wait_lines(run / "cases.jsonl", 1500, proc)
    proc.send_signal(signal.SIGINT)
    seen = []
    for line in proc.stderr:  # the reports phase says so as it starts
        seen.append(line)
        if "writing the reports" in line:
            proc.send_signal(signal.SIGINT)
            break
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(seen) + rest
    for name in ("summary.md", "report.html", "junit.xml", "results.parquet"):
        assert (run / name).is_file(), f"{name} lost to the second signal"
    assert json.loads((run / "manifest.json").read_text())["status"] == "interrupted"
    assert f"harness run --resume {run.name}" in rest


def test_a_ctrl_c_replay_is_interrupted_and_says_it_ended(make_suite, tmp_path: Path) -> None:
    suite = make_suite(python_agent("hang", timeout=3), repeat=1, timeout=10)
    reports = tmp_path / "reports"
    proc = popen("replay", "hello", str(suite), "--times", "20", "--reports-dir", str(reports))
    deadline = time.monotonic() + 60
    while not (reports.exists() and any(reports.iterdir())):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    run = only_run(reports)
    time.sleep(0.5)  # inside the first replay's hanging call
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert out.startswith(f"run id: {run.name}")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["kind"] == "replay" and manifest["status"] == "interrupted"
    assert manifest["attempts"][-1]["status"] == "interrupted"


# ---------------------------------------------------------------- refused after the folder


SCHEMA = "create table tickets (id serial primary key, owner text not null);\n"
SCENARIO = """\
scenarios:
  - id: ticket
    title: A ticket
    vars:
      who: {faker: name}
    setup:
      ticket: {table: tickets, values: {owner: "{{ vars.who }}"}}
    turns: ["hello {{ vars.who }}"]
    checks:
      - type: sql
        requirements: [T-001]
        query: select owner_name from tickets where id = %s
        params: ["{{ ticket.id }}"]
        expect_count: 1
"""


@pytest.fixture
def mismatched_suite(tmp_path: Path) -> Path:
    """A suite whose SQL check names a column the real schema does not have: refused (exit 2)
    once the database is up, i.e. after its run folder was made."""
    root = tmp_path / "suite"
    (root / "scenarios").mkdir(parents=True)
    agent = textwrap.indent(http_agent("echo"), "    ")
    (root / "suite.yaml").write_text(
        "name: mismatch\ndefaults: {seed: 1, concurrency: 2, case_timeout: 10}\n"
        "environment:\n  dependencies:\n    db: {kind: postgres, schema: [schema.sql]}\n"
        "  agent:\n" + textwrap.indent(agent, "  ") + "load:\n  profiles:\n"
        "    short: {shape: soak, users: 2, duration: 3s}\n"
    )
    (root / "schema.sql").write_text(SCHEMA)
    (root / "spec.yaml").write_text(
        "title: t\nrequirements:\n  - {id: T-001, title: t, severity: major, text: t}\n"
    )
    (root / "scenarios" / "s.yaml").write_text(SCENARIO)
    return root


@pytest.mark.parametrize(
    "command",
    [
        ("run",),
        ("replay", "ticket"),
        ("hunt", "--budget", "5s"),
        ("load", "--profile", "short"),
    ],
    ids=["run", "replay", "hunt", "load"],
)
def test_a_configuration_refused_against_the_schema_leaves_no_folder(
    mismatched_suite: Path, tmp_path: Path, command: tuple[str, ...]
) -> None:
    reports = tmp_path / "reports"
    name, *rest = command
    args = [name, *rest[:1], str(mismatched_suite), *rest[1:]] if name == "replay" else [
        name, str(mismatched_suite), *rest]  # fmt: skip
    if name != "replay":
        args += ["--no-progress"]
    done = harness(*args, "--reports-dir", str(reports))
    assert done.returncode == 2, done.stderr
    assert "owner_name" in done.stderr and "does not match the database's schema" in done.stderr
    left = [p for p in reports.iterdir()] if reports.exists() else []
    assert left == [], f"{name} left {left}"
    assert os.listdir(tmp_path / "suite" / "scenarios") == ["s.yaml"]
