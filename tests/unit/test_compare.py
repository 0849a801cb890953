"""Comparing two runs: Fisher's exact test, and which checks are new failures, fixed or flaky."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from harness.report.compare import check_status, fisher_exact
from harness.report.frame import COLUMNS


def test_fisher_exact_matches_the_textbook_values() -> None:
    assert fisher_exact(3, 1, 1, 3) == pytest.approx(0.4857, abs=1e-4)  # the tea-tasting lady
    assert fisher_exact(8, 2, 1, 5) == pytest.approx(0.03497, abs=1e-5)
    assert fisher_exact(0, 5, 5, 0) == pytest.approx(2 / 252)
    assert fisher_exact(50, 0, 50, 0) == 1.0  # nothing failed in either run: no evidence at all
    assert fisher_exact(45, 5, 45, 5) == pytest.approx(1.0)
    assert fisher_exact(50, 0, 45, 5) > 0.05  # 100% vs 90% of 50 trials: could be noise
    assert fisher_exact(240, 0, 230, 10) < 0.01


def _frame(outcomes: dict[tuple[str, str], str]) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for (case, check), marks in outcomes.items():
        for trial, mark in enumerate(marks, start=1):
            row = dict.fromkeys(COLUMNS, "")
            verdict = {"P": "pass", "F": "fail", "E": "error"}[mark]
            message = "" if mark == "P" else f"{check} broke in trial {trial}"
            row.update(
                case_id=case,
                check_id=check,
                trial=trial,
                verdict=verdict,
                requirements="R-1",
                message=message,
            )
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def test_a_check_is_pass_fail_or_flaky_over_its_trials_and_an_error_is_no_pass() -> None:
    status = check_status(_frame({("a", "x"): "PPP", ("a", "y"): "FFE", ("b", "x"): "PEP"}))
    assert status[("a", "x")][0] == "pass"
    assert status[("a", "y")][0] == "fail" and status[("a", "y")][2] == "FFE"
    assert status[("a", "y")][3] == "y broke in trial 1"
    assert status[("b", "x")][0] == "flaky"
