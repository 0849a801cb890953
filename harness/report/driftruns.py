"""Drift runs among other runs: `harness compare` of two drift runs (per requirement the first
degraded length before and after, and the pass rate at each length), and the drift runs of a
suite's history for `harness trend` (their pass rates per length and first degraded lengths).

The numbers are each run's own (report/drift.py); nothing here tests anew. HEAD is worse
when a requirement degrades at a shorter length than in BASE (or now degrades, or now fails
at the shortest length), the same rules that make each run red on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.core.events import Status
from harness.empty import empty_list
from harness.report.drift import Curve, DriftSummary, Point, summarize_drift
from harness.report.reliability import percent
from harness.report.text import cell
from harness.runlog.history import stored_runs
from harness.runlog.models import DriftManifest
from harness.runlog.read import RunFolder


def _summary(run: RunFolder) -> DriftSummary | None:
    return summarize_drift(run) if (run.dir / "cases.jsonl").is_file() else None


def _reach(c: Curve | None) -> float:
    """How far a requirement goes before it gets worse, for ordering two runs: the first
    degraded length, or the first drop too few cases could tell (inf: neither); -1 when not
    judged. A failure at every length alike is no drift (the run's checks compare it)."""
    if c is None or c.baseline is None:
        return -1.0
    limit = c.first_degraded if c.first_degraded is not None else None
    if limit is None and c.underpowered:
        limit = c.dropped
    return float("inf") if limit is None else float(limit)


@dataclass
class DriftChange:
    requirement: str
    severity: str
    title: str
    base: Curve | None  # None: not judged by BASE's drift scenarios
    head: Curve | None

    @property
    def direction(self) -> str:
        """worse, better or same: by how far the requirement holds."""
        if self.base is None or self.head is None:
            return "same"
        before, after = _reach(self.base), _reach(self.head)
        return "worse" if after < before else ("better" if after > before else "same")

    def rates(self) -> list[tuple[int, str, str]]:
        """(length, BASE's pass rate, HEAD's) at every length either run played."""
        lengths = sorted(
            {p.length for c in (self.base, self.head) if c is not None for p in c.points}
        )
        out = []
        for n in lengths:
            b = self.base.at(n) if self.base else None
            h = self.head.at(n) if self.head else None
            out.append((n, _rate(b), _rate(h)))
        return out


def _rate(point: Point | None) -> str:
    if point is None or not point.trials:
        return "—"
    return f"{percent(point.rate.value)} ({point.passes}/{point.trials})"


def verdict(c: Curve | None) -> str:
    return "not judged" if c is None else c.verdict


@dataclass
class DriftComparison:
    changes: list[DriftChange] = field(default_factory=empty_list)
    notes: list[str] = field(default_factory=empty_list)

    @property
    def worse(self) -> list[DriftChange]:
        return [c for c in self.changes if c.direction == "worse"]


def compare_drift(base: RunFolder, head: RunFolder) -> DriftComparison:
    """Per requirement judged by either run's drift scenarios: its curve in both."""
    before, after = _summary(base), _summary(head)
    out = DriftComparison()
    for run, s in ((base, before), (head, after)):
        if s is None:
            out.notes.append(f"run {run.run_id} keeps no cases.jsonl: its drift is not compared")
    if before is None or after is None:
        return out
    if before.lengths != after.lengths:
        out.notes.append(
            f"the runs played other lengths ({before.lengths} vs {after.lengths}): a first "
            "degraded length is only as fine as the lengths played"
        )
    b = {c.requirement: c for c in before.curves}
    h = {c.requirement: c for c in after.curves}
    for rid in [*h, *(r for r in b if r not in h)]:
        c = h.get(rid) or b[rid]
        out.changes.append(DriftChange(rid, c.severity, c.title, b.get(rid), h.get(rid)))
    return out


def _degraded(c: Curve | None) -> str:
    if c is None:
        return "—"
    return "none" if c.first_degraded is None else f"n={c.first_degraded}"


def compare_markdown(d: DriftComparison) -> list[str]:
    out = ["## Drift: first degraded length per requirement", ""]
    out += [f"> note: {n}" for n in d.notes]
    if d.notes:
        out.append("")
    if not d.changes:
        return [*out, "Nothing to compare.", ""]
    out += [
        "| requirement | severity | first degraded base -> head | base | head | "
        "pass rate per length (base -> head) |",
        "|---|---|---|---|---|---|",
    ]
    for c in d.changes:
        mark = {"worse": "▼ ", "better": "▲ "}.get(c.direction, "")
        rates = "; ".join(f"n={n}: {b} -> {h}" for n, b, h in c.rates())
        out.append(
            f"| {mark}{c.requirement} | {c.severity} | {_degraded(c.base)} -> "
            f"{_degraded(c.head)} | {cell(verdict(c.base))} | {cell(verdict(c.head))} | "
            f"{rates} |"
        )
    worse = ", ".join(c.requirement for c in d.worse) or "none"
    return [*out, "", f"Holds less far in HEAD: {worse}.", ""]


# ---------------------------------------------------------------------------- trend


@dataclass
class DriftRun:
    """One finished drift run of a suite, as the trend lists it."""

    run: RunFolder
    summary: DriftSummary

    @property
    def curves(self) -> dict[str, Curve]:
        return {c.requirement: c for c in self.summary.curves}


def drift_history(root: Path, suite: str, last: int) -> list[DriftRun]:
    """The suite's last finished drift runs, oldest first."""
    runs = [
        r
        for r in stored_runs(root)
        if r.kind == "drift" and r.suite == suite and r.manifest.status == Status.FINISHED
    ][-last:]
    out = []
    for r in runs:
        s = _summary(r)
        if s is not None:
            out.append(DriftRun(r, s))
    return out


def trend_rows(history: list[DriftRun]) -> list[dict[str, object]]:
    """Per requirement, one row per drift run: its pass rate at each length, its first
    degraded length and what became of it (for the trend page)."""
    rids: list[str] = []
    for h in history:
        rids += [c.requirement for c in h.summary.curves if c.requirement not in rids]
    rows: list[dict[str, object]] = []
    for rid in rids:
        for h in history:
            c = h.curves.get(rid)
            rows.append(
                {
                    "requirement": rid,
                    "run_id": h.run.run_id,
                    "started_at": h.run.started_at,
                    "trials": h.summary.k,
                    "rates": ", ".join(f"n={p.length}: {_rate(p)}" for p in c.points)
                    if c
                    else "not judged",
                    "first_degraded": _degraded(c),
                    "verdict": verdict(c),
                    "bad": c is not None and (c.first_degraded is not None or c.fails_at_baseline),
                }
            )
    return rows


def played(run: RunFolder) -> str:
    """A drift run's lengths and positions in words, scenario by scenario."""
    plans = run.manifest.drift if isinstance(run.manifest, DriftManifest) else []
    return "; ".join(
        f"{p.scenario}: lengths {','.join(map(str, p.lengths))}"
        + (
            f", positions {','.join(p.positions)} at {p.position_length}"
            if p.position_length is not None
            else ""
        )
        for p in plans
    )
