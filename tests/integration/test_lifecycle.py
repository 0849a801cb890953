"""One lifecycle for every command, and its reliability: the run id survives a kill -9 on a
pipe, two resumes of one run never both run, a run killed after its last record is
completed by a resume, a resume of a finished run changes nothing, a stop signal while the
reports are written lets them finish (and one after the run finished leaves it finished), a
Ctrl-C'd replay is `interrupted`, a Ctrl-C'd hunt stops its search before the agent goes, and
a configuration refused against the real schema leaves no run folder, nor a word of one on
stdout, for run, replay, hunt and load alike."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from harness.runlog.models import SweepRecord, TrialRecord
from harness.runlog.read import read_records
from tests.helpers import (
    Lines,
    environ,
    harness,
    http_agent,
    only_run,
    poll,
    python_agent,
    read_manifest,
    run_dirs,
    start_harness,
    wait_for_records,
)
from tests.procs import wait_gone


def first_run(reports: Path, proc: subprocess.Popen[str]) -> Path:
    """The run's folder, as soon as the command made it and wrote its manifest (the folder is
    made first: on a busy machine a test read the manifest before it was there)."""

    def probe() -> list[Path]:
        assert proc.poll() is None, proc.communicate()
        return [d for d in run_dirs(reports) if (d / "manifest.json").exists()]

    runs = poll(probe, until=bool, timeout=60, every=0.02)
    assert runs, "the command made no run folder"
    return runs[0]


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
        proc = start_harness("run", str(suite), "--reports-dir", str(reports), "--no-progress",
                             stdout=handle)  # fmt: skip
        run = wait_for_records(reports, proc, 20)
        proc.kill()
        proc.communicate(timeout=30)
    assert out.read_text().splitlines()[0] == f"run id: {run.name}"


def test_two_resumes_at_once_one_runs_the_other_is_refused(make_suite, tmp_path: Path) -> None:
    suite = make_suite(python_agent("echo"), repeat=400, concurrency=1)
    reports = tmp_path / "reports"
    first = start_harness("run", str(suite), "--reports-dir", str(reports), "--no-progress")
    run = wait_for_records(reports, first, 10)
    first.kill()
    first.communicate(timeout=30)
    resume = ("run", "--resume", run.name, "--reports-dir", str(reports), "--no-progress")
    a, b = start_harness(*resume), start_harness(*resume)  # started at the same instant
    _, err_a = a.communicate(timeout=300)
    _, err_b = b.communicate(timeout=300)
    codes = sorted([a.returncode, b.returncode])
    assert codes == [0, 2], (err_a, err_b)
    refused = err_a if a.returncode == 2 else err_b
    assert "is still going" in refused
    counts = raw_keys(run)
    trials = {k: n for k, n in counts.items() if not k.startswith("(run)")}
    assert len(trials) == 400 and set(trials.values()) == {1}, "a (case, trial) ran twice"
    manifest = read_manifest(run)
    assert manifest["status"] == "finished" and len(manifest["attempts"]) == 2


def test_a_run_killed_after_its_last_record_is_completed_by_resume(tmp_path: Path) -> None:
    """Killed after the last case but before the sweep and `finished`: resume runs the sweep
    and finishes it (before, it said "nothing to resume" and stayed killed for ever)."""
    reports = tmp_path / "reports"
    done = harness(
        "run", "-k", "small-refund*", "--reports-dir", str(reports), "--no-progress", timeout=300
    )
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

    resume = ("run", "--resume", run.name, "--reports-dir", str(reports), "--no-progress")
    resumed = harness(*resume, timeout=300)
    assert resumed.returncode in (0, 1), resumed.stderr
    assert "running its sweep" in resumed.stderr
    manifest = read_manifest(run)
    assert manifest["status"] == "finished" and len(manifest["attempts"]) == 2
    assert any(isinstance(r, SweepRecord) for r in read_records(run))
    again = harness(*resume, timeout=300)
    assert f"run {run.name} has already finished" in again.stderr, again.stderr
    assert again.returncode == resumed.returncode, "its verdicts decide, as harness report's"
    assert read_manifest(run) == manifest, "a resume of a finished run changed its manifest"
    assert not wait_gone(run)


@pytest.mark.parametrize(("agent", "code"), [("echo", 0), ("script", 1)])
def test_resuming_a_finished_run_changes_nothing_and_says_so(
    make_suite, tmp_path: Path, agent: str, code: int
) -> None:
    """Before, it appended an empty attempt and moved `finished_at` to the resume's time."""
    suite = make_suite(python_agent(agent), repeat=3)
    reports = tmp_path / "reports"
    done = harness("run", str(suite), "--reports-dir", str(reports), "--no-progress")
    assert done.returncode == code, done.stderr
    run = only_run(reports, done.stderr)
    manifest, records = (run / "manifest.json").read_bytes(), (run / "cases.jsonl").read_bytes()

    again = harness("run", "--resume", run.name, "--reports-dir", str(reports), "--no-progress")
    assert again.returncode == code, again.stderr  # 0 no divergence, 1 divergences
    assert (run / "manifest.json").read_bytes() == manifest, "the manifest was rewritten"
    assert (run / "cases.jsonl").read_bytes() == records
    assert len(read_manifest(run)["attempts"]) == 1
    said = again.stderr.replace("\n", " ")
    assert f"run {run.name} has already finished" in said and "nothing to resume" in said
    assert again.stdout.splitlines()[0] == f"run id: {run.name}"
    assert str(run / "summary.md") in again.stdout and str(run / "report.html") in again.stdout


def test_a_second_ctrl_c_while_the_reports_are_written_lets_them_finish(
    make_suite, tmp_path: Path
) -> None:
    suite = make_suite(python_agent("echo"), repeat=4000, concurrency=8)
    reports = tmp_path / "reports"
    proc = start_harness("run", str(suite), "--reports-dir", str(reports), "--no-progress")
    stderr = Lines(proc.stderr)
    run = wait_for_records(reports, proc, 1500)
    proc.send_signal(signal.SIGINT)
    stderr.wait_for("writing the reports")  # the reports phase says so as it starts
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    said = stderr.rest()
    assert proc.returncode == 130, said
    for name in ("summary.md", "report.html", "junit.xml", "results.parquet"):
        assert (run / name).is_file(), f"{name} lost to the second signal"
    assert read_manifest(run)["status"] == "interrupted"
    assert f"harness run --resume {run.name}" in said
    # the environment was down by then: the second signal is about the reports only
    assert "removing the containers and servers" not in said


def test_a_stop_signal_after_the_run_finished_keeps_it_finished_and_exits_130(
    make_suite, tmp_path: Path
) -> None:
    """Ctrl-C while a finished run's reports are written: they finish, the run stays
    `finished`, the command says so and exits 130 (before: exit 1 or 0, no word of the first
    signal, and the second one spoke of removing containers long gone)."""
    suite = make_suite(python_agent("gated", timeout=60), repeat=4, timeout=60)
    reports, gate = tmp_path / "reports", tmp_path / "gate"
    proc = start_harness(
        "run", str(suite), "--reports-dir", str(reports), "--no-progress",
        env=environ(GATE=str(gate)),
    )  # fmt: skip
    try:
        stderr = Lines(proc.stderr)
        run = first_run(reports, proc)
        summary = run / "summary.md"
        os.mkfifo(summary)  # the reports stop there until this test reads it
        gate.touch()  # the cases may answer now: the run finishes, its reports begin
        status = poll(lambda: read_manifest(run)["status"], until=lambda s: s != "running",
                      timeout=60, every=0.02)  # fmt: skip
        assert status == "finished", stderr.text
        proc.send_signal(signal.SIGINT)
        stderr.wait_for(f"run {run.name} had already finished")
        proc.send_signal(signal.SIGINT)
        stderr.wait_for("still writing the reports")
        written = summary.read_text()  # opens the other end: the reports go on
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    said = stderr.rest()
    assert proc.returncode == 130, said
    assert "removing the containers and servers" not in said, said
    assert "its reports are written" in said, said
    manifest = read_manifest(run)
    assert manifest["status"] == "finished" and manifest["attempts"][-1]["status"] == "finished"
    assert len(trial_keys(run)) == 4
    assert written.startswith("#") and "T-001" in written
    for name in ("report.html", "junit.xml", "results.parquet"):
        assert (run / name).is_file(), f"{name} lost to the signals"
    out = proc.stdout.read() if proc.stdout else ""
    assert out.splitlines()[0] == f"run id: {run.name}" and str(run / "junit.xml") in out


def test_a_ctrl_c_replay_is_interrupted_and_says_it_ended(make_suite, tmp_path: Path) -> None:
    suite = make_suite(http_agent("hang", timeout=30), repeat=1, timeout=60)
    reports = tmp_path / "reports"
    proc = start_harness("replay", "hello", str(suite), "--times", "20", "--reports-dir",
                         str(reports))  # fmt: skip
    run = first_run(reports, proc)
    hanging = poll(lambda: (run / "agent.log").is_file() and "hanging" in (run / "agent.log")
                   .read_text(), until=bool, timeout=60, every=0.02)  # fmt: skip
    assert hanging, "the first replay never reached the agent"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert out.startswith(f"run id: {run.name}")
    manifest = read_manifest(run)
    assert manifest["kind"] == "replay" and manifest["status"] == "interrupted"
    assert manifest["attempts"][-1]["status"] == "interrupted"


HUNTED = """\
scenarios:
  - id: greet
    title: Greets whoever it is
    vars:
      who: {faker: name, locales: [en_US, de_DE]}  # searched: a hunt varies the locale
    turns: ["hello {{ vars.who }}"]
    checks:
      - {type: contains, requirements: [T-001], value: hello}
"""


def test_a_ctrl_c_hunt_stops_its_search_before_the_agent_goes(make_suite, tmp_path: Path) -> None:
    """The search thread is stopped, and its case in flight ended, before the environment is
    torn down: the agent the harness stops is no agent "exited during the run" (before, 2 of 3
    Ctrl-C'd hunts said so, the search still running while the agent went)."""
    suite = make_suite(http_agent("hang", timeout=60), timeout=60)
    (suite / "scenarios" / "s.yaml").write_text(HUNTED)
    reports = tmp_path / "reports"
    proc = start_harness("hunt", str(suite), "--budget", "10m", "--no-progress",
                         "--reports-dir", str(reports))  # fmt: skip
    try:
        run = first_run(reports, proc)
        agent_log = run / "agent.log"
        hanging = poll(lambda: agent_log.is_file() and "hanging" in agent_log.read_text(),
                       until=bool, timeout=60, every=0.02)  # fmt: skip
        assert hanging, "the hunt's first case never reached the agent"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "exited with code" not in err, err
    assert "interrupted" in err
    manifest = read_manifest(run)
    assert manifest["kind"] == "hunt" and manifest["status"] == "interrupted"
    assert manifest["found"] == [], "a case cut short by the shutdown was taken for a finding"
    assert out.splitlines()[0] == f"run id: {run.name}"
    assert not wait_gone(run)


# ---------------------------------------------------------------- refused after the folder


SCHEMA = "create table tickets (id serial primary key, owner text not null);\n"
SCENARIO = """\
scenarios:
  - id: ticket
    title: A ticket
    vars:
      who: {faker: name, locales: [en_US, de_DE]}  # searched: a hunt varies the locale
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
    done = harness(*args, "--reports-dir", str(reports), timeout=300)
    assert done.returncode == 2, done.stderr
    assert "owner_name" in done.stderr and "does not match the database's schema" in done.stderr
    left = [p for p in reports.iterdir()] if reports.exists() else []
    assert left == [], f"{name} left {left}"
    # nothing on stdout points at the folder that is gone (before: `run id: ID`, and a hunt's
    # `results PATH`); stderr, which named it as it started, says it was discarded
    assert done.stdout == "", f"{name} printed {done.stdout!r}"
    assert "discarded" in done.stderr
    assert os.listdir(tmp_path / "suite" / "scenarios") == ["s.yaml"]
