"""The sign-off's regressions gate: every known failure must have been replayed by the
signed-off run and passed there.

Known failures are the regression cases the run started with, the regression files
the suite holds now (a hunt may have saved more since the run started), and every
divergence a hunt of the run's group found. One the run did not replay fails the
gate, as does one that still fails, and one a hunt found but did not save (a plain
hunt): no run can show it fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.report.frame import Row, as_rows
from harness.report.gates import FAIL, NOT_MEASURED, PASS, GateResult
from harness.report.reliability import REGRESSION_ORIGIN
from harness.report.view import ReportView
from harness.runlog.models import AnyManifest, HuntManifest
from harness.runlog.read import RunFolder
from harness.spec.policy import Gate
from harness.spec.suite import REGRESSIONS_DIR

if TYPE_CHECKING:
    import pandas as pd

PREFIX = "regression:"  # a regression case's id (harness.run.regressions.PREFIX)
SHOWN = 10


@dataclass(frozen=True)
class HuntFinding:
    hunt: str  # the hunt's run id
    requirement: str
    case_id: str
    check: str
    regression_id: str | None  # "regression:<file stem>" when the hunt saved it


def hunt_findings(related: list[RunFolder]) -> list[HuntFinding]:
    """Every divergence the hunts among the related runs found, in their order."""
    out = []
    for run in related:
        if not isinstance(run.manifest, HuntManifest):
            continue
        for f in run.manifest.found:
            out.append(
                HuntFinding(run.run_id, f.requirement, f.case_id, f.check, f.regression_id or None)
            )
    return out


def saved_regressions(manifest: AnyManifest) -> set[str] | None:
    """The ids of the regression files the suite's folder holds now; None without it."""
    path = manifest.suite_path
    root = Path(str(path)) if path else None
    if root is None or not root.is_dir():
        return None
    return {PREFIX + p.stem for p in (root / REGRESSIONS_DIR).glob("*.yaml")}


def _shown(items: list[str]) -> str:
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def regressions_gate(
    gate: Gate,
    view: ReportView,
    results: list[Row] | pd.DataFrame,
    manifest: AnyManifest,
    found: list[HuntFinding],
    implied: bool = False,
) -> GateResult:
    """implied: the policy has no regressions gate, but a hunt of the group found
    divergences, which are never left unjudged."""
    result = GateResult(
        "regressions",
        "Every known failure (saved regression cases, hunt findings of the group) replayed "
        "by this run, and none still failing"
        + (" (on because a hunt of the group found divergences)" if implied else ""),
        PASS,
        gate.optional,
    )
    ran = {str(r["case_id"]) for r in as_rows(results) if r["origin"] == REGRESSION_ORIGIN}
    for r in view.regressions:
        if r.verdict != "pass":
            result.findings.append(f"{r.case_id} still fails {r.requirement} (check {r.check})")
            if r.requirement and r.requirement not in result.requirements:
                result.requirements.append(r.requirement)
    at_start = set(manifest.regressions)
    on_disk = saved_regressions(manifest)
    by_hunt = {f.regression_id: f for f in found if f.regression_id}
    skipped = sorted(at_start - ran)
    if skipped:
        result.findings.append(
            f"{len(skipped)} regression case(s) the run started with were not replayed "
            f"(e.g. left out by -k): {_shown(skipped)}"
        )
    unreadable = {PREFIX + Path(p.split(":")[0]).stem: p for p in manifest.unreadable_regressions}
    for problem in unreadable.values():
        result.findings.append(f"a regression file the run could not replay: {problem}")
    new = sorted(((on_disk or set()) | set(by_hunt)) - ran - at_start - set(unreadable))
    gone = [rid for rid in new if on_disk is not None and rid not in on_disk]
    for rid in new:
        f = by_hunt.get(rid)
        origin = f"saved by hunt {f.hunt} ({f.requirement}, check {f.check})" if f else "on disk"
        if rid in gone:
            result.findings.append(
                f"{rid}, {origin}, was not replayed by this run and its file is gone from the "
                "suite, so no run can: restore the file (e.g. from git), or hunt again"
            )
        else:
            result.findings.append(f"{rid}, {origin}, was not replayed by this run")
        if f and f.requirement and f.requirement not in result.requirements:
            result.requirements.append(f.requirement)
    if len(new) > len(gone):
        result.findings.append(
            f"run harness run again to replay {len(new) - len(gone)} new regression case(s), "
            "then sign that run off"
        )
    for f in found:
        if f.regression_id is None:
            result.findings.append(
                f"hunt {f.hunt} found {f.requirement} diverging in {f.case_id} (check "
                f"{f.check}) but saved no regression case (a plain hunt), so no run can show "
                "it fixed: hunt again without --plain"
            )
            if f.requirement and f.requirement not in result.requirements:
                result.requirements.append(f.requirement)
    expected = at_start | (on_disk or set()) | set(by_hunt) | ran
    result.detail = f"{len(ran)} of {len(expected)} known regression case(s) replayed" + (
        f"; {len(found)} hunt finding(s) in the group" if found else ""
    )
    if on_disk is None:
        result.findings.append(
            f"the suite's folder {manifest.suite_path} is not there, so regression "
            "cases saved since the run started cannot be checked"
        )
    fails = bool(view.regressions_failing or skipped or new or unreadable) or any(
        f.regression_id is None for f in found
    )
    result.status = FAIL if fails else (NOT_MEASURED if on_disk is None else PASS)
    return result
