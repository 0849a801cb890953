"""A misbehaving agent becomes a recorded error verdict, never a pass, a hang or a crash."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import harness, http_agent, only_run, python_agent, read_manifest, trial_records
from tests.procs import wait_gone


def run_suite(
    suite: Path, reports: Path, *extra: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return harness(
        "run", str(suite), "--reports-dir", str(reports), "--no-progress", *extra, timeout=timeout
    )


def verdicts(reports: Path) -> list[dict]:
    return [
        c | {"case": r["case"]["id"], "error": r["observation"]["error"]}
        for r in trial_records(only_run(reports))
        for c in r["checks"]
    ]


@pytest.mark.parametrize(
    ("fn", "expect"),
    [
        ("crash", "RuntimeError: agent blew up"),
        ("exits", "AgentExited: SystemExit(3)"),  # the agent's exit, not the harness's
        ("async_interrupts", "AgentExited: KeyboardInterrupt()"),
        ("hang", "timeout: no reply within 0.5 s"),
        ("garbage", "malformed reply"),
        ("huge", "exceeds the size cap"),
    ],
)
def test_python_agent_failures_are_errors(
    make_suite: Callable[..., Path], tmp_path: Path, fn: str, expect: str
) -> None:
    suite = make_suite(python_agent(fn, timeout=0.5), repeat=2)
    proc = run_suite(suite, tmp_path / "reports")
    assert proc.returncode == 1, proc.stderr
    found = verdicts(tmp_path / "reports")
    assert len(found) == 4
    assert {v["verdict"] for v in found} == {"error"}
    assert all(expect in v["message"] for v in found), found[0]["message"]


@pytest.mark.parametrize(
    ("mode", "expect"),
    [
        ("error500", "HTTP 500: Internal Server Error: boom"),
        ("not_json", "malformed reply: not JSON"),
        ("no_reply_key", "malformed reply: no 'reply'"),
        ("huge", "exceeds the size cap of 100000 bytes"),
        ("hang", "timeout: no reply within 1 s"),
        ("redirect", "HTTP 302"),  # not followed: traffic goes to the agent's address only
        ("null_reply", "malformed reply: 'reply' is null"),  # never an empty reply that passes
    ],
)
def test_http_agent_failures_are_errors(
    make_suite: Callable[..., Path], tmp_path: Path, mode: str, expect: str
) -> None:
    suite = make_suite(http_agent(mode, timeout=1), repeat=2)
    proc = run_suite(suite, tmp_path / "reports")
    assert proc.returncode == 1, proc.stderr
    found = verdicts(tmp_path / "reports")
    assert {v["verdict"] for v in found} == {"error"}
    assert all(expect in v["message"] for v in found), found[0]["message"]
    # the console says why, not only how many: one line for the reason all cases share
    said = [line for line in proc.stderr.splitlines() if line.startswith("  error: ")]
    assert len(said) == 1 and expect in said[0], proc.stderr


def test_agent_dying_mid_run_errors_the_rest_and_the_run_ends(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    suite = make_suite(
        http_agent("die_on_turn"), repeat=4, turns='["hello", "die now"]', concurrency=1
    )
    proc = run_suite(suite, tmp_path / "reports")
    assert proc.returncode == 1, proc.stderr
    found = verdicts(tmp_path / "reports")
    assert len({v["case"] for v in found}) == 4
    assert {v["verdict"] for v in found} == {"error"}
    assert any("connection failed" in v["message"] for v in found)
    assert any(
        "the agent process had exited with code 1; its last lines: agent.log in the run folder"
        in v["message"]
        for v in found
    )
    assert "the agent process exited with code 1 during the run" in proc.stderr


def test_agent_crashing_at_startup_exits_3_with_its_log_redacted(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    suite = make_suite(http_agent("crash_at_start"))
    proc = run_suite(suite, tmp_path / "reports")
    assert proc.returncode == 3, proc.stderr
    assert "exited with code 4 before it was healthy" in proc.stderr
    assert "fatal: cannot connect" in proc.stderr
    assert "s3cretpw" not in proc.stderr
    run_dir = only_run(tmp_path / "reports")
    assert "s3cretpw" not in (run_dir / "agent.log").read_text()
    assert read_manifest(run_dir)["status"] == "failed"
    assert read_manifest(run_dir)["agent"]["pid"]
    assert not wait_gone(run_dir)


def test_hostile_reply_is_text_in_every_report(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    suite = make_suite(python_agent("script"))
    proc = run_suite(suite, tmp_path / "reports")
    assert proc.returncode == 1
    run_dir = only_run(tmp_path / "reports")
    html = (run_dir / "report.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    md = (run_dir / "summary.md").read_text()
    assert "<script>alert(1)" not in md.replace("```text\n<script>alert(1)</script>", "")
    junit = (run_dir / "junit.xml").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in junit


def hunt(suite: Path, reports: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return harness(
        "hunt", str(suite), "--no-progress", *args, "--reports-dir", str(reports), timeout=180
    )


def test_agent_dying_during_a_hunt_stops_it_and_saves_no_regression_case(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    """A dead agent is no divergence of each scenario: the hunt stops (exit 3), saves nothing
    found after the death and still prints its run id."""
    suite = make_suite(http_agent("die_on_turn"), concurrency=1)
    (suite / "scenarios" / "s.yaml").write_text(
        "scenarios:\n"
        "  - id: hello\n"
        "    title: Echo\n"
        '    vars: {n: {decimal: ["1", "1000"]}}\n'
        '    turns: ["hello {{ vars.n }}", "die now"]\n'
        "    checks:\n"
        "      - type: contains\n"
        "        requirements: [T-001]\n"
        "        value: hello\n"
    )
    proc = hunt(suite, tmp_path / "reports", "--budget", "60s")
    assert proc.returncode == 3, proc.stderr
    assert "the agent process exited with code 1 during the hunt" in proc.stderr
    assert not list((suite / "regressions").glob("*.yaml"))
    assert proc.stdout.startswith("run id: ")


def test_a_hunt_whose_select_matches_nothing_starts_nothing_and_exits_2(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    suite = make_suite(http_agent("echo"))
    proc = hunt(suite, tmp_path / "reports", "-k", "nothing-matches")
    assert proc.returncode == 2, proc.stderr
    assert "no scenario of suite t with generated inputs matches nothing-matches" in proc.stderr
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())
