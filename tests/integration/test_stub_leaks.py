"""A suite with a stubbed service: the stub is up before the agent (its time to ready said
like every dependency's), answers the agent, and no way out of a run leaves its port
listening (a normal end, Ctrl-C, SIGTERM, kill -9, an agent that fails to start); a call
check or scenario route that cannot be attributed is refused before anything starts."""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

import pytest

from tests.helpers import (
    environ,
    harness,
    only_run,
    read_manifest,
    run_dirs,
    start_harness,
    trial_records,
    wait_for_records,
)
from tests.procs import listening, wait_gone

SPEC = """\
title: t
version: "1"
requirements:
  - id: T-001
    title: Asks compliance
    severity: major
    text: The agent asks compliance.
"""


def make_suite(root: Path, *, match: str = "", routes: str = "", callable_: str = "ask") -> Path:
    (root / "scenarios").mkdir(parents=True)
    (root / "suite.yaml").write_text(
        textwrap.dedent(f"""\
        name: stubbed
        defaults: {{seed: 1, concurrency: 1, case_timeout: 20}}
        environment:
          dependencies:
            compliance:
              kind: http_service
              {match}
              routes:
                - method: POST
                  path: /v1/approvals
                  respond: {{status: 200, json: {{decision: approved}}}}
          agent:
            python:
              callable: tests.agents.stub_caller:{callable_}
              env: {{COMPLIANCE_URL: "{{{{ deps.compliance.url }}}}"}}
        """)
    )
    (root / "spec.yaml").write_text(SPEC)
    (root / "scenarios" / "s.yaml").write_text(
        textwrap.dedent(f"""\
        scenarios:
          - id: ask
            title: Asks
            repeat: 40
            turns: ["hello"]
            {routes}
            checks:
              - type: contains
                requirements: [T-001]
                value: approved
        """)
    )
    return root


def stub_port(run_dir: Path) -> int:
    [dep] = [d for d in read_manifest(run_dir)["dependencies"] if d["kind"] == "http_service"]
    assert dep["provider"] == "embedded" and dep["ready_seconds"] < 1.0, dep
    return int(dep["extra"]["port"])


def test_a_run_with_a_stub_says_its_time_and_leaves_no_port(tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite")
    done = harness(
        "run", str(suite), "--reports-dir", str(tmp_path / "r"), "--repeat", "2",
        env=environ(SLOW="0"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "compliance (http_service) ready in 0." in done.stdout + done.stderr
    run_dir = only_run(tmp_path / "r", done.stderr)
    replies = [r for r in trial_records(run_dir)]
    assert replies, "no case recorded"
    assert not listening(stub_port(run_dir))
    assert not wait_gone(run_dir)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_no_way_out_leaves_the_stub_listening(tmp_path: Path, sig: int) -> None:
    suite = make_suite(tmp_path / "suite")
    proc = start_harness(
        "run", str(suite), "--reports-dir", str(tmp_path / "r"), "--no-progress",
        env=environ(SLOW="0.3"),
    )  # fmt: skip
    run_dir = wait_for_records(tmp_path / "r", proc, 2)
    port = stub_port(run_dir)
    assert listening(port), "the stub is not up while the run goes"
    os.kill(proc.pid, sig)
    proc.communicate(timeout=60)
    assert proc.returncode == (130 if sig != signal.SIGKILL else -signal.SIGKILL)
    assert not listening(port), f"the stub's port {port} outlived the run ({sig.name})"
    assert not wait_gone(run_dir)


def test_an_agent_failing_at_start_leaves_no_stub(tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite", callable_="no_such_function")
    done = harness("run", str(suite), "--reports-dir", str(tmp_path / "r"), "--no-progress")
    assert done.returncode in (2, 3), done.stderr
    for run_dir in run_dirs(tmp_path / "r"):
        deps = read_manifest(run_dir).get("dependencies") or []
        for dep in deps:
            assert not listening(int(dep["extra"]["port"]))


def test_routes_without_match_are_refused_above_concurrency_one(tmp_path: Path) -> None:
    routes = "services: {compliance: [{path: /v1/approvals, respond: {status: 503}}]}"
    suite = make_suite(tmp_path / "suite", routes=routes)
    refused = harness("run", str(suite), "--reports-dir", str(tmp_path / "r"), "-c", "2")
    assert refused.returncode == 2, refused.stderr
    assert "scenarios/s.yaml:6:" in refused.stderr and "services.compliance" in refused.stderr
    assert "match: traceparent" in refused.stderr and "--concurrency 1" in refused.stderr
    assert not run_dirs(tmp_path / "r"), "a refused run left its folder"
    # at concurrency 1 the same suite runs
    ok = harness(
        "run", str(suite), "--reports-dir", str(tmp_path / "r"), "-c", "1", "--repeat", "1"
    )
    assert ok.returncode in (0, 1), ok.stderr
    matched = make_suite(tmp_path / "matched", routes=routes, match="match: traceparent")
    assert harness("validate", str(matched)).returncode == 0
    warned = harness("validate", str(suite))
    assert (
        warned.returncode == 0
        and "warning" in warned.stderr
        and "services.compliance" in (warned.stderr)
    )


def test_a_scenario_route_answers_its_own_case_in_a_run(tmp_path: Path) -> None:
    routes = "services: {compliance: [{path: /v1/approvals, respond: {status: 503}}]}"
    suite = make_suite(tmp_path / "suite", routes=routes)
    done = harness(
        "run", str(suite), "--reports-dir", str(tmp_path / "r"), "-c", "1", "--repeat", "1"
    )
    assert done.returncode == 1, done.stderr  # its check wants "approved"; the scenario said 503
    [record] = trial_records(only_run(tmp_path / "r"))
    assert "compliance said 503" in str(record)


def test_a_call_slower_than_the_agents_timeout_is_still_the_cases(tmp_path: Path) -> None:
    """The scenario's route answers after 30 s, the agent gives up after 0.5 s: the request
    arrived while the case ran, so it is the case's (a call check counts it, marked still
    being answered), never a request of no case; the run says nothing of one."""
    routes = "services: {compliance: [{path: /v1/approvals, respond: {status: 200, latency: 30s}}]}"
    suite = make_suite(tmp_path / "suite", routes=routes)
    scenario = suite / "scenarios" / "s.yaml"
    scenario.write_text(
        scenario.read_text().replace(
            "value: approved",
            "value: nothing in time\n"
            "      - {type: call, requirements: [T-001], service: compliance, count: 1}",
        )
    )
    done = harness(
        "run", str(suite), "--reports-dir", str(tmp_path / "r"), "-c", "1", "--repeat", "1",
        env={**os.environ, "TIMEOUT": "0.5"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "belonged to no case" not in done.stderr + done.stdout
    [record] = trial_records(only_run(tmp_path / "r"))
    [request] = record["observation"]["requests"]
    assert (request["pending"], request["status"], request["answered_by"]) == (
        True, 0, "scenario"
    )  # fmt: skip
    [dep] = [d for d in read_manifest(only_run(tmp_path / "r"))["dependencies"]]
    assert dep["extra"]["requests_of_no_case"] == 0


def test_an_agent_that_drops_the_traceparent_gets_no_false_pass(tmp_path: Path) -> None:
    """`match: traceparent`, and the agent sends none on its outgoing call: its request is
    of no case, so "compliance was never called" cannot be judged: an error saying why."""
    suite = make_suite(tmp_path / "suite", match="match: traceparent")
    scenario = suite / "scenarios" / "s.yaml"
    scenario.write_text(
        scenario.read_text().replace(
            "value: approved",
            "value: approved\n"
            "      - {id: never, type: call, requirements: [T-001], service: compliance,"
            " absent: true}",
        )
    )
    done = harness(
        "run", str(suite), "--reports-dir", str(tmp_path / "r"), "-c", "2", "--repeat", "1"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    [record] = trial_records(only_run(tmp_path / "r"))
    [check] = [c for c in record["checks"] if c["check_id"] == "never"]
    assert check["verdict"] == "error", check
    assert "carried no traceparent of a case in flight" in check["message"]
    assert record["observation"]["requests_stray"] == {"compliance": 1}
