"""Requirement -> checks -> cases -> results, from a run's manifest and stored results.

The check inventory comes from the manifest (what the suite declared when the
run started); the results from the stored rows. So a requirement that no check
names (spec ahead of the tests) is told apart from one whose checks did not run
in this run, and each failing result links to its evidence. Counted are the run's
own cases and its invariant sweep, as in its report; replayed known regression
cases are judged by the sign-off's regressions gate instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.core import SWEEP_CASE, Category
from harness.empty import empty_dict, empty_list
from harness.report.frame import Row, as_rows
from harness.report.reliability import REGRESSION_ORIGIN
from harness.report.view import Divergence
from harness.runlog.models import AnyManifest

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class TracedCheck:
    scenario: str  # "" for an invariant: judged on every case and once over the run
    check_id: str
    type: str
    category: str
    requirements: list[str]
    description: str = ""
    conditional: bool = False  # has a when: condition, so it judges only some cases
    scenario_ran: bool = False  # its scenario (any, for an invariant) had a case in this run
    counts: dict[str, int] = field(default_factory=lambda: {"pass": 0, "fail": 0, "error": 0})
    cases: list[str] = field(default_factory=empty_list)  # every case it judged, first seen first
    failing: list[str] = field(default_factory=empty_list)  # "case (trial t)" of each non-pass
    evidence: list[str] = field(default_factory=empty_list)  # anchors of its divergence groups

    @property
    def anchor(self) -> str:
        return "chk-" + _slug(f"{self.scenario or 'invariant'}-{self.check_id}")

    @property
    def judged(self) -> int:
        return sum(self.counts.values())

    @property
    def status(self) -> str:
        if not self.judged:
            return "not run"
        return "pass" if self.counts["pass"] == self.judged else "fail"

    @property
    def never_held(self) -> bool:
        """A conditional check whose condition held for none of its scenario's cases."""
        return self.conditional and self.scenario_ran and not self.judged

    @property
    def why_not_run(self) -> str:
        if self.never_held:
            return "its when-condition never held in this run"
        return "its scenario had no case in this run" if not self.scenario_ran else "not judged"


#: what a requirement can be judged by, in the one order (calls: a stubbed service's log)
CATEGORIES = tuple(c.value for c in Category)


@dataclass
class TracedRequirement:
    id: str
    severity: str
    title: str
    checks: list[TracedCheck]
    #: a step of the real chain that must happen (spec.yaml's `mandatory_step: true`)
    mandatory_step: bool = False

    def categories(self, judged: bool = True) -> list[str]:
        """What judges it (state, invariant, call, trace, output), in that order: the
        categories of its checks that judged a case in this run (all declared: judged=False)."""
        have = {c.category for c in self.checks if c.judged or not judged}
        return [c for c in CATEGORIES if c in have]

    def coverage(self, category: str) -> str:
        """How a category covers it: judged (a check judged a case), declared (its checks
        judged none in this run) or none."""
        mine = [c for c in self.checks if c.category == category]
        if not mine:
            return "none"
        return "judged" if any(c.judged for c in mine) else "declared"

    @property
    def anchor(self) -> str:
        return "req-" + _slug(self.id)

    @property
    def status(self) -> str:
        """uncovered (no check names it), not run, fail or pass."""
        if not self.checks:
            return "uncovered"
        judged = [c for c in self.checks if c.judged]
        if not judged:
            return "not run"
        return "fail" if any(c.status == "fail" for c in judged) else "pass"


@dataclass
class Traceability:
    requirements: list[TracedRequirement]
    orphans: list[TracedCheck]  # checks that name no requirement of the spec
    inventory_from: str  # "manifest" or "results" (an older run without an inventory)
    #: how far each requirement was judged for long-task drift, by the group's drift runs
    drift: dict[str, list[str]] = field(default_factory=empty_dict)
    #: each requirement's R_fault in the group's finished faulted runs, in words
    faults: dict[str, list[str]] = field(default_factory=empty_dict)

    @property
    def uncovered(self) -> list[str]:
        return [r.id for r in self.requirements if r.status == "uncovered"]

    @property
    def not_run(self) -> list[str]:
        return [r.id for r in self.requirements if r.status == "not run"]

    @property
    def mandatory(self) -> list[TracedRequirement]:
        """The requirements spec.yaml marks as mandatory steps of the real chain."""
        return [r for r in self.requirements if r.mandatory_step]

    def unobserved(self, categories: Sequence[str]) -> list[tuple[TracedRequirement, str]]:
        """Mandatory steps no check of these categories judged in this run, each with why
        (no such check names it, or its checks judged no case)."""
        out = []
        for r in self.mandatory:
            states = [r.coverage(c) for c in categories]
            if "judged" in states:
                continue
            why = "declared" if "declared" in states else "none"
            out.append((r, why))
        return out

    @property
    def never_held(self) -> list[TracedCheck]:
        """Conditional checks that judged nothing: their when-condition never held."""
        seen = {id(c): c for r in self.requirements for c in r.checks if c.never_held}
        seen.update({id(c): c for c in self.orphans if c.never_held})
        return list(seen.values())


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text).strip("-").lower()


def evidence_anchor(index: int) -> str:
    return f"ev-{index + 1}"


def _inventory(manifest: AnyManifest, rows: list[Row]) -> tuple[list[TracedCheck], str]:
    declared = manifest.checks
    if declared is not None:
        return [
            TracedCheck(
                scenario=c.scenario,
                check_id=c.check_id,
                type=c.type,
                category=c.category,
                requirements=list(c.requirements),
                description=c.description,
                conditional=c.conditional,
            )
            for c in declared
        ], "manifest"
    seen: dict[tuple[str, str], TracedCheck] = {}
    for row in rows:
        invariant = row["category"] == "invariant"
        key = ("" if invariant else str(row["scenario"]), str(row["check_id"]))
        if key not in seen:
            reqs = [r for r in str(row["requirements"]).split(",") if r]
            seen[key] = TracedCheck(
                key[0], key[1], str(row["check_type"]), str(row["category"]), reqs
            )
    return list(seen.values()), "results"


def build_traceability(
    results: list[Row] | pd.DataFrame, manifest: AnyManifest, divergences: list[Divergence]
) -> Traceability:
    rows = [r for r in as_rows(results) if r["origin"] != REGRESSION_ORIGIN]
    checks, source = _inventory(manifest, rows)
    index = {(c.scenario, c.check_id): c for c in checks}
    ran = {str(r["scenario"]) for r in rows if r["case_id"] != SWEEP_CASE}
    for c in checks:
        c.scenario_ran = c.scenario in ran if c.scenario else bool(ran)
    judged: dict[int, set[str]] = {}  # each check's cases, to list each once
    for row in rows:
        invariant = row["category"] == "invariant"
        check = index.get(("" if invariant else str(row["scenario"]), str(row["check_id"])))
        if check is None:
            continue  # a check the suite no longer declares (e.g. a regression's old target)
        verdict = str(row["verdict"])
        check.counts[verdict] = check.counts.get(verdict, 0) + 1
        case = str(row["case_id"])
        mine = judged.get(id(check))
        if mine is None:  # once per check: a set built per row made this quadratic
            mine = judged[id(check)] = set(check.cases)
        if case not in mine:
            mine.add(case)
            check.cases.append(case)
        if verdict != "pass":
            where = "the run-wide sweep" if case == SWEEP_CASE else case
            trial = str(row["trial"])
            check.failing.append(where if trial == "1" else f"{where} (trial {trial})")
    anchors: dict[int, set[str]] = {}
    for i, d in enumerate(divergences):
        key = ("" if d.category == "invariant" else d.scenario, d.check_id)
        check = index.get(key)
        if check is not None:
            shown = anchors.setdefault(id(check), set())
            if (anchor := evidence_anchor(i)) not in shown:
                shown.add(anchor)
                check.evidence.append(anchor)
    spec = manifest.requirement_ids
    requirements = [
        TracedRequirement(
            id=r.id,
            severity=r.severity,
            title=r.title,
            checks=[c for c in checks if r.id in c.requirements],
            mandatory_step=r.mandatory_step,
        )
        for r in manifest.requirements
    ]
    orphans = [c for c in checks if not c.requirements or not set(c.requirements) & set(spec)]
    return Traceability(requirements, orphans, source)
