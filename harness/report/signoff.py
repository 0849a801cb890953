"""The pre-release sign-off: a stored run judged against a policy's gates, GO or NO-GO.

Every gate reads stored data only (the run's results, manifest and the runs of
its group). A gate that cannot be measured is "not measured", which blocks the
release unless the policy marks the gate optional: a release never goes on data
that was not there. The verdict is GO only when no gate blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.core import Severity
from harness.empty import empty_dict
from harness.report.faults import profile_of
from harness.report.frame import Row, as_rows
from harness.report.gates import FAIL, NOT_MEASURED, PASS, GateResult, status
from harness.report.loadruns import LoadLevels, load_levels, newest_loads
from harness.report.reliability import Rate, Reliability, compute, percent
from harness.report.signoff_drift import drift_gate, drift_judged, unfinished
from harness.report.signoff_faults import faulted_runs, faults_gate, r_fault_of
from harness.report.signoff_load import load_gate, superseded_words
from harness.report.signoff_regressions import hunt_findings, regressions_gate
from harness.report.traceability import Traceability, build_traceability
from harness.report.view import ReportView, build_view
from harness.runlog.frame import results_rows
from harness.runlog.history import KILLED, run_status
from harness.runlog.models import AnyManifest, RunManifest
from harness.runlog.read import RunFolder
from harness.spec.policy import CoverageGate, Gate, PolicyFile, RateGate

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Signoff:
    policy: PolicyFile
    policy_path: Path
    run: RunFolder
    view: ReportView  # the run's own report view: divergences are the evidence
    reliability: Reliability  # at the policy's k
    trace: Traceability
    gates: list[GateResult]
    related: list[RunFolder]
    loads: dict[str, LoadLevels | None]  # the load runs the gates read: newest of each profile
    superseded: dict[str, str] = field(default_factory=empty_dict)  # older load run -> newer one

    @property
    def go(self) -> bool:
        return not any(g.blocking for g in self.gates)

    @property
    def verdict(self) -> str:
        return "GO" if self.go else "NO-GO"

    @property
    def blocking(self) -> list[GateResult]:
        return [g for g in self.gates if g.blocking]


def complete_gate(manifest: AnyManifest, cases: int, played: set[str] | None = None) -> GateResult:
    """Always on: the run finished every planned trial of the whole suite (a run with
    --faults plays only its profile's scenarios: `played`, against the check inventory's)."""
    findings = []
    state = run_status(manifest)
    if state != "finished":
        findings.append(
            f"the run was killed and did not finish ({cases} trial(s) stored)"
            if state == KILLED
            else f"the run is {state}, not finished ({cases} trial(s) stored)"
        )
    if isinstance(manifest, RunManifest) and manifest.select:
        selected = " ".join(f"-k {p}" for p in manifest.select)
        findings.append(f"the run judged only the scenarios matching {selected}")
    profile = profile_of(manifest)
    suite = {c.scenario for c in manifest.checks or [] if c.scenario}
    played = played or set()
    if profile is not None and (not suite or suite - played):
        only = ", ".join(sorted(played & suite if suite else played)) or "none"  # not (run)
        findings.append(
            f"the run played only the scenarios fault profile {profile} lists ({only}): a "
            "sign-off on it covers those scenarios, not the whole suite (sign off a run of "
            "the whole suite with this one in its --group, or --with)"
        )
    return GateResult(
        "complete",
        "The run finished every trial of the whole suite",
        FAIL if findings else PASS,
        detail=f"{manifest.trials or 1} trial(s) per case, status {state}",
        findings=findings,
    )


def rate_gate(name: str, gate: RateGate, reliability: Reliability, k: int) -> GateResult:
    """A minimum pass^k (reliability) or pass@1 (capability) per requirement, by severity."""
    metric = f"pass^{k}" if name == "reliability" else "pass@1"
    bound = "the lower end of its 95% interval" if gate.bound == "lower" else "its estimate"
    result = GateResult(
        name,
        f"{metric} per requirement at least the minimum for its severity ({bound})",
        PASS,
        gate.optional,
        detail=", ".join(
            f"{s} >= {percent(gate.minimum(s))}" for s in Severity if gate.minimum(s) is not None
        ),
    )
    fails = missing = False
    for r in reliability.requirements:
        minimum = gate.minimum(r.severity)
        if minimum is None:
            continue
        rate: Rate = r.pass_hat_k if name == "reliability" else r.pass_at_1
        value = rate.low if gate.bound == "lower" else rate.value
        if value is None:
            missing = True
            if not r.cases:
                why = "no check of it ran"
            elif reliability.trials < k:
                why = f"needs {k} trials per case, the run has {reliability.trials}"
            else:
                why = (
                    f"needs {k} finished trials of a case; the run asked for "
                    f"{reliability.trials} but none of its {r.cases} case(s) finished {k} "
                    f"(an unfinished run: resume it)"
                )
            result.findings.append(f"{r.requirement} ({r.severity}): {metric} not measured: {why}")
            result.requirements.append(r.requirement)
        elif value < minimum:
            fails = True
            result.findings.append(
                f"{r.requirement} ({r.severity}): {metric} {percent(rate.value)} "
                f"(95% interval {percent(rate.low)}–{percent(rate.high)}) "
                f"< {percent(minimum)}"
            )
            result.requirements.append(r.requirement)
    result.status = status(fails, missing)
    return result


def invariants_gate(
    gate: Gate,
    results: list[Row] | pd.DataFrame,
    manifest: AnyManifest,
    loads: dict[str, LoadLevels | None],
    superseded: dict[str, str] | None = None,
) -> GateResult:
    """`loads`: the load runs the sign-off reads (the newest of each profile, as the load
    gate); `superseded`: the older ones no gate reads, said in the detail."""
    result = GateResult(
        "invariants",
        "No invariant violated in any case, the run-wide sweep or a load run read (the "
        "newest of each profile in the group)",
        PASS,
        gate.optional,
    )
    older = "; ".join(superseded_words(superseded or {}))
    under_load = _load_violations(loads)
    result.findings.extend(line for line, _ in under_load)
    for _, names in under_load:
        result.requirements.extend(r for r in names if r not in result.requirements)
    rows = [r for r in as_rows(results) if r["category"] == "invariant"]
    declared = [c for c in manifest.checks or [] if c.category == "invariant"]
    if not rows:
        none_declared = manifest.checks is not None and not declared
        if none_declared:  # nothing to violate: no violation, and the report says why
            result.status = FAIL if under_load else PASS
            result.detail = "the suite declares no invariant: nothing could be violated"
            result.detail += f"; {older}" if older else ""
            return result
        result.status = FAIL if under_load else NOT_MEASURED
        result.findings.append("no invariant was judged in this run")
        result.detail = older
        return result
    bad: dict[tuple[str, str, str], list[Row]] = {}
    for r in rows:  # grouped as pandas did: sorted keys, a row missing one left out
        key = (r["check_id"], r["requirements"], r["verdict"])
        if r["verdict"] != "pass" and None not in key:
            bad.setdefault(key, []).append(r)
    for (inv, reqs, verdict), hits in sorted(bad.items()):
        cases = sorted({str(c["case_id"]) for c in hits})
        what = "violated" if verdict == "fail" else "could not be judged (an error is no pass)"
        shown = ", ".join(cases[:5]) + (f" and {len(cases) - 5} more" if len(cases) > 5 else "")
        result.findings.append(f"{inv} ({reqs}) {what} {len(hits)} time(s): {shown}")
        result.requirements.extend(r for r in str(reqs).split(",") if r not in result.requirements)
    result.detail = f"{len(rows)} invariant verdicts, {len(bad)} not passing" + (
        f"; {len(loads)} load run(s) read" if loads else ""
    )
    result.detail += f"; {older}" if older else ""
    result.status = FAIL if len(bad) or under_load else PASS
    return result


def _load_violations(loads: dict[str, LoadLevels | None]) -> list[tuple[str, list[str]]]:
    """(finding, requirements) for each load run whose judged conversations broke invariants."""
    out = []
    for run_id, levels in loads.items():
        if levels is not None and levels.outside:  # an unscoped invariant, seed rows, ...
            out.append(
                (
                    f"load run {run_id}: invariants violated in the database itself (its "
                    f"samples during the load, up to {levels.sampled_rows} row(s) at once; the "
                    f"sweep after it): "
                    + "; ".join(f"{i} ({','.join(r)})" for i, r in levels.outside.items()),
                    sorted({r for reqs in levels.outside.values() for r in reqs}),
                )
            )
        if levels is None or not levels.violations:
            continue
        per_level = ", ".join(f"{lv.users} users: {lv.violations}" for lv in levels.levels)
        which = "; ".join(levels.violated) or "see the load run's report"
        reqs = _named(levels.violated)
        out.append(
            (
                f"load run {run_id}: {levels.violations} invariant violation(s) under load "
                f"({per_level}): {which}",
                reqs,
            )
        )
    return out


def _named(invariants: list[str]) -> list[str]:
    """The requirements of "invariant (R-1,R-2)" entries."""
    return sorted({r for v in invariants for r in v.split("(")[-1].strip(")").split(",") if r})


def coverage_gate(gate: CoverageGate, trace: Traceability) -> GateResult:
    result = GateResult(
        "coverage",
        "Every requirement has a check and was judged; every check names a requirement",
        PASS,
        gate.optional,
        detail=f"check inventory from the {trace.inventory_from}",
    )
    for rid in trace.uncovered:
        result.findings.append(f"{rid}: no check or invariant names it")
    for rid in trace.not_run:
        result.findings.append(f"{rid}: has checks, but none of them judged a case in this run")
    for c in trace.orphans:
        result.findings.append(
            f"check {c.scenario + '/' if c.scenario else ''}{c.check_id} names no requirement "
            "of the spec"
        )
    result.requirements = [*trace.uncovered, *trace.not_run]
    if gate.mandatory_steps:
        kinds = " or ".join(gate.mandatory_steps)
        result.title += f"; every mandatory step is judged by {kinds}"
        marked = len(trace.mandatory)
        result.detail += f"; {marked} requirement(s) marked mandatory_step"
        for r, why in trace.unobserved(gate.mandatory_steps):
            has = ", ".join(r.categories(judged=False)) or "nothing"
            result.findings.append(
                f"{r.id}: a mandatory step, but no {kinds} check "
                + (
                    f"judged a case in this run (its {kinds} checks did not run)"
                    if why == "declared"
                    else f"names it (judged by: {has})"
                )
            )
            if r.id not in result.requirements:
                result.requirements.append(r.id)
    fails = bool(result.findings)
    strict = gate.conditions_never_held == "fail"
    for c in trace.never_held:
        result.findings.append(
            f"{'' if strict else 'warning: '}check {c.scenario}/{c.check_id} "
            f"({', '.join(c.requirements)}) judged no case: its when-condition never held in "
            "this run" + ("" if strict else " (conditions_never_held: fail makes this fail)")
        )
        fails = fails or strict
    result.status = FAIL if fails else PASS
    return result


def evaluate(
    run: RunFolder, policy: PolicyFile, policy_path: Path, related: list[RunFolder]
) -> Signoff:
    manifest = run.manifest
    # plain rows, as the run's own reports: a pandas frame converted per report (six times)
    # was most of a large run's sign-off
    records = None if run.parquet_only else run.records()  # read once, for rows and faults
    rows = as_rows(run.frame()) if records is None else results_rows(records, manifest)
    view = build_view(rows, manifest)
    reliability = compute(rows, manifest, k=policy.k)
    trace = build_traceability(rows, manifest, view.divergences)
    # one rule for the load and invariants gates: the newest load run of each profile
    read_loads, superseded = newest_loads(related)
    loads = {r.run_id: load_levels(r) for r in read_loads}
    g = policy.gates
    played = {str(r["scenario"]) for r in rows}
    gates = [complete_gate(manifest, view.cases, played)]
    if g.reliability is not None:
        gates.append(rate_gate("reliability", g.reliability, reliability, policy.k))
    if g.capability is not None:
        gates.append(rate_gate("capability", g.capability, reliability, policy.k))
    if (inv := g.toggle("invariants")) is not None:
        gates.append(invariants_gate(inv, rows, manifest, loads, superseded))
    reg = g.toggle("regressions")
    found = hunt_findings(related)
    if reg is not None or found:  # what a hunt of the group found is never left unjudged
        gates.append(regressions_gate(reg or Gate(), view, rows, manifest, found, reg is None))
    if (cov := g.coverage_gate()) is not None:
        gates.append(coverage_gate(cov, trace))
    if (ld := g.load_gate()) is not None:
        severity = {r.id: r.severity for r in manifest.requirements}
        gates.append(load_gate(ld, read_loads, loads, severity, superseded))
    judged = drift_judged(related)
    trace.drift = {rid: [j.words for j in items] for rid, items in judged.items()}
    if g.drift is not None:
        drifts = sum(1 for r in related if r.kind == "drift")
        gates.append(drift_gate(g.drift, judged, drifts, unfinished(related)))
    faulted, left_out = faulted_runs(run, related, records)
    trace.faults = r_fault_of(faulted)
    # a faulted run in the group is judged even by a policy without a faults gate (as hunt
    # findings are by the regressions gate): no minimum, the faulted run's own rule
    if g.faults is not None or profile_of(manifest) is not None or faulted:
        gates.append(faults_gate(g.faults, faulted, left_out))
    return Signoff(
        policy, policy_path, run, view, reliability, trace, gates, related, loads, superseded
    )
