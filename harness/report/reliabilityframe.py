"""Reliability as a table, so that it can be re-read: `reliability.parquet`, one row per
requirement, case, and case and requirement (report/reliability.py's numbers), written from
plain rows through pyarrow (`save_reliability`)."""

from __future__ import annotations

from itertools import repeat
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.report.reliability import Rate, Reliability
from harness.runlog.frame import save_columns
from harness.runlog.models import AnyManifest

if TYPE_CHECKING:
    import pandas as pd

RELIABILITY_COLUMNS = [
    "run_id",
    "suite",
    "scope",  # requirement | case | case-requirement
    "requirement",
    "severity",
    "case_id",
    "scenario",
    "origin",
    "cases",
    "trials",
    "passes",
    "k",
    "pass_at_1",
    "pass_at_1_low",
    "pass_at_1_high",
    "pass_hat_k",
    "pass_hat_k_low",
    "pass_hat_k_high",
    "flaky",  # requirement: how many of its cases are flaky; case: 0 or 1
    "flaky_cases",  # requirement: their ids, comma-separated
    "outcomes",  # case: one mark per trial, P pass, F fail, E error
]


def _rate(prefix: str, rate: Rate) -> dict[str, float | None]:
    return {prefix: rate.value, f"{prefix}_low": rate.low, f"{prefix}_high": rate.high}


#: each column's Arrow type in reliability.parquet (as pandas wrote them)
TYPES = {
    name: "int64"
    if name in ("cases", "trials", "passes", "k", "flaky")
    else "double"
    if name.startswith("pass_")
    else "large_string"
    for name in RELIABILITY_COLUMNS
}


def reliability_frame(rel: Reliability, manifest: AnyManifest) -> pd.DataFrame:
    """The numbers as a pandas table (pandas imported here)."""
    import pandas as pd

    return pd.DataFrame(reliability_rows(rel, manifest), columns=RELIABILITY_COLUMNS)


def save_reliability(rel: Reliability, manifest: AnyManifest, path: Path) -> Path:
    """reliability.parquet, without pandas: the rows of `reliability_rows` built column by
    column (a 100,000-case run has 300,000 of them)."""
    reqs, cases = rel.requirements, [*rel.cases, *rel.by_requirement]
    r, c = len(reqs), len(cases)
    none_r, none_c = [None] * r, [None] * c
    outcomes = list(map(attrgetter("outcomes"), cases))
    trials = list(map(len, outcomes))  # a case's trials, passes: its outcomes' marks
    passes = list(map(str.count, outcomes, repeat("P")))
    rids = list(map(attrgetter("requirement"), cases))

    def of(name: str) -> list[Any]:
        return list(map(attrgetter(name), reqs))

    def rates(name: str) -> dict[str, list[Any]]:
        out = {}
        measured = of(name) + list(map(attrgetter(name), cases))
        for suffix, field in (("", "value"), ("_low", "low"), ("_high", "high")):
            out[name + suffix] = list(map(attrgetter(field), measured))
        return out

    columns: dict[str, list[Any]] = {
        "run_id": [manifest.run_id] * (r + c),
        "suite": [manifest.suite] * (r + c),
        # a case's own row has requirement "", its rows per requirement the requirement
        "scope": ["requirement"] * r
        + list(map({"": "case"}.get, rids, repeat("case-requirement"))),
        "requirement": of("requirement") + rids,
        "severity": of("severity") + none_c,
        "case_id": none_r + list(map(attrgetter("case_id"), cases)),
        "scenario": none_r + list(map(attrgetter("scenario"), cases)),
        "origin": none_r + list(map(attrgetter("origin"), cases)),
        "cases": of("cases") + [1] * c,
        "trials": of("trials") + trials,
        "passes": of("passes") + passes,
        "k": [rel.k] * (r + c),
        **rates("pass_at_1"),
        **rates("pass_hat_k"),
        "flaky": [len(x.flaky_cases) for x in reqs]
        + [int(0 < p < n) for n, p in zip(trials, passes, strict=True)],
        "flaky_cases": [",".join(x.flaky_cases) for x in reqs] + none_c,
        "outcomes": none_r + outcomes,
    }
    # a column only one scope has is absent from the other's rows (pandas' NaN, not None)
    absent = {"severity", "flaky_cases"} if not r else set()
    absent |= {"case_id", "scenario", "origin", "outcomes"} if not c else set()
    return save_columns(columns, TYPES, path, absent=absent)


def reliability_rows(rel: Reliability, manifest: AnyManifest) -> list[dict[str, Any]]:
    """The numbers as rows, so that they can be re-read (reliability.parquet)."""
    common = {"run_id": manifest.run_id, "suite": manifest.suite, "k": rel.k}
    rows: list[dict[str, Any]] = []
    for r in rel.requirements:
        rows.append(
            {
                **common,
                "scope": "requirement",
                "requirement": r.requirement,
                "severity": r.severity,
                "cases": r.cases,
                "trials": r.trials,
                "passes": r.passes,
                **_rate("pass_at_1", r.pass_at_1),
                **_rate("pass_hat_k", r.pass_hat_k),
                "flaky": len(r.flaky_cases),
                "flaky_cases": ",".join(r.flaky_cases),
            }
        )
    for c in [*rel.cases, *rel.by_requirement]:
        rows.append(
            {
                **common,
                "scope": "case-requirement" if c.requirement else "case",
                "requirement": c.requirement,
                "case_id": c.case_id,
                "scenario": c.scenario,
                "origin": c.origin,
                "cases": 1,
                "trials": c.trials,
                "passes": c.passes,
                **_rate("pass_at_1", c.pass_at_1),
                **_rate("pass_hat_k", c.pass_hat_k),
                "flaky": int(c.flaky),
                "outcomes": c.outcomes,
            }
        )
    return rows
