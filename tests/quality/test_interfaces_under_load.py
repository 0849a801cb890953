"""The demo agent's other doors under `harness load` and `harness hunt` (issue 11): the load
generator's processes open conversations, capture their ids, read 4xx contract answers and
parse OpenAI streams with the same dialogue code as `harness run`, and the hunt saves what it
finds in the extending suite's own regressions.

Real PostgreSQL and Redis (embedded), the real demo agent process, real locust processes; the
agent's own request log says what was sent (never the harness's account of it).
"""

from __future__ import annotations

import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import yaml

from harness.runlog.models import TrialRecord
from harness.runlog.read import read_records
from tests.helpers import ROOT, copy_demo, environ, harness, only_run
from tests.procs import wait_gone


def load(
    suite: str, reports: Path, defects: str, *extra: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    proc = harness(
        "load", f"scenarios/{suite}", "--profile", "spike", "--reports-dir", str(reports),
        "--no-progress", *extra, env=environ(REFUND_DESK_DEFECTS=defects), timeout=240,
    )  # fmt: skip
    run = only_run(reports, proc.stderr)
    assert not wait_gone(run), "the load run left processes behind"
    return proc, run


def trials(run: Path) -> list[TrialRecord]:
    return [r for r in read_records(run) if isinstance(r, TrialRecord)]


def test_a_spike_through_conversations_shows_the_double_refund(tmp_path: Path) -> None:
    proc, run = load("refund_desk_sessions", tmp_path, "refund_race")
    assert proc.returncode == 1, proc.stderr
    records = trials(run)
    bad = [(r, c) for r in records for c in r.checks if c.verdict != "pass"]
    assert {c.check_id for _, c in bad} == {"refunds-within-order-total"}, {
        (c.check_id, c.message) for _, c in bad
    }
    rows = [row for _, c in bad for row in c.found]
    assert any(Decimal(str(r["refunded"])) > Decimal(str(r["total"])) for r in rows)
    # every conversation was opened by the generator: its captured id in the session, and
    # each turn went to that conversation's URL (the agent's replies name it)
    opened = [r for r in records if r.observation.turns]
    assert opened and all(r.observation.session.get("conversation_id") for r in opened)
    for r in opened:
        cid = r.observation.session["conversation_id"]
        assert [c["purpose"] for c in r.observation.calls][:1] == ["open"]
        assert all(
            t.data is None or t.data.get("conversation_id", cid) == cid for t in r.observation.turns
        )
    ids = [
        r.observation.session["conversation_id"]
        for r in opened
        if r.load and r.load.role != "second"
    ]
    assert len(ids) == len(set(ids)), "two conversations shared an id"


def test_the_correct_agent_passes_the_spike_with_its_contract_answers(tmp_path: Path) -> None:
    proc, run = load("refund_desk_sessions", tmp_path, "none")
    assert proc.returncode == 0, proc.stderr
    records = trials(run)
    assert records and all(c.verdict == "pass" for r in records for c in r.checks)
    # the contract scenarios' expected 4xx answers arrived with their bodies, as in a run
    contract = [
        t for r in records if r.case.scenario.startswith("contract-")
        for t in r.observation.turns if t.status is not None and t.status >= 400
    ]  # fmt: skip
    assert contract and all(isinstance(t.data, dict) and t.data.get("error") for t in contract)


def test_an_openai_gateway_under_load_keeps_histories_streams_and_tokens(tmp_path: Path) -> None:
    proc, run = load("refund_desk_openai", tmp_path, "none", "--limit", "6")
    assert proc.returncode == 0, proc.stderr
    records = trials(run)
    turns = [t for r in records for t in r.observation.turns]
    assert turns and all(t.error is None for t in turns)
    assert all(t.first_byte_ms is not None and t.first_byte_ms <= t.latency_ms for t in turns)
    assert all(t.usage and t.usage.get("completion_tokens", 0) > 0 for t in turns)
    # a later turn's prompt holds the whole history: more prompt tokens than the first's
    longer = [r for r in records if len(r.observation.turns) > 1]
    assert longer and all(
        r.observation.turns[-1].usage["prompt_tokens"]
        > r.observation.turns[0].usage["prompt_tokens"]
        for r in longer
    )


def test_a_hunt_through_the_gateway_saves_its_findings_in_its_own_suite(tmp_path: Path) -> None:
    base = copy_demo(tmp_path)
    gateway = tmp_path / "scenarios" / "refund_desk_openai"
    shutil.copytree(
        ROOT / "scenarios" / "refund_desk_openai", gateway,
        ignore=shutil.ignore_patterns("regressions", ".hypothesis"),
    )  # fmt: skip
    env = environ(
        REFUND_DESK_DEFECTS="all", HARNESS_DEPS="embedded", HARNESS_REPORTS_DIR=str(tmp_path / "r")
    )
    hunt = harness(
        "hunt", str(gateway), "--budget", "25s", "--no-progress", "-k", "gen-amount-formats",
        env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert hunt.returncode == 1, hunt.stderr
    files = sorted((gateway / "regressions").glob("*.yaml"))
    assert files, hunt.stderr
    assert not (base / "regressions").exists()  # each suite keeps its own regression cases
    found = yaml.safe_load(files[0].read_text())
    assert found["requirement"] == "RD-004" and found["scenario"] == "gen-amount-formats"
    replay = harness(
        "replay", f"regression:{found['id']}", str(gateway), "--times", "2",
        env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert replay.returncode == 1, replay.stderr
    assert "same verdict in 2 replays: fail" in replay.stderr
