"""The sign-off's load gate: correctness under load in the load runs of the group.

It reads the same load runs as the invariants gate (`loadruns.newest_loads`: the newest of
each load profile among the group's and `--with`'s; an older run of a profile is superseded
and read by neither). A load run fails it when
- a requirement's pass rate at any of its load levels is below the policy's `min_pass_rate`
  for its severity (default 1.0 for every severity: every check under load holds, as the load
  run's own exit code asks; a conversation passes for a requirement when every check of that
  requirement passed in it, an error never a pass), whatever the other levels did: a pass
  rate at peak above a poor one at low load is no correctness;
- its pass rate at peak is below the one at low load by more than `tolerance`, beyond noise
  (Fisher's exact test, p < 0.05; `beyond_noise: false` counts every drop);
- the agent process died during it.
A load run that did not finish otherwise (interrupted, killed) is not measured: its levels
cover part of its profile. One with a single level cannot compare peak with low load: not
measured (its minimum is still judged).
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.report.gates import NOT_MEASURED, PASS, GateResult, status
from harness.report.loadruns import LoadLevels, profile
from harness.report.reliability import fisher_exact, percent
from harness.runlog.history import run_status
from harness.runlog.models import LoadManifest
from harness.runlog.read import RunFolder
from harness.spec.policy import LoadGate, Minimums
from harness.spec.severity import Severity


def minimums_words(minimums: Minimums) -> str:
    set_ = [(s, minimums.minimum(s)) for s in Severity]
    return ", ".join(f"{s} >= {percent(m)}" for s, m in set_ if m is not None) or "none"


def _minimum(minimums: Minimums, severity: str | None) -> float | None:
    """A requirement's minimum; one the signed-off run's spec does not know is held to the
    strictest minimum the policy sets."""
    if severity is not None:
        return minimums.minimum(severity)
    known = [m for s in Severity if (m := minimums.minimum(s)) is not None]
    return max(known) if known else None


def below_minimum(
    run_id: str, levels: LoadLevels, minimums: Minimums, severity: dict[str, str]
) -> list[tuple[str, str]]:
    """(requirement, finding) for each requirement whose pass rate at some load level of the
    run is below its severity's minimum, naming every such level."""
    out = []
    rids = sorted({rid for lv in levels.levels for rid in levels.by_requirement.get(lv.users, {})})
    for rid in rids:
        minimum = _minimum(minimums, severity.get(rid))
        if minimum is None:
            continue
        low = []
        for lv in levels.levels:
            n, ok = levels.by_requirement.get(lv.users, {}).get(rid, [0, 0])
            if n and ok / n < minimum:
                low.append(f"{percent(ok / n)} at {lv.users} users ({ok}/{n} conversations)")
        if low:
            sev = severity.get(rid, "severity unknown to the spec")
            out.append(
                (
                    rid,
                    f"load run {run_id}: {rid} ({sev}) passed {', '.join(low)}: below "
                    f"its minimum {percent(minimum)} (min_pass_rate, at every load level): "
                    "correctness under load is below what the policy requires",
                )
            )
    return out


def load_gate(
    gate: LoadGate,
    runs: Sequence[RunFolder],
    loads: dict[str, LoadLevels | None],
    severity: dict[str, str],
    superseded: dict[str, str],
) -> GateResult:
    """The policy's load gate over the load runs read (`runs`, with their `loads`), the
    requirements' severities from the signed-off run's spec."""
    result = GateResult(
        "load",
        "Each load run read (the newest of each profile): every requirement's pass rate at "
        f"every load level at least its severity's minimum ({minimums_words(gate.min_pass_rate)}),"
        " and the pass rate at peak at least at low load"
        + (f" (minus {percent(gate.tolerance)})" if gate.tolerance else ""),
        PASS,
        gate.optional,
    )
    if not runs:
        result.status = NOT_MEASURED
        result.findings.append(
            "no load run belongs to this run (harness signoff --with LOAD_RUN_ID, or the same "
            "--group)"
        )
        return result
    fails = missing = False
    read: list[str] = []

    def name(rids: Sequence[str]) -> None:
        result.requirements.extend(r for r in rids if r not in result.requirements)

    for run in runs:
        m, levels = run.manifest, loads.get(run.run_id)
        state = run_status(m)
        died = m.load.agent_exit if isinstance(m, LoadManifest) else None
        if died is not None:
            fails = True
            result.findings.append(
                f"load run {run.run_id}: the agent process died under load (exit code "
                f"{died.code}, {died.at:g} s into the load): the load stopped there"
            )
        elif state != "finished":
            missing = True
            result.findings.append(
                f"load run {run.run_id} is {state}, not finished: its levels cover part of "
                f"profile {profile(run)} (run the profile again in the group: the newest run "
                "of a profile supersedes the older ones)"
            )
        if levels is None:
            missing = True
            result.findings.append(
                f"load run {run.run_id} stores no pass rates per load level: nothing to judge"
            )
            continue
        below = below_minimum(run.run_id, levels, gate.min_pass_rate, severity)
        fails = fails or bool(below)
        result.findings.extend(line for _, line in below)
        name([rid for rid, _ in below])
        if not levels.by_requirement and any(lv.passes < lv.trials for lv in levels.levels):
            missing = True
            result.findings.append(
                f"load run {run.run_id} stores no pass rate per requirement (its conversations "
                "are gone), and not every conversation passed: min_pass_rate cannot be judged"
            )
        if len(levels.levels) < 2:
            missing = True
            result.findings.append(
                f"load run {run.run_id} judged cases at one load level only "
                f"({levels.peak.users} users): no low vs peak to compare"
            )
            continue
        low, peak = levels.low, levels.peak
        p = fisher_exact(
            low.passes, low.trials - low.passes, peak.passes, peak.trials - peak.passes
        )
        line = (
            f"load run {run.run_id}: {percent(peak.rate)} at peak ({peak.passes}/{peak.trials} "
            f"trials, {peak.users} users) vs {percent(low.rate)} at low load "
            f"({low.passes}/{low.trials}, {low.users} users), Fisher's exact p = {p:.3g}"
        )
        dropped = peak.rate < low.rate - gate.tolerance
        if dropped and (p < 0.05 or not gate.beyond_noise):
            fails = True
            result.findings.append(line)
            name(levels.failing_requirements)
        elif dropped:
            result.findings.append(line + ": a drop within noise")
        else:
            read.append(line)
    result.detail = "; ".join([*read, *superseded_words(superseded)])
    result.status = status(fails, missing)
    return result


def superseded_words(superseded: dict[str, str]) -> list[str]:
    """The load runs no gate read, each with the newer run of its profile that supersedes it."""
    return [f"load run {old} superseded by {new} (same profile)" for old, new in superseded.items()]
