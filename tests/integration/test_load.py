"""harness load on real processes: locust's master and workers count every request, and Ctrl-C
or SIGTERM stops users, workers, the agent and the servers within seconds, keeping a report."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from harness.core import FailureKind
from harness.runlog.models import TrialRecord
from harness.runlog.read import read_records
from tests.helpers import (
    environ,
    harness,
    only_run,
    read_manifest,
    run_dirs,
    start_harness,
    wait_for_records,
)
from tests.procs import run_processes, wait_gone


def start(reports: Path, *extra: str) -> subprocess.Popen[str]:
    return start_harness(
        "load", "scenarios/refund_desk", "--reports-dir", str(reports), "--no-progress", *extra,
        env=environ(REFUND_DESK_DEFECTS="none"),
    )  # fmt: skip


def test_two_workers_totals_equal_the_sum_of_their_requests(tmp_path: Path) -> None:
    proc = start(tmp_path, "--profile", "spike", "--workers", "2", "--limit", "5s")
    _, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stderr
    run = only_run(tmp_path, stderr)
    load = read_manifest(run)["load"]
    workers = [p for p in load["processes"] if p["role"] == "worker"]
    assert len(workers) == 2 and all(p["final"] and p["requests"] > 0 for p in workers)
    master = next(p for p in load["processes"] if p["role"] == "master")
    total = load["locust"]["requests"]
    # the master's own statistics, each worker's own count, and what locust passed between them
    assert total == master["requests"] == sum(p["requests"] for p in workers)
    assert total == sum(w["requests"] for w in load["locust"]["workers"].values())
    # and every request counted is a judged turn: nothing was lost between the processes
    turns = sum(len(r.observation.turns) for r in read_records(run) if isinstance(r, TrialRecord))
    assert load["counts"]["abandoned"] == 0 and turns == total
    assert f"{total} requests = " in stderr
    assert not wait_gone(run)


def interrupt(tmp_path: Path, sig: int, *extra: str) -> None:
    proc = start(tmp_path, "--profile", "ramp", *extra)
    run = wait_for_records(tmp_path, proc, 30)
    manifest = read_manifest(run)
    locust = [p["pid"] for p in manifest["load"]["processes"]]
    assert len(locust) == (1 if not extra else 3)
    assert {pid for pid, _ in run_processes(run)} >= set(locust)
    sent = time.monotonic()
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    assert proc.returncode == 130, stderr
    assert took < 10, f"stopping took {took:.1f} s"
    assert not wait_gone(run, timeout=5), "the interrupted load left processes behind"
    manifest = read_manifest(run)
    assert manifest["status"] == "interrupted"
    summary = (run / "summary.md").read_text()
    assert "## Load" in summary and "incomplete run" in summary
    # locust's own totals are counted either way: as they came, or as each process last said
    assert "Locust counted" in summary or "last reported" in summary, summary
    assert (run / "report.html").is_file() and (run / "load.parquet").is_file()
    assert len(read_records(run)) >= 30


def test_ctrl_c_stops_users_and_workers_and_keeps_a_report(tmp_path: Path) -> None:
    interrupt(tmp_path, signal.SIGINT, "--workers", "2")


def test_sigterm_stops_the_load_and_keeps_a_report(tmp_path: Path) -> None:
    interrupt(tmp_path, signal.SIGTERM)


def test_a_worker_started_elsewhere_joins_through_the_master(tmp_path: Path) -> None:
    """`harness load-worker` gets nothing but the master's address: the harness's case
    server (and its secret path) reach it through locust's own options."""
    from harness.procs import free_port

    port = free_port()
    proc = start(
        tmp_path, "--profile", "spike", "--limit", "3s", "--workers", "1",
        "--expect-workers", "2", "--master-port", str(port),
    )  # fmt: skip
    worker = harness(
        "load-worker", "--master-host", "127.0.0.1", "--master-port", str(port), timeout=180
    )
    _, stderr = proc.communicate(timeout=180)
    assert worker.returncode == 0, worker.stderr
    assert proc.returncode == 0, stderr
    run = only_run(tmp_path, stderr)
    load = read_manifest(run)["load"]
    remote = [p for p in load["processes"] if p.get("remote")]
    assert len(remote) == 1 and remote[0]["requests"] > 0 and remote[0]["final"]
    workers = [p for p in load["processes"] if p["role"] == "worker"]
    assert load["locust"]["requests"] == sum(p["requests"] for p in workers)
    assert not wait_gone(run)


def test_an_agent_crash_cuts_the_load_short_and_is_no_degradation(tmp_path: Path) -> None:
    """As in `harness run`: errors after the crash name the agent's exit, the load is not
    "finished", and no level is said to degrade because of conversations the crash failed."""
    proc = start(tmp_path, "--profile", "ramp")
    run = wait_for_records(tmp_path, proc, 20)
    agent = read_manifest(run)["agent"]["pid"]
    os.killpg(agent, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stderr
    assert "the agent process exited with code -9" in stderr
    manifest = read_manifest(run)
    assert manifest["status"] == "failed" and "exited with code -9" in manifest["error"]
    died = manifest["load"]["agent_exit"]
    assert died["code"] == -9 and died["at"] < manifest["load"]["length_s"]
    records = [r for r in read_records(run) if isinstance(r, TrialRecord) and r.load]
    blamed = [r for r in records if r.load and r.load.agent_exited is not None]
    assert blamed and manifest["load"]["counts"]["agent_exited"] == len(blamed)
    for r in blamed:  # every such error names the death, as harness run's do
        error = r.observation.error
        assert error is not None and error.kind is FailureKind.AGENT_EXITED
        assert "(the agent process had exited with code -9)" in str(error)
    # the levels hold only what the agent answered while it lived: all of it passed
    assert manifest["levels"] and all(lv["pass_rate"] == 1.0 for lv in manifest["levels"])
    assert sum(lv["trials"] for lv in manifest["levels"]) == len(records) - len(blamed)
    summary = (run / "summary.md").read_text()
    assert "The agent process exited with code -9" in summary
    assert "first degrades" not in summary
    assert not wait_gone(run)


def load_worker(port: int, *extra: str) -> subprocess.Popen[str]:
    """`harness load-worker` as a background job starts it: SIGINT ignored on the way in
    (so only the command's own handling can make Ctrl-C work), in its own process group."""

    def background() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.setsid()

    return start_harness(
        "load-worker", "--master-host", "127.0.0.1", "--master-port", str(port), *extra,
        preexec_fn=background,
    )  # fmt: skip


def test_load_worker_waiting_for_a_master_stops_on_ctrl_c_or_gives_up_readably() -> None:
    from harness.procs import free_port

    port = free_port()
    worker = load_worker(port, "-n", "2")
    assert worker.stderr is not None
    assert "waiting for the locust master" in worker.stderr.readline()
    os.killpg(worker.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
    _, stderr = worker.communicate(timeout=10)
    assert worker.returncode == 130, stderr
    worker = load_worker(port, "--connect-timeout", "1s")
    _, stderr = worker.communicate(timeout=20)
    assert worker.returncode == 3, stderr
    assert f"no locust master answered at 127.0.0.1:{port} within 1 s" in stderr
    assert "Traceback" not in stderr and "--connect-timeout" in stderr


def test_ctrl_c_stops_a_load_worker_sending_load(tmp_path: Path) -> None:
    from harness.procs import free_port

    port = free_port()
    proc = start(tmp_path, "--profile", "ramp", "--expect-workers", "1", "--master-port", str(port))
    worker = load_worker(port)
    run = wait_for_records(tmp_path, proc, 20)  # the remote worker's conversations are back
    sent = time.monotonic()
    os.killpg(worker.pid, signal.SIGINT)
    _, stderr = worker.communicate(timeout=15)
    assert worker.returncode == 130, stderr
    assert time.monotonic() - sent < 8
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert not wait_gone(run)


def test_a_master_port_in_use_is_refused_before_anything_starts(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start(tmp_path, "--profile", "spike", "--expect-workers", "1",
                     "--master-port", str(port))  # fmt: skip
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, stderr
    assert f"--master-port {port} is already in use" in stderr and "Traceback" not in stderr
    assert not run_dirs(tmp_path)  # no run was even opened
