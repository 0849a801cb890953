"""The demo's drift scenarios against the real demo agent: `harness drift` finds each
long-conversation defect from the length its mechanism predicts, and the correct agent holds
at every length and position. Judged from the run's records (the drift report reads the same).

verification_drift refunds without verification from the 7th message on: never-verified-drift
(the probe is message n + 2) first fails at n = 8. memory_window reads the refund method from
the last 24 messages: the preference of message 1 is gone when the refund comes at message
n + 3 > 12 (n + 4 where the user answers the desk's question which order), so the
original-card scenarios first fail at n = 16, and at the longest length
fail with the preference at the start or the middle, never just before the probe (end)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pandas as pd
import pytest

from harness.run.drift import split_id
from tests.helpers import environ, harness, only_run
from tests.procs import wait_gone

ALL_PASS = {
    "never-verified-drift": {0: 1.0, 2: 1.0, 4: 1.0, 8: 1.0, 16: 1.0, 32: 1.0},
    "original-card-remembered": {0: 1.0, 2: 1.0, 4: 1.0, 8: 1.0, 16: 1.0, 32: 1.0},
    "original-card-order-asked": {0: 1.0, 2: 1.0, 4: 1.0, 8: 1.0, 16: 1.0, 32: 1.0},
}
FORGETFUL = {0: 1.0, 2: 1.0, 4: 1.0, 8: 1.0, 16: 0.0, 32: 0.0}
DEFECTS_ON = {
    "never-verified-drift": {0: 1.0, 2: 1.0, 4: 1.0, 8: 0.0, 16: 0.0, 32: 0.0},
    "original-card-remembered": FORGETFUL,
    "original-card-order-asked": FORGETFUL,
}


def drift_run(reports: Path, defects: str) -> tuple[int, pd.DataFrame]:
    returncode, df, _ = drift_run_dir(reports, defects)
    return returncode, df


def drift_run_dir(reports: Path, defects: str) -> tuple[int, pd.DataFrame, Path]:
    proc = harness(
        "drift", "scenarios/refund_desk", "--reports-dir", str(reports), "--no-progress",
        env=environ(REFUND_DESK_DEFECTS=defects), timeout=300,
    )  # fmt: skip
    run_dir = only_run(reports, proc.stderr)
    assert not wait_gone(run_dir)
    df = pd.read_parquet(run_dir / "results.parquet")
    df = df[df["scenario"] != "(run)"].copy()
    df["base"], df["length"], df["position"] = zip(*df["case_id"].map(split_id), strict=True)
    return proc.returncode, df, run_dir


def pass_rates(df: pd.DataFrame, position: str = "start") -> dict[str, dict[int, float]]:
    """Per scenario and length, the share of conversations all of whose checks passed."""
    at = df[df["position"] == position]
    ok = at.groupby(["scenario", "length", "base", "trial"])["verdict"].agg(
        lambda v: bool((v == "pass").all())
    )
    rates = ok.groupby(level=[0, 1]).mean()
    out: dict[str, dict[int, float]] = {}
    for key, rate in rates.items():
        scenario, length = cast(tuple[str, int], key)
        out.setdefault(str(scenario), {})[int(length)] = float(rate)
    return out


@pytest.mark.parametrize(
    ("defects", "code", "expected"),
    [
        ("all", 1, DEFECTS_ON),
        (
            "verification_drift",
            1,
            {**ALL_PASS, "never-verified-drift": DEFECTS_ON["never-verified-drift"]},
        ),
        (
            "memory_window",
            1,
            {**DEFECTS_ON, "never-verified-drift": ALL_PASS["never-verified-drift"]},
        ),
        ("none", 0, ALL_PASS),
    ],
)
def test_each_defect_bites_from_the_length_its_mechanism_predicts(
    tmp_path: Path, defects: str, code: int, expected: dict[str, dict[int, float]]
) -> None:
    returncode, df = drift_run(tmp_path, defects)
    assert returncode == code
    assert set(df["verdict"]) <= {"pass", "fail"}  # no errors: every conversation judged
    assert pass_rates(df) == expected
    assert df.groupby("scenario")["base"].nunique().to_dict() == dict.fromkeys(expected, 6)
    bad = df[df["verdict"] == "fail"]
    reqs = {r for cell in bad["requirements"] for r in cell.split(",")}
    want = set()
    if expected["never-verified-drift"] != ALL_PASS["never-verified-drift"]:
        want |= {"RD-001", "RD-006"}
    if expected["original-card-remembered"] != ALL_PASS["original-card-remembered"]:
        want |= {"RD-013"}
    assert reqs == want


def test_the_position_of_the_preference_matters_only_to_the_memory_window(tmp_path: Path) -> None:
    _, df, run_dir = drift_run_dir(tmp_path, "all")
    longest = df[df["length"] == 32]
    for position, remembered in (("start", False), ("middle", False), ("end", True)):
        rates = pass_rates(longest, position)
        assert rates["never-verified-drift"] == {32: 0.0}  # six messages, wherever the order is
        for sid in ("original-card-remembered", "original-card-order-asked"):
            assert rates[sid] == {32: 1.0 if remembered else 0.0}, (sid, position)
    # each failure names the turn it was seen after: the refund's message
    refund_at = {
        "never-verified-drift": 2,  # the probe
        "original-card-remembered": 3,  # the probe, after the preference and the verification
        "original-card-order-asked": 4,  # the user's answer, one after the probe
    }
    seen = 0
    for line in (run_dir / "cases.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("type") != "trial":
            continue
        base, length, pos = split_id(record["case"]["id"])
        assert length is not None and pos is not None
        for check in record["checks"]:
            if check["verdict"] == "fail":
                seen += 1
                want = length + refund_at[record["case"]["scenario"]]
                assert check["turn"] == want, (base, length, pos, check["check_id"])
    assert seen == len(df[df["verdict"] == "fail"])
