"""Tables every report computes from a run's results: plain rows (harness/runlog/frame.py's
`results_rows`), or a pandas frame of them (`harness compare`, `trend`, `signoff` and users'
code read `RunFolder.frame()`), taken as rows by `as_rows`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.core import SWEEP_CASE
from harness.runlog.frame import COLUMNS as COLUMNS
from harness.runlog.frame import Row as Row
from harness.runlog.models import RequirementInfo

if TYPE_CHECKING:
    import pandas as pd


def as_rows(results: list[Row] | pd.DataFrame) -> list[Row]:
    """The results as plain rows; a frame's rows as dicts of plain values, its missing values
    (NaN in a text column of pandas' own string type) as None, as the rows hold them (pandas
    is never imported here: a frame comes from code that imported it)."""
    if isinstance(results, list):
        return results
    return [
        {str(k): None if type(v) is float and v != v else v for k, v in row.items()}
        for row in results.to_dict("records")
    ]


def per_requirement(rows: list[Row], requirements: Sequence[RequirementInfo]) -> list[Row]:
    """Pass rate per requirement; errors count as not passed; requirements without checks stay.
    `pass_rate` is None when no check judged it."""
    # counted per distinct requirements text first, split once each (a 100,000-case run has
    # a few distinct texts and hundreds of thousands of rows)
    by_text: dict[tuple[Any, Any], int] = {}
    cases_of: dict[Any, set[Any]] = {}
    for row in rows:
        text = row["requirements"]
        if _missing(text):
            continue
        key = (text, row["verdict"])
        by_text[key] = by_text.get(key, 0) + 1
        case = row["case_id"]
        if case != SWEEP_CASE and not _missing(case):  # the sweep is no case
            mine_cases = cases_of.get(text)
            if mine_cases is None:
                mine_cases = cases_of[text] = set()
            mine_cases.add(case)
    counts: dict[str, dict[str, int]] = {}
    cases: dict[str, set[Any]] = {}
    for (text, verdict), n in by_text.items():
        for rid in str(text).split(","):
            mine = counts.setdefault(rid, {})
            mine[verdict] = mine.get(verdict, 0) + n
    for text, mine_cases in cases_of.items():
        for rid in str(text).split(","):
            cases.setdefault(rid, set()).update(mine_cases)
    out = []
    for req in requirements:
        rid = req.id
        row = counts.get(rid, {})
        passed, failed, errored = (row.get(v, 0) for v in ("pass", "fail", "error"))
        total = passed + failed + errored
        out.append(
            {
                "requirement": rid,
                "severity": req.severity,
                "title": req.title,
                "cases": len(cases.get(rid, ())) if total else 0,
                "checks": total,
                "pass": passed,
                "fail": failed,
                "error": errored,
                "pass_rate": (passed / total) if total else None,
            }
        )
    return out


def divergences(rows: list[Row]) -> list[Row]:
    """Every failed or errored check, worst first (critical requirement ids sort by id)."""
    bad = [r for r in rows if r["verdict"] != "pass"]
    return sorted(
        bad,
        key=lambda r: (r["requirements"], r["scenario"], r["check_id"], r["case_id"], r["trial"]),
    )


def _missing(value: Any) -> bool:
    """None, or NaN (a frame's missing value)."""
    return value is None or (isinstance(value, float) and value != value)
