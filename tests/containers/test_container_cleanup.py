"""No container or network outlives its run: normal exit, Ctrl-C, SIGTERM, SIGHUP, an interrupt
while containers are still starting (once or twice), an agent that never gets healthy; after
kill -9, `harness clean` removes them, and never another live run's."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.containers.conftest import BASE_IMAGE, labelled, run_env, wait_unlabelled
from tests.containers.test_generic_container import make_suite
from tests.helpers import (
    harness,
    only_run,
    poll,
    read_manifest,
    run_dirs,
    start_harness,
    wait_for_records,
)

#: what an interrupted teardown must not print: it removed everything, so nothing to report
TEARDOWN_NOISE = (
    "Traceback", "never retrieved", "Event loop is closed", "could not remove",
    "not removed", "did not stop cleanly",
)  # fmt: skip
# Docker's refusals (409 conflict, 403 forbidden) as whole numbers: a run id such as
# 20261206-131409-2364 holds "409" inside its time of day and is not noise
DOCKER_REFUSAL = re.compile(r"(?<![\w-])40[39](?![\w-])")


def teardown_noise(stderr: str) -> list[str]:
    return [n for n in TEARDOWN_NOISE if n in stderr] + DOCKER_REFUSAL.findall(stderr)


def start_run(reports: Path, **env: str) -> subprocess.Popen[str]:
    # --repeat: enough cases that the run is still going when the test acts on it
    return start_harness(
        "run", "--deps", "docker", "--reports-dir", str(reports), "--no-progress", "-c", "1",
        "--repeat", "20", env=run_env(**env),
    )  # fmt: skip


def kinds(run_id: str) -> set[str]:
    return {item.kind for item in labelled(run_id)}


def interrupt(tmp_path: Path, sig: int) -> None:
    proc = start_run(tmp_path)
    run_dir = wait_for_records(tmp_path, proc, 3)
    assert kinds(run_dir.name) == {"container", "network"}  # what must go is really there
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert not wait_unlabelled(run_dir.name, timeout=5), "an interrupted run left containers"
    assert read_manifest(run_dir)["status"] == "interrupted"


def test_ctrl_c_removes_every_container_and_network(tmp_path: Path) -> None:
    interrupt(tmp_path, signal.SIGINT)


def test_sigterm_removes_every_container_and_network(tmp_path: Path) -> None:
    interrupt(tmp_path, signal.SIGTERM)


def test_sighup_removes_every_container_and_network(tmp_path: Path) -> None:
    """The terminal closed or the ssh session dropped: the run stops as on Ctrl-C."""
    interrupt(tmp_path, signal.SIGHUP)


def starting_suite(tmp_path: Path) -> Path:
    """PostgreSQL, Redis and a service that never gets ready: interrupts land mid-start."""
    service = f"""\
    kind: container
    image: {BASE_IMAGE}
    command: [sh, -c, "echo warming up; sleep 120"]
    ports: [8080]
    wait: {{log: "^ready$", timeout: 90}}
    """
    root = make_suite(tmp_path, service)
    text = (root / "suite.yaml").read_text()
    more = "    db: {kind: postgres}\n    cache: {kind: redis}\n  agent:\n"
    (root / "suite.yaml").write_text(text.replace("  agent:\n", more, 1))
    return root


def interrupt_start_up(tmp_path: Path, signals: list[int]) -> str:
    reports = tmp_path / "reports"
    proc = start_harness(
        "run", str(starting_suite(tmp_path)), "--deps", "docker", "--reports-dir",
        str(reports), "--no-progress", env=run_env(),
    )  # fmt: skip

    def started() -> str:
        runs = run_dirs(reports)
        if runs and len([i for i in labelled(runs[0].name) if i.kind == "container"]) == 3:
            return runs[0].name
        assert proc.poll() is None, proc.communicate()
        return ""

    run_id = poll(started, until=bool, timeout=60, every=0.05)
    assert run_id, "the containers never appeared"
    for sig in signals:
        proc.send_signal(sig)
        time.sleep(0.2)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert not teardown_noise(stderr), stderr
    assert not labelled(run_id), "an interrupted start-up left containers or its network"
    return stderr


def test_ctrl_c_while_containers_start_removes_them_and_says_nothing_false(
    tmp_path: Path,
) -> None:
    interrupt_start_up(tmp_path, [signal.SIGINT])


def test_a_second_ctrl_c_lets_the_cleanup_finish(tmp_path: Path) -> None:
    stderr = interrupt_start_up(tmp_path, [signal.SIGINT, signal.SIGINT])
    assert "stopping: removing the containers and servers this run started" in stderr


def test_agent_failing_its_health_check_leaves_nothing(tmp_path: Path) -> None:
    proc = start_run(tmp_path, REFUND_DESK_DEFECTS="no_such_defect")
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stderr
    assert "exited with code 2 before it was healthy" in stderr
    assert not wait_unlabelled(only_run(tmp_path).name, timeout=5)


def test_kill_9_leftovers_are_warned_about_and_cleaned_but_live_runs_are_kept(
    tmp_path: Path,
) -> None:
    killed = start_run(tmp_path / "killed")
    killed_dir = wait_for_records(tmp_path / "killed", killed, 3)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    time.sleep(1)
    assert kinds(killed_dir.name) == {"container", "network"}, "kill -9 cannot clean up itself"

    live = start_run(tmp_path / "live")
    live_dir = wait_for_records(tmp_path / "live", live, 3)
    dry = harness("clean", "--dry-run", env=run_env(), timeout=60)
    assert dry.returncode == 0 and f"would remove container harness-{killed_dir.name}" in dry.stdout
    assert kinds(killed_dir.name) == {"container", "network"}, "--dry-run removed something"
    cleaned = harness("clean", env=run_env(), timeout=60)
    assert cleaned.returncode == 0, cleaned.stderr
    assert f"kept container harness-{live_dir.name}" in cleaned.stdout
    assert not labelled(killed_dir.name), "clean left the killed run's containers"
    assert kinds(live_dir.name) == {"container", "network"}, "clean removed a live run's"

    live.send_signal(signal.SIGTERM)
    _, stderr = live.communicate(timeout=60)
    assert live.returncode == 130, stderr
    # the live run started while the killed run's containers were still there, and said so
    assert "left by killed run(s)" in stderr and "harness clean" in stderr
    assert killed_dir.name in stderr
    assert not wait_unlabelled(live_dir.name, timeout=5)
