"""A `kind: container` dependency: any image, its ports reachable from templates, its wait
strategy and timeout; a container that does not come up is exit 3 with its image and logs."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from tests.containers.conftest import BASE_IMAGE, run_env, wait_unlabelled
from tests.helpers import ROOT, harness, only_run

SPEC = """\
title: Service
requirements:
  - id: S-001
    title: Answers from the service
    severity: major
    text: The agent's answer comes from the compliance service.
"""
SCENARIOS = """\
scenarios:
  - id: ask
    title: Ask the service
    turns: ["is refund 42 approved?"]
    checks:
      - type: regex
        requirements: [S-001]
        pattern: "^compliance: approved \\\\(asked .* on port [0-9]+, url http://127\\\\.0\\\\.0\\\\.1:[0-9]+\\\\)$"
"""


def make_suite(tmp_path: Path, service: str) -> Path:
    root = tmp_path / "suite"
    (root / "scenarios").mkdir(parents=True)
    (root / "www").mkdir()
    (root / "www" / "answer.txt").write_text("compliance: approved\n")
    (root / "suite.yaml").write_text(
        "name: svc\ndefaults: {seed: 1, concurrency: 1, case_timeout: 20}\n"
        "environment:\n  dependencies:\n    svc:\n"
        + textwrap.indent(textwrap.dedent(service), "      ")
        + f"""  agent:
    python:
      callable: tests.agents.service_agent:ask
      path: [{ROOT}]
      env:
        SERVICE_URL: "{{{{ deps.svc.url }}}}"
        SERVICE_PORT: "{{{{ deps.svc.ports.8080 }}}}"
"""
    )
    (root / "spec.yaml").write_text(SPEC)
    (root / "scenarios" / "s.yaml").write_text(SCENARIOS)
    return root


HTTPD = f"""\
kind: container
image: {BASE_IMAGE}
command: [busybox, httpd, -f, -p, "8080", -h, /www]
ports: [8080]
volumes: [{{host: www, container: /www}}]
"""


def run(suite: Path, reports: Path) -> tuple[int, str]:
    proc = harness("run", str(suite), "--deps", "docker", "--reports-dir", str(reports),
                   "--no-progress", env=run_env(), timeout=180)  # fmt: skip
    return proc.returncode, proc.stderr


def test_a_service_in_a_container_is_reached_through_its_published_port(tmp_path: Path) -> None:
    wait = "wait: {http: {path: /answer.txt, status: 200}, timeout: 30}\n"
    suite = make_suite(tmp_path, HTTPD + wait)
    code, stderr = run(suite, tmp_path / "reports")
    assert code == 0, stderr
    ready = r"✓ svc \(container\) ready in [0-9.]+ s via docker \(harness-local/base:bookworm\)"
    assert re.search(ready, stderr)
    assert not wait_unlabelled(only_run(tmp_path / "reports").name, timeout=5)


def test_the_default_wait_is_a_server_on_the_first_port(tmp_path: Path) -> None:
    code, stderr = run(make_suite(tmp_path, HTTPD), tmp_path / "reports")
    assert code == 0, stderr


def test_a_container_that_exits_at_start_is_exit_3_with_its_image_and_logs(tmp_path: Path) -> None:
    service = f"""\
    kind: container
    image: {BASE_IMAGE}
    command: [sh, -c, "echo loading config; echo 'fatal: no licence key' >&2; exit 7"]
    ports: [8080]
    wait: {{log: "listening", timeout: 30}}
    """
    code, stderr = run(make_suite(tmp_path, service), tmp_path / "reports")
    assert code == 3, stderr
    assert f"container from image {BASE_IMAGE} exited with code 7 during start-up" in stderr
    assert "fatal: no licence key" in stderr and "loading config" in stderr
    assert not wait_unlabelled(only_run(tmp_path / "reports").name, timeout=5)


def test_a_container_not_ready_in_time_is_exit_3_with_its_logs(tmp_path: Path) -> None:
    service = f"""\
    kind: container
    image: {BASE_IMAGE}
    command: [sh, -c, "echo still warming up; sleep 60"]
    ports: [8080]
    wait: {{log: "^ready$", timeout: 2}}
    """
    code, stderr = run(make_suite(tmp_path, service), tmp_path / "reports")
    assert code == 3, stderr
    assert f"container from image {BASE_IMAGE} was not ready within 2s" in stderr
    assert "still warming up" in stderr
    # the start given up on ends in its own thread; nobody must be told about that
    assert "Traceback" not in stderr and "never retrieved" not in stderr, stderr
    assert not wait_unlabelled(only_run(tmp_path / "reports").name, timeout=5)
