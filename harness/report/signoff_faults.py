"""The sign-off's faults gate: R_fault per requirement, by severity, in the finished faulted runs
of the group (the signed-off run itself when it ran with --faults, and the runs of its
--group or --with that did).

A requirement fails the gate when its R_fault (the estimate, or with `bound: lower` the lower
end of its 95% interval) is below its severity's minimum and, with `beyond_noise` (the
default), it also degrades beyond noise under the profile (one-sided Fisher, Holm-corrected:
`faults.py`). Below the minimum within noise is a finding; below it with too few trials to
tell it is not measured. Whatever the minimum, a requirement that fails in both phases fails
the gate; one judged in one phase only has no R_fault and is judged on that phase: only clean
(its checks apply without faults) it is a note, only under faults (a recovery check) it
passes when every faulted trial passed and fails otherwise; one with no clean pass to compare
with is not measured. A policy without a faults gate still gets one when the signed-off run
itself ran with --faults or its group has a finished faulted run (no minimum: the run's own
exit rule), so that faulted checks are never left unjudged. Unfinished faulted runs are
left out (a partial faulted phase may hold only because its cases never ran)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.report.faultrender import passed
from harness.report.faults import FaultsSummary, RequirementFaults, summarize_faults
from harness.report.gates import FAIL, NOT_MEASURED, PASS, GateResult, status
from harness.runlog.history import faulted, run_status
from harness.runlog.read import RunFolder
from harness.spec.policy import FaultsGate
from harness.spec.severity import Severity


@dataclass(frozen=True)
class FaultRun:
    run_id: str
    summary: FaultsSummary


def faulted_runs(
    run: RunFolder, related: list[RunFolder], records: Sequence[object] | None = None
) -> tuple[list[FaultRun], list[str]]:
    """The finished faulted runs (the signed-off run first), and why others are left out;
    `records`: the signed-off run's, when the caller has read them already."""
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
        # the signed-off run: also one found by its records
        summary = summarize_faults(r, records if r is run else None)
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


def faults_gate(gate: FaultsGate | None, runs: list[FaultRun], left_out: list[str]) -> GateResult:
    """The policy's faults gate; with `gate` None (the policy has none, yet the signed-off run
    ran with --faults) the run's own rule: no R_fault minimum, but a requirement that fails in
    both phases, or degrades beyond noise, fails, and one it cannot judge is not measured, so
    that a faulted run's failing checks are never left unjudged."""
    bound = gate.bound if gate is not None else "estimate"
    beyond_noise = gate.beyond_noise if gate is not None else True
    which = "the lower end of its 95% interval" if bound == "lower" else "its estimate"
    if gate is None:
        title = (
            "Not in the policy, judged because the run or its group has a faulted run: no "
            "requirement fails in both phases or degrades beyond noise under the profile"
        )
    else:
        mins = ", ".join(
            f"{sev.value} >= {value:g}"
            for sev in Severity
            if (value := gate.min_r_fault.minimum(sev.value)) is not None
        )
        title = (
            f"R_fault per requirement ({which}) at least its severity's minimum "
            f"({mins or 'none'})" + (", a drop counted when beyond noise" if beyond_noise else "")
        )
    result = GateResult(
        "faults",
        title,
        PASS,
        gate.optional if gate is not None else False,
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
            minimum = gate.min_r_fault.minimum(r.severity) if gate is not None else None
            if gate is not None and minimum is None:
                continue  # a severity the policy leaves out is not judged
            where = f"in faulted run {fr.run_id} under {s.profile}"
            verdict = _judge(r, minimum, bound, beyond_noise, which, where)
            if verdict is None:
                continue
            state, line = verdict
            fails = fails or state == FAIL
            missing = missing or state == NOT_MEASURED
            result.findings.append(f"{r.requirement}: {line}")
            if state != PASS and r.requirement not in result.requirements:
                result.requirements.append(r.requirement)
    result.status = status(fails, missing)
    return result


def _judge(
    r: RequirementFaults,
    minimum: float | None,
    bound: str,
    beyond_noise: bool,
    which: str,
    where: str,
) -> tuple[str, str] | None:
    """One requirement of a faulted run: (fail | not measured | pass, the finding), or None
    when there is nothing to say. A requirement failing in both phases fails whatever its
    R_fault; one judged in a single phase is judged on it (see the module's docstring)."""
    n = r.numbers
    clean, faulted = passed(n, "clean"), passed(n, "faulted")
    both = f"clean {clean}, faulted {faulted} trials passed"
    if not n.clean_trials and not n.faulted_trials:
        return None
    if r.fails_clean and n.faulted_passes < n.faulted_trials:
        return FAIL, f"fails in both phases ({both}) {where}: it fails with and without faults"
    if not n.faulted_trials:  # no faulted trial met its checks' `when:` (or none was played)
        return PASS, (
            f"not judged under faults {where}: no faulted trial met its checks' `when:` "
            "(judged in the clean phase only)"
        )
    if not n.clean_trials:  # judged only under faults (a recovery check): on its own trials
        if n.faulted_passes < n.faulted_trials:
            return FAIL, f"judged only under faults {where}, and fails there ({both})"
        return PASS, f"judged only under faults {where}: every faulted trial passed ({both})"
    rate = n.r_fault
    value = rate.low if bound == "lower" else rate.value
    if value is None:
        return NOT_MEASURED, (
            f"R_fault could not be computed {where}: no clean trial passed to compare with ({both})"
        )
    if minimum is None and (r.fails_clean or n.degraded):  # the run's own exit rule
        return FAIL, f"{r.verdict} ({both}) {where}"
    if minimum is None or value >= minimum:
        return None
    shown = f"R_fault {value:.2f} ({which}) < {minimum:g} ({r.severity}) {where}"
    if n.degraded or not beyond_noise:
        return FAIL, f"{shown}: {r.verdict}"
    if n.underpowered:
        return NOT_MEASURED, f"{shown}, too few trials to tell"
    return PASS, f"{shown}, within noise"
