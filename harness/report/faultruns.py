"""Faulted runs among other runs: `harness compare` of two runs either of which ran with a fault
profile (per requirement its R_fault before and after, and whether it degrades beyond noise
in each), and the faulted runs of a suite's history for `harness trend` (each run's R_fault
per requirement, listed apart from the charts, which leave out a faulted run whose profile
plays only some of the scenarios and count the clean phase only of one that plays them all).

The numbers are each run's own (report/faults.py); nothing here tests anew. HEAD is worse
when a requirement degrades beyond noise under faults in HEAD and did not in BASE (the rule
that makes a faulted run red on its own), under the same profile; other profiles are noted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.events import Status
from harness.empty import empty_list
from harness.report.faults import FaultsSummary, RequirementFaults, summarize_faults
from harness.report.reliability import interval, percent
from harness.report.text import cell
from harness.runlog.history import stored_runs
from harness.runlog.read import RunFolder


def _summary(run: RunFolder, records: Sequence[object] | None = None) -> FaultsSummary | None:
    if not (run.dir / "cases.jsonl").is_file():
        return None
    s = summarize_faults(run, records)
    return s if s is not None and s.profile is not None else None


def r_text(r: RequirementFaults | None) -> str:
    """R_fault with its interval, or — when not measured."""
    if r is None or r.numbers.r_fault.value is None:
        return "—"
    rate = r.numbers.r_fault
    low, high = rate.low or 0.0, rate.high or 0.0
    return f"{rate.value:.2f} [{low:.2f}, {high:.2f}]"


@dataclass
class FaultChange:
    requirement: str
    severity: str
    base: RequirementFaults | None  # None: not judged under faults in BASE
    head: RequirementFaults | None
    comparable: bool = True  # both runs ran the same profile

    @property
    def direction(self) -> str:
        """worse, better or same: by whether it degrades beyond noise under faults."""
        before = self.base is not None and self.base.numbers.degraded
        after = self.head is not None and self.head.numbers.degraded
        if not self.comparable or self.base is None or self.head is None or before == after:
            return "same"
        return "worse" if after else "better"


@dataclass
class FaultComparison:
    base_profile: str | None
    head_profile: str | None
    changes: list[FaultChange] = field(default_factory=empty_list)
    notes: list[str] = field(default_factory=empty_list)

    @property
    def worse(self) -> list[FaultChange]:
        return [c for c in self.changes if c.direction == "worse"]

    @property
    def new_degraded(self) -> list[FaultChange]:
        """Degraded under faults in HEAD, not judged under faults in BASE (as a failing case
        BASE did not have is a new failure), unless BASE ran another fault profile."""
        if self.base_profile not in (None, self.head_profile):
            return []
        return [c for c in self.changes if c.base is None and c.head and c.head.numbers.degraded]


def compare_faults(
    base: RunFolder, head: RunFolder, records: tuple[Sequence[object] | None, ...] = (None, None)
) -> FaultComparison | None:
    """Per requirement judged under faults in either run: its R_fault in both (from their
    records when given, read once by the caller); None when neither had a fault profile."""
    before, after = _summary(base, records[0]), _summary(head, records[1])
    if before is None and after is None:
        return None
    out = FaultComparison(before.profile if before else None, after.profile if after else None)
    for run, s in ((base, before), (head, after)):
        if s is None:
            out.notes.append(f"run {run.run_id} ran no fault profile: R_fault only in the other")
    if before is not None and after is not None and before.profile != after.profile:
        out.notes.append(
            f"the runs ran other fault profiles ({before.profile} vs {after.profile}): their "
            "R_fault measure different faults, so none is called worse"
        )
    b = {r.requirement: r for r in before.measured} if before else {}
    h = {r.requirement: r for r in after.measured} if after else {}
    same = before is not None and after is not None and before.profile == after.profile
    for rid in [*h, *(r for r in b if r not in h)]:
        r = h.get(rid) or b[rid]
        out.changes.append(FaultChange(rid, r.severity, b.get(rid), h.get(rid), same))
    return out


def _verdict(r: RequirementFaults | None) -> str:
    return "not judged under faults" if r is None else r.verdict


def compare_markdown(d: FaultComparison) -> list[str]:
    out = [
        f"## Faults: R_fault per requirement ({d.base_profile or 'no profile'} -> "
        f"{d.head_profile or 'no profile'})",
        "",
    ]
    out += [f"> note: {n}" for n in d.notes]
    if d.notes:
        out.append("")
    if not d.changes:
        return [*out, "Nothing to compare.", ""]
    out += [
        "| requirement | severity | R_fault base -> head | base | head |",
        "|---|---|---|---|---|",
    ]
    for c in d.changes:
        mark = {"worse": "▼ ", "better": "▲ "}.get(c.direction, "")
        out.append(
            f"| {mark}{cell(c.requirement)} | {cell(c.severity)} | {r_text(c.base)} -> "
            f"{r_text(c.head)} | {cell(_verdict(c.base))} | {cell(_verdict(c.head))} |"
        )
    worse = ", ".join(c.requirement for c in d.worse) or "none"
    out += ["", f"Degrades under faults in HEAD, not in BASE: {worse}."]
    new = [c.requirement for c in d.new_degraded]
    if new:  # no direction without a base, but not to be left unsaid
        out.append(
            f"Degrades under faults in HEAD, not judged under faults in BASE: {', '.join(new)}."
        )
    return [*out, ""]


# ---------------------------------------------------------------------------- trend


@dataclass
class FaultRun:
    """One finished faulted run of a suite, as the trend lists it."""

    run: RunFolder
    summary: FaultsSummary


def fault_history(root: Path, suite: str, last: int) -> list[FaultRun]:
    """The suite's last finished runs with a fault profile, oldest first."""
    runs = [
        r
        for r in stored_runs(root)
        if r.kind == "run" and r.suite == suite and r.manifest.status == Status.FINISHED
    ]
    out = [FaultRun(r, s) for r in runs if (s := _summary(r)) is not None]
    return out[-last:]


def trend_rows(history: list[FaultRun]) -> list[dict[str, object]]:
    """Per requirement, one row per faulted run: its profile, pass rates, R_fault, verdict."""
    rids: list[str] = []
    for h in history:
        rids += [r.requirement for r in h.summary.measured if r.requirement not in rids]
    rows: list[dict[str, object]] = []
    for rid in rids:
        for h in history:
            r = next((x for x in h.summary.measured if x.requirement == rid), None)
            n = r.numbers if r else None
            rows.append(
                {
                    "requirement": rid,
                    "run_id": h.run.run_id,
                    "started_at": h.run.started_at,
                    "profile": h.summary.profile,
                    "clean": f"{percent(n.clean.value)} ({interval(n.clean)})" if n else "—",
                    "faulted": f"{percent(n.faulted.value)} ({interval(n.faulted)})" if n else "—",
                    "r_fault": r_text(r),
                    "verdict": _verdict(r),
                    "bad": r is not None and (r.numbers.degraded or r.fails_clean),
                }
            )
    return rows
