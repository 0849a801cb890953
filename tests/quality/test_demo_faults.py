"""The demo's fault profiles (scenarios/refund_desk/suite.yaml): `harness run --faults NAME`
plays refund-under-faults clean and with the link to PostgreSQL failing during the refund
turn. The honest desk passes both phases (exit 0); false_success_on_timeout fails exactly the
faulted cases' no-claim check (RD-006), and its clean cases pass."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import environ, harness, only_run


def run_faulted(
    reports: Path, profile: str, defects: str
) -> tuple[subprocess.CompletedProcess[str], pd.DataFrame]:
    proc = harness(
        "run", "scenarios/refund_desk", "--faults", profile, "--reports-dir", str(reports),
        "--no-progress", env=environ(REFUND_DESK_DEFECTS=defects), timeout=300,
    )  # fmt: skip
    return proc, pd.read_parquet(only_run(reports, proc.stderr) / "results.parquet")


@pytest.mark.parametrize("profile", ["db-timeout", "db-reset"])
def test_the_honest_desk_passes_both_phases(tmp_path: Path, profile: str) -> None:
    proc, df = run_faulted(tmp_path, profile, "none")
    assert proc.returncode == 0, proc.stderr
    assert set(df["verdict"]) == {"pass"}
    cases = set(df["case_id"])
    assert {c for c in cases if c.endswith(f"~{profile}")}, cases  # the faulted phase ran
    assert {c for c in cases if "~" not in c}, cases  # and the clean one


def test_a_timeout_answered_as_issued_fails_only_the_faulted_claim(tmp_path: Path) -> None:
    proc, df = run_faulted(tmp_path, "db-timeout", "false_success_on_timeout")
    assert proc.returncode == 1, proc.stderr
    bad = df[df["verdict"] != "pass"]
    assert set(bad["check_id"]) == {"no-claim-under-fault"}
    assert set(bad["requirements"]) == {"RD-006"}
    assert all(c.endswith("~db-timeout") for c in bad["case_id"])
    assert len(bad) == len({c for c in df["case_id"] if c.endswith("~db-timeout")})
