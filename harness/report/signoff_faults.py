"""The sign-off's faults gate: R_fault per requirement, by severity, in the finished faulted runs
of the group (the signed-off run itself when it ran with --faults, and the runs of its
--group or --with that did).

A requirement fails the gate when its R_fault (the estimate, or with `bound: lower` the lower
end of its 95% interval) is below its severity's minimum and, with `beyond_noise` (the
default), it also degrades beyond noise under the profile (one-sided Fisher, Holm-corrected:
`faults.py`). Below the minimum within noise is a finding; below it with too few trials to
tell, or without a clean pass to compare with, it is not measured. Unfinished faulted runs
are left out (a partial faulted phase may hold only because its cases never ran)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.report.faults import FaultsSummary, summarize_faults
from harness.report.gates import NOT_MEASURED, PASS, GateResult, status
from harness.runlog.history import faulted, run_status
from harness.runlog.read import RunFolder
from harness.spec.policy import FaultsGate
from harness.spec.severity import Severity


@dataclass(frozen=True)
class FaultRun:
    run_id: str
    summary: FaultsSummary


def faulted_runs(run: RunFolder, related: list[RunFolder]) -> tuple[list[FaultRun], list[str]]:
    """The finished faulted runs (the signed-off run first), and why others are left out."""
    runs: list[FaultRun] = []
    left_out: list[str] = []
    for r in [run, *related]:
        if not faulted(r) and r is not run:
            continue
        if run_status(r.manifest) != "finished":
            if faulted(r):
                left_out.append(
                    f"faulted run {r.run_id} is {run_status(r.manifest)}, not finished: left "
                    f"out (harness run --resume {r.run_id} finishes it)"
                )
            continue
        summary = summarize_faults(r)  # the signed-off run: also one found by its records
        if summary is not None and summary.profile is not None:
            runs.append(FaultRun(r.run_id, summary))
    return runs, left_out


def r_fault_of(runs: list[FaultRun]) -> dict[str, list[str]]:
    """Per requirement, its R_fault in each faulted run, in words (the traceability matrix)."""
    out: dict[str, list[str]] = {}
    for fr in runs:
        for r in fr.summary.measured:
            value = r.numbers.r_fault.value
            shown = "—" if value is None else f"{value:.2f}"
            out.setdefault(r.requirement, []).append(
                f"R_fault {shown} under {fr.summary.profile} ({r.verdict})"
            )
    return out


def faults_gate(gate: FaultsGate, runs: list[FaultRun], left_out: list[str]) -> GateResult:
    which = "the lower end of its 95% interval" if gate.bound == "lower" else "its estimate"
    mins = ", ".join(
        f"{sev.value} >= {value:g}"
        for sev in Severity
        if (value := gate.min_r_fault.minimum(sev.value)) is not None
    )
    result = GateResult(
        "faults",
        f"R_fault per requirement ({which}) at least its severity's minimum ({mins or 'none'})"
        + (", a drop counted when beyond noise" if gate.beyond_noise else ""),
        PASS,
        gate.optional,
        detail=f"{len(runs)} finished faulted run(s) read",
    )
    result.findings.extend(left_out)
    if not runs:
        result.status = NOT_MEASURED
        if not left_out:
            result.findings.append(
                "no faulted run belongs to this run (harness run --faults NAME --group GROUP, "
                "or harness signoff --with RUN_ID)"
            )
        return result
    fails, missing = False, bool(left_out)
    for fr in runs:
        s = fr.summary
        if not s.measured:
            missing = True
            result.findings.append(
                f"faulted run {fr.run_id} ({s.profile}): no requirement judged in both phases"
            )
        for r in s.requirements:
            minimum = gate.min_r_fault.minimum(r.severity)
            n = r.numbers
            if minimum is None or not n.tested:
                continue
            rate = n.r_fault
            value = rate.low if gate.bound == "lower" else rate.value
            where = f"in faulted run {fr.run_id} under {s.profile}"
            if value is None:
                missing = True
                result.findings.append(
                    f"{r.requirement}: no R_fault {where}: no clean trial passed to compare with"
                )
            elif value < minimum:
                shown = f"R_fault {value:.2f} ({which}) < {minimum:g} ({r.severity}) {where}"
                if n.degraded or not gate.beyond_noise:
                    fails = True
                    result.findings.append(f"{r.requirement}: {shown}: {r.verdict}")
                elif n.underpowered:
                    missing = True
                    result.findings.append(f"{r.requirement}: {shown}, too few trials to tell")
                else:
                    result.findings.append(f"{r.requirement}: {shown}, within noise")
                    continue
            else:
                continue
            if r.requirement not in result.requirements:
                result.requirements.append(r.requirement)
    result.status = status(fails, missing)
    return result
