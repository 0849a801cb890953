"""The known regressions a run replayed, each judged by its own file: the requirement and
check the file was saved for, and its root cause (`shape`).

A replayed case still fails when its own check fails again, or when another check of it
fails with the file's root cause (the same requirement, check type, verdict, failure kind
and differing columns). Other checks the replayed case fails are reported as such, never
as the file still failing: they are failures of this run, not the one the file keeps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.core import FailureShape
from harness.core.failures import differing_columns
from harness.empty import empty_list
from harness.report.frame import Row, as_rows

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class KnownRegression:
    case_id: str
    requirement: str  # the file's own requirement
    check: str  # the file's own check
    verdict: str  # pass (its own failure did not come back), fail, or error (not judged)
    #: the check that showed the file's root cause when its own check did not
    cause_check: str = ""
    #: other checks the replayed case failed ("check (REQ-1)") or could not judge (", error")
    others: list[str] = field(default_factory=empty_list)
    #: whether any of `others` could not be judged (then they "did not pass", not "failed")
    others_errored: bool = False

    @property
    def now(self) -> str:
        """What became of it, in words (the reports' "now" column, without the mark)."""
        if self.verdict == "pass":
            said = "passing"
        elif self.verdict == "error":
            said = "could not be judged (error)"
        elif self.cause_check:
            said = f"still failing (its root cause, through check {self.cause_check})"
        else:
            said = "still failing"
        if not self.others:
            return said
        others = "; ".join(self.others)
        did = "did not pass" if self.others_errored else "failed"
        if self.verdict == "pass":
            return f"passes its own check; other checks {did}: {others}"
        return f"{said}; other checks {did} too: {others}"


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def row_shape(row: Mapping[str, Any]) -> FailureShape:
    """The root cause one failing row shows, as a hunt computes it (CaseResult.shape)."""
    verdict = str(row["verdict"])
    kind = _text(row.get("failure_kind")) if verdict == "error" else ""
    columns = differing_columns(row.get("expected"), row.get("found")) if not kind else ()
    requirement = str(row["requirements"]).split(",")[0]
    return FailureShape(requirement, str(row["check_type"]), verdict, kind, columns)


def known_regressions(results: list[Row] | pd.DataFrame) -> list[KnownRegression]:
    """Each replayed regression case (over its trials), judged by its own file: fail when its
    own check failed again or another check showed the file's root cause; error when its own
    check was not judged (missing, or an error); pass otherwise. Every other check that did
    not pass is listed under `others`."""
    out = []
    by_case: dict[Any, list[Row]] = {}  # in the order the cases first appear
    for row in as_rows(results):
        if row["origin"] == "regression":
            by_case.setdefault(row["case_id"], []).append(row)
    for case_id, rows in by_case.items():
        first = rows[0]
        wanted = [t for t in _text(first.get("target")).split(",") if t]
        check = wanted[0] if wanted else ""
        mine = [r for r in rows if r["check_id"] == check]
        requirement = _text(first.get("own_requirement"))
        if not requirement and mine:  # a record written before files said so
            requirement = str(mine[0]["requirements"]).split(",")[0]
        shape = FailureShape.parse(_text(first.get("own_shape")))
        bad = [r for r in rows if r["verdict"] != "pass"]
        same = [
            str(r["check_id"])
            for r in bad
            if r["check_id"] != check and shape is not None and row_shape(r) == shape
        ]
        verdicts = {r["verdict"] for r in mine}
        if "fail" in verdicts or same:
            verdict = "fail"
        elif not mine or "error" in verdicts:
            verdict = "error"
        else:
            verdict = "pass"
        others: dict[str, None] = {}
        others_errored = False
        for r in bad:
            if r["check_id"] in (check, *same):
                continue
            req = str(r["requirements"]).split(",")[0]
            others_errored = others_errored or r["verdict"] == "error"
            others[f"{r['check_id']} ({req}{', error' if r['verdict'] == 'error' else ''})"] = None
        trials = len({r["trial"] for r in rows})
        own_failed = [r["trial"] for r in mine if r["verdict"] == "fail"]
        failed = len(set(own_failed) | {r["trial"] for r in bad if r["check_id"] in same})
        label = str(case_id)
        if trials > 1:  # a flaky case's many trials: how often it showed
            label += f" ({trials} trials, failed in {failed})" if failed else f" ({trials} trials)"
        out.append(
            KnownRegression(
                label,
                requirement,
                check,
                verdict,
                cause_check="" if own_failed else (same[0] if same else ""),
                others=list(others),
                others_errored=others_errored,
            )
        )
    return out
