"""Only load reveals refund_race: the spike profile catches the double refund with the rows
as evidence, while every single request passes; with no defect the same load finds nothing.
The demo's customers have unique emails (per-trial identity): a duplicate pair still shares
its case's rows, which is where the race lives.

Real PostgreSQL and Redis (embedded), the real demo agent process, real locust processes.
"""

from __future__ import annotations

import subprocess
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from harness.core import TWIN, CheckResult
from harness.runlog.models import TrialRecord
from harness.runlog.read import read_records
from tests.helpers import environ, harness, only_run, read_manifest
from tests.procs import wait_gone


def load(reports: Path, defects: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    proc = harness(
        "load", "scenarios/refund_desk", "--profile", "spike", "--reports-dir", str(reports),
        "--no-progress", *extra, env=environ(REFUND_DESK_DEFECTS=defects), timeout=240,
    )  # fmt: skip
    run = only_run(reports, proc.stderr)
    assert not wait_gone(run), "the load run left processes behind"
    return proc, run


def not_passing(records: list[TrialRecord]) -> list[tuple[TrialRecord, CheckResult]]:
    return [(r, c) for r in records for c in r.checks if c.verdict != "pass"]


def trials(run: Path) -> list[TrialRecord]:
    return [r for r in read_records(run) if isinstance(r, TrialRecord)]


def assert_pairs_share_rows(records: list[TrialRecord]) -> None:
    """Per-trial identity (unique customer emails) leaves a duplicate on its case's rows:
    only its conversation is its own; every other conversation has a customer of its own."""
    pairs: dict[str, list[TrialRecord]] = defaultdict(list)
    for r in records:
        if r.load is not None and r.load.role in ("first", "second") and r.load.pair:
            pairs[r.load.pair].append(r)
    whole = [p for p in pairs.values() if len(p) == 2]
    assert len(whole) > 5, "duplicates were not sent"
    for first, second in (sorted(p, key=lambda r: r.case.id) for p in whole):
        assert second.case.id == first.case.id + TWIN
        assert second.observation.entities == first.observation.entities  # the same rows
        assert second.observation.session_id != first.observation.session_id
    emails = [
        r.observation.entities["customer"]["email"]
        for r in records
        if "customer" in r.observation.entities and (r.load is None or r.load.role != "second")
    ]
    assert emails and len(set(emails)) == len(emails)


def test_spike_reveals_the_double_refund_with_rows(tmp_path: Path) -> None:
    proc, run = load(tmp_path, "refund_race")
    assert proc.returncode == 1, proc.stderr
    records = trials(run)
    bad = not_passing(records)
    assert bad, "the race went unseen"
    # every divergence is the invariant on a duplicate pair's rows: single requests all pass
    assert {c.check_id for _, c in bad} == {"refunds-within-order-total"}
    assert {r.load.role for r, _ in bad if r.load} <= {"first", "second"}
    assert all(c.verdict == "fail" for _, c in bad)
    singles = [r for r in records if r.load and r.load.role == "single"]
    assert singles and all(c.verdict == "pass" for r in singles for c in r.checks)
    # the evidence: an order refunded twice, beyond its total
    rows = [row for _, c in bad for row in c.found]
    assert any(
        Decimal(str(row["refunded"])) > Decimal(str(row["total"])) and int(row["refunds"]) >= 2
        for row in rows
    )
    assert_pairs_share_rows(records)
    summary = (run / "summary.md").read_text()
    assert "## Load" in summary and "Correctness first degrades at" in summary
    assert "in judged conversations" in summary
    assert "refunds-within-order-total" in summary.split("## Divergences", 1)[1]
    manifest = read_manifest(run)
    assert manifest["kind"] == "load" and manifest["status"] == "finished"
    assert sum(lv["invariant_violations"] for lv in manifest["levels"]) > 0
    sampled = [s for s in manifest["load"]["samples"] if sum(s["violations"].values())]
    assert sampled and sampled[0]["rows"]["refunds-within-order-total"]
    assert "invariant violation" in proc.stderr


def test_the_correct_agent_passes_the_same_spike(tmp_path: Path) -> None:
    proc, run = load(tmp_path, "none")
    assert proc.returncode == 0, proc.stderr
    records = read_records(run)
    assert not [c for r in records for c in r.checks if c.verdict != "pass"]
    manifest = read_manifest(run)
    counts = manifest["load"]["counts"]
    assert counts["pairs"] > 10 and counts["judged"] > 100  # duplicates were really sent
    assert_pairs_share_rows([r for r in records if isinstance(r, TrialRecord)])
    assert {lv["users"] for lv in manifest["levels"]} == {2, 12}
    assert all(lv["pass_rate"] == 1.0 for lv in manifest["levels"])
    assert all(not sum(s["violations"].values()) for s in manifest["load"]["samples"])
    assert "Correctness held at every level, up to 12 users" in (run / "summary.md").read_text()
