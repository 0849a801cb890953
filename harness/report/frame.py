"""Tables every report computes from a run's results frame (harness/runlog/frame.py)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from harness.core import SWEEP_CASE
from harness.runlog.frame import COLUMNS as COLUMNS
from harness.runlog.models import RequirementInfo


def per_requirement(frame: pd.DataFrame, requirements: Sequence[RequirementInfo]) -> pd.DataFrame:
    """Pass rate per requirement; errors count as not passed; requirements without checks stay."""
    exploded = frame.assign(requirement=frame["requirements"].str.split(",")).explode("requirement")
    counts = (
        exploded.groupby(["requirement", "verdict"]).size().unstack(fill_value=0)
        if len(exploded)
        else pd.DataFrame()
    )
    out = []
    for req in requirements:
        rid = req.id
        row: dict[str, int] = {}
        if rid in counts.index:
            row = {str(k): int(str(v)) for k, v in counts.loc[rid].items()}
        passed, failed, errored = (int(row.get(v, 0)) for v in ("pass", "fail", "error"))
        total = passed + failed + errored
        mine = exploded.loc[exploded["requirement"] == rid, "case_id"]
        cases = mine[mine != SWEEP_CASE].nunique() if total else 0  # the sweep is no case
        out.append(
            {
                "requirement": rid,
                "severity": req.severity,
                "title": req.title,
                "cases": cases,
                "checks": total,
                "pass": passed,
                "fail": failed,
                "error": errored,
                "pass_rate": (passed / total) if total else float("nan"),
            }
        )
    return pd.DataFrame(out)


def divergences(frame: pd.DataFrame) -> pd.DataFrame:
    """Every failed or errored check, worst first (critical requirement ids sort by id)."""
    bad = frame[frame["verdict"] != "pass"]
    return bad.sort_values(["requirements", "scenario", "check_id", "case_id", "trial"])
