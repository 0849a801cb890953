"""The demo agent's planted defects must each be caught; the correct agent must pass."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import environ, harness, only_run
from tests.procs import wait_gone


def run_demo(reports: Path, defects: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    proc = harness(
        "run", "--reports-dir", str(reports), "--no-progress",
        env=environ(REFUND_DESK_DEFECTS=defects), timeout=300,
    )  # fmt: skip
    return proc, only_run(reports, proc.stderr)


def failing(run_dir: Path) -> tuple[set[str], set[str]]:
    df = pd.read_parquet(run_dir / "results.parquet")
    bad = df[df["verdict"] != "pass"]
    reqs = {r for cell in bad["requirements"] for r in cell.split(",")}
    return reqs, set(bad["scenario"]) - {"(run)"}


def test_all_defects_are_reported_with_evidence(tmp_path: Path) -> None:
    proc, run_dir = run_demo(tmp_path, "all")
    assert proc.returncode == 1, proc.stderr
    md = (run_dir / "summary.md").read_text()
    for rid in ("RD-001", "RD-002", "RD-003", "RD-004", "RD-005", "RD-006", "RD-012"):
        assert f"FAIL · {rid}" in md, rid
    # the evidence is the conversation and the rows, expected vs found
    assert "Agent replied:" in md and "**Expected:**" in md and "**Found:**" in md
    assert "pending\\_approval" in md  # expected status of the VIP refund, in a rows table
    assert not wait_gone(run_dir)


@pytest.mark.parametrize(
    ("defect", "requirements", "scenarios"),
    [
        ("compliance_bypass", {"RD-002", "RD-006", "RD-011"}, {"above-approval-limit-vip"}),
        # only the cases whose compliance stub answers 503, or answers too late, reveal it
        (
            "fail_open",
            {"RD-002", "RD-006", "RD-011"},
            {"compliance-unavailable", "compliance-timeout"},
        ),
        (
            "comma_decimal",
            {"RD-004", "RD-011"},
            {
                "decimal-comma-amount",
                "thousands-separator-amount",
                "gen-amount-formats",
                "reworded-refund",
            },
        ),
        ("diacritics", {"RD-005"}, {"name-with-diacritics", "name-typed-decomposed", "gen-names"}),
        (
            "window_from_order_date",
            {"RD-003", "RD-011"},
            {"late-delivery-within-window", "last-day-of-window", "gen-window-edge"},
        ),
        ("window_off_by_one", {"RD-003"}, {"last-day-of-window"}),
        ("verification_drift", {"RD-001", "RD-006"}, {"long-chat-never-verified"}),
        ("false_confirmation", {"RD-006"}, {"express-refund"}),
        # a plain run's only fault: refund-after-db-outage's black hole on the refund turn
        ("false_success_on_timeout", {"RD-006"}, {"refund-after-db-outage"}),
        (
            "payout_cutoff_buffer",
            {"RD-012"},
            {"payout-cancel-just-inside", "gen-payout-cutoff-edge"},
        ),
    ],
)
def test_each_defect_diverges_from_exactly_its_requirements(
    tmp_path: Path, defect: str, requirements: set[str], scenarios: set[str]
) -> None:
    proc, run_dir = run_demo(tmp_path, defect)
    assert proc.returncode == 1, proc.stderr
    reqs, found = failing(run_dir)
    assert reqs == requirements
    # a generated scenario plays one seeded sample, which may or may not hit the defect
    assert {s for s in scenarios if not s.startswith("gen-")} <= found <= scenarios


@pytest.mark.parametrize(
    "defect",
    [
        "refund_race",  # only concurrent requests reveal it (harness load)
        "retry_duplicates",  # only a connection lost after PostgreSQL committed reveals it
    ],
)
def test_defects_only_load_or_faults_reveal_pass_every_scenario(
    tmp_path: Path, defect: str
) -> None:
    proc, run_dir = run_demo(tmp_path, defect)
    assert proc.returncode == 0, proc.stderr
    assert failing(run_dir) == (set(), set())


def test_memory_window_passes_every_scenario_at_its_shortest_length(tmp_path: Path) -> None:
    """A plain run plays the drift scenarios with no filler, where the 24-message window still
    holds the preference: only `harness drift` (tests/quality/test_demo_drift.py) reveals it."""
    proc, run_dir = run_demo(tmp_path, "memory_window")
    assert proc.returncode == 0, proc.stderr
    assert failing(run_dir) == (set(), set())
    df = pd.read_parquet(run_dir / "results.parquet")
    judged = df[df["requirements"].str.contains("RD-013")]
    assert len(judged) == 24 and set(judged["verdict"]) == {"pass"}


def test_correct_agent_has_zero_divergences(tmp_path: Path) -> None:
    proc, run_dir = run_demo(tmp_path, "none")
    assert proc.returncode == 0, proc.stderr
    assert "no divergence from the spec" in proc.stderr
    df = pd.read_parquet(run_dir / "results.parquet")
    assert len(df) > 200 and set(df["verdict"]) == {"pass"}
    assert "**No divergence from the spec.**" in (run_dir / "summary.md").read_text()
    assert not wait_gone(run_dir)
