"""The demo's fault profiles (scenarios/refund_desk/suite.yaml): `harness run --faults NAME`
plays refund-under-faults clean and with the link to PostgreSQL failing during the refund
turn. The honest desk passes both phases (exit 0, R_fault 1 within noise);
false_success_on_timeout fails exactly the faulted cases' claim-has-row check under db-timeout
(RD-006: "issued" with no row), retry_duplicates their refunded-once check under db-reset
(RD-014: two refund rows, shown as evidence), each beyond noise, and their clean cases pass."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import DEMO, copy_demo, edit_file, environ, harness, only_run, run_id_of


def run_faulted(
    reports: Path, profile: str, defects: str, suite: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], pd.DataFrame]:
    proc = harness(
        "run", str(suite or "scenarios/refund_desk"), "--faults", profile,
        "--reports-dir", str(reports), "--no-progress",
        env=environ(REFUND_DESK_DEFECTS=defects), timeout=300,
    )  # fmt: skip
    return proc, pd.read_parquet(only_run(reports, proc.stderr) / "results.parquet")


def r_fault_line(stderr: str, requirement: str) -> str:
    return next(line for line in stderr.splitlines() if line.strip().startswith(f"{requirement}:"))


@pytest.mark.parametrize("profile", ["db-timeout", "db-reset", "cache-timeout"])
def test_the_honest_desk_passes_both_phases(tmp_path: Path, profile: str) -> None:
    proc, df = run_faulted(tmp_path, profile, "none")
    assert proc.returncode == 0, proc.stderr
    assert set(df["verdict"]) == {"pass"}
    cases = set(df["case_id"])
    assert {c for c in cases if c.endswith(f"~{profile}")}, cases  # the faulted phase ran
    assert {c for c in cases if "~" not in c}, cases  # and the clean one
    for rid in ("RD-006", "RD-014"):
        assert "R_fault 1.00" in r_fault_line(proc.stderr, rid)
        assert "holds under faults within noise" in r_fault_line(proc.stderr, rid)


@pytest.mark.parametrize("profile", ["db-timeout", "cache-timeout"])
def test_a_timeout_answered_as_issued_fails_only_the_faulted_claim(
    tmp_path: Path, profile: str
) -> None:
    """PostgreSQL or Redis (from the rate limit's command on) not answering: the defect says
    the refund was issued with no row written."""
    proc, df = run_faulted(tmp_path, profile, "false_success_on_timeout")
    assert proc.returncode == 1, proc.stderr
    bad = df[df["verdict"] != "pass"]
    assert set(bad["check_id"]) == {"claim-has-row"}
    assert set(bad["requirements"]) == {"RD-006"}
    assert all(c.endswith(f"~{profile}") for c in bad["case_id"])
    assert len(bad) == len({c for c in df["case_id"] if c.endswith(f"~{profile}")})
    assert set(bad["found"]) == {"[]"}  # the rows behind the claim: none
    assert "R_fault 0.00" in r_fault_line(proc.stderr, "RD-006")
    assert "degrades under faults beyond noise" in r_fault_line(proc.stderr, "RD-006")


def test_a_lost_commit_answer_retried_without_a_key_refunds_twice(tmp_path: Path) -> None:
    proc, df = run_faulted(tmp_path, "db-reset", "retry_duplicates")
    assert proc.returncode == 1, proc.stderr
    bad = df[df["verdict"] != "pass"]
    faulted = {c for c in df["case_id"] if c.endswith("~db-reset")}
    assert set(bad["case_id"]) == faulted  # every faulted case, no clean one
    twice = bad[bad["check_id"] == "refunded-once"]
    assert len(twice) == len(faulted)
    assert all('"refunds":2' in found for found in twice["found"])  # the rows as evidence
    # the reply claims one refund, the rows hold two: the claim's check fails too (RD-006)
    assert set(bad["check_id"]) == {"refunded-once", "claim-has-row"}
    assert "R_fault 0.00" in r_fault_line(proc.stderr, "RD-014")
    assert "degrades under faults beyond noise" in r_fault_line(proc.stderr, "RD-014")


def test_a_blip_in_a_profile_without_a_window_is_one_per_case(tmp_path: Path) -> None:
    """`times: 1` with no window: applied per case (each runs alone), so every faulted case
    meets its one lost commit answer, not one case of the whole phase."""
    suite = copy_demo(tmp_path / "copy")
    edit_file(
        suite / "suite.yaml",
        "          from_turn: 2\n          to_turn: 2\n          after_sent:",
        "          after_sent:",
    )
    proc, df = run_faulted(tmp_path / "reports", "db-reset", "retry_duplicates", suite)
    assert proc.returncode == 1, proc.stderr
    faulted = {c for c in df["case_id"] if c.endswith("~db-reset")}
    twice = df[(df["check_id"] == "refunded-once") & (df["verdict"] == "fail")]
    assert set(twice["case_id"]) == faulted and len(faulted) == 6
    assert "hit 6/" in proc.stderr  # one connection a case, six cases


def grouped_signoff(tmp_path: Path, defects: str, policy: str = "") -> dict[str, dict]:
    """The demo's faulted run and a plain run of the same scenario in one --group, the plain
    one signed off with the demo's policy: the faults gate reads the group's faulted run."""
    reports = tmp_path / "reports"
    env = environ(REFUND_DESK_DEFECTS=defects)
    common = ("--reports-dir", str(reports), "--no-progress", "--group", "g")
    faulted = harness("run", "--faults", "db-reset", *common, env=env, timeout=300)
    assert faulted.returncode in (0, 1), faulted.stderr
    plain = harness("run", "-k", "refund-under-faults", *common, env=env, timeout=300)
    assert plain.returncode in (0, 1), plain.stderr
    run = reports / run_id_of(plain)
    path = tmp_path / "policy.yaml"
    path.write_text(policy or (DEMO / "policy.yaml").read_text())
    done = harness(
        "signoff", run.name, "--policy", str(path),
        "--reports-dir", str(reports), env=env,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    data = json.loads((run / "signoff.json").read_text())
    return {g["name"]: g for g in data["gates"]}


def test_the_demo_policy_fails_a_double_refund_in_the_groups_faulted_run(tmp_path: Path) -> None:
    gate = grouped_signoff(tmp_path, "retry_duplicates")["faults"]
    assert gate["status"] == "fail", gate
    assert {"RD-006", "RD-014"} <= set(gate["requirements"])


def test_a_policy_without_a_faults_gate_still_judges_the_groups_faulted_run(
    tmp_path: Path,
) -> None:
    """As hunt findings switch the regressions gate on: no minimum, the faulted run's rule."""
    gates = grouped_signoff(
        tmp_path, "retry_duplicates", "title: t\nk: 1\ngates:\n  invariants: true\n"
    )
    assert gates["faults"]["status"] == "fail", gates["faults"]
    assert {"RD-006", "RD-014"} <= set(gates["faults"]["requirements"])


def test_the_honest_desk_passes_the_demo_policys_faults_gate(tmp_path: Path) -> None:
    gate = grouped_signoff(tmp_path, "none")["faults"]
    assert gate["status"] == "pass" and not gate["requirements"], gate
