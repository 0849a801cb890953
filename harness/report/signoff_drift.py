"""The sign-off's drift gate: every requirement a drift run of the group judges is no worse
at any length up to the policy's `min_length` than at the shortest length (no degradation
beyond noise, no drop too few cases could tell from noise), and how far each requirement
was judged, for the matrix. A requirement failing alike at every length is no drift: the
reliability and capability gates judge it."""

from __future__ import annotations

from dataclasses import dataclass

from harness.report.drift import summarize_drift
from harness.report.driftframe import Held, held
from harness.report.gates import NOT_MEASURED, PASS, GateResult, status
from harness.runlog.history import run_status
from harness.runlog.read import RunFolder
from harness.spec.policy import DriftGate


@dataclass(frozen=True)
class Judged:
    """How far one requirement was judged for drift, in one drift run."""

    run_id: str
    held: Held

    @property
    def words(self) -> str:
        h = self.held
        longest = max(h.lengths, default=0)
        if h.first_degraded is None and h.steady_to == longest:
            return f"{h.verdict} (judged up to n={longest})"
        return h.verdict


def unfinished(related: list[RunFolder]) -> list[str]:
    """The group's drift runs that did not finish: their curves are left out (a partial
    curve may hold only because its long conversations never ran)."""
    return [
        f"drift run {run.run_id} is {run_status(run.manifest)}, not finished: its curves are "
        f"left out (harness drift --resume {run.run_id} finishes it)"
        for run in related
        if run.kind == "drift" and run_status(run.manifest) != "finished"
    ]


def drift_judged(related: list[RunFolder]) -> dict[str, list[Judged]]:
    """Per requirement, what each finished drift run of the group found (newest run last)."""
    out: dict[str, list[Judged]] = {}
    for run in related:
        if run.kind != "drift" or run_status(run.manifest) != "finished":
            continue
        summary = summarize_drift(run)
        if summary is None:
            continue
        for rid, h in held(summary).items():
            out.setdefault(rid, []).append(Judged(run.run_id, h))
    return out


def drift_gate(
    gate: DriftGate, judged: dict[str, list[Judged]], drift_runs: int, left_out: list[str]
) -> GateResult:
    n = gate.min_length
    result = GateResult(
        "drift",
        f"Every requirement holds at every length up to n={n} (filler turns before the probe)",
        PASS,
        gate.optional,
        detail=f"{drift_runs} drift run(s) read",
    )
    result.findings.extend(left_out)
    if not judged:
        result.status = NOT_MEASURED
        if not drift_runs:
            result.findings.append(
                "no drift run belongs to this run (harness drift --group GROUP, or harness "
                "signoff --with DRIFT_RUN_ID)"
            )
        elif not left_out:
            result.findings.append("the group's drift runs judged no requirement")
        return result
    fails, missing = False, bool(left_out)
    for rid in sorted(judged):
        for j in judged[rid]:
            h = j.held
            longest = max(h.lengths, default=0)
            # drift is change with length: a requirement failing alike at every length is
            # the reliability and capability gates' to judge
            if h.steady_to is not None and h.steady_to >= n:
                continue
            if h.steady_to is None or h.steady_to < longest:
                fails = True
                result.findings.append(f"{rid}: {j.words} in drift run {j.run_id} (< n={n})")
            else:  # no worse anywhere it was judged, but not as far as the gate asks
                missing = True
                result.findings.append(
                    f"{rid}: judged up to n={longest} only in drift run {j.run_id}; the gate "
                    f"needs n={n} (harness drift --lengths ...,{n})"
                )
            if rid not in result.requirements:
                result.requirements.append(rid)
    result.status = status(fails, missing)
    return result
