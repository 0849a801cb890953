"""The `recovery` check: after the case's last fault on the agent's links ended, the agent
answered correctly again (its probe's reply contained `expect`, or its health URL answered
200) within `within`. The engine measures it (`run/faulting.recover`) into each
`FaultWindow.recovered_ms`; this judges the measurement of the fault that ended last, and
names every fault the case had (link, toxic, its window in turns): the recovery is from all
of them, not from the last alone. Not recovered is said as "not recovered within <within>"
(its `found`, which every report shows).

Category OUTPUT: what it judges is what the agent answers (a probe's reply, its health
endpoint), as output checks do; the real rows stay the state checks' and invariants'. A
trial in which no fault was applied (a clean phase, a fault that never came) is an error:
there was nothing to recover from, so it neither passes nor fails.
"""

from __future__ import annotations

from harness.check.registry import CheckKind, Judging, register
from harness.core import CheckResult, Verdict
from harness.core.failures import Category
from harness.core.types import FaultWindow
from harness.spec.models.faults import RecoveryCheck


async def judge_recovery(check: RecoveryCheck, cid: str, judging: Judging) -> CheckResult:
    windows = judging.observation.faults
    within_ms = check.within * 1000.0
    how = f"its probe's reply containing {check.expect!r}"
    if check.health:
        how = "its health URL answered 200"

    def result(verdict: Verdict, message: str, found: object = None) -> CheckResult:
        return CheckResult(
            check_id=cid,
            check_type="recovery",
            category=Category.OUTPUT.value,
            requirements=tuple(check.requirements),
            verdict=verdict,
            message=message,
            expected=f"recovered within {check.within:g} s ({how})",
            found=found,
        )

    unmeasured = (judging.context.get("fault") or {}).get("unmeasured")
    if unmeasured:
        return result(Verdict.ERROR, f"recovery could not be measured: {unmeasured}")
    if not windows:
        return result(Verdict.ERROR, "no fault was applied in this trial: nothing to recover from")
    if any(w.ended_ns == 0 for w in windows):
        return result(
            Verdict.ERROR,
            "a fault was still applied when the case ended (a profile's fault with no window "
            "lasts the whole case): recovery could not be measured",
        )
    last = max(windows, key=lambda w: w.ended_ns)
    faults = named(windows)
    within = f"{check.within:g} s"
    if last.recovered_ms is None:
        return result(
            Verdict.FAIL,
            f"not recovered within {within} after {faults} ended",
            f"not recovered within {within}",
        )
    seconds = round(last.recovered_ms / 1000.0, 3)
    if last.recovered_ms <= within_ms:
        return result(Verdict.PASS, f"recovered {seconds:g} s after {faults} ended", seconds)
    return result(
        Verdict.FAIL,
        f"recovered only {seconds:g} s after {faults} ended (allowed: {within})",
        seconds,
    )


def not_recovered(result: CheckResult) -> str | None:
    """What a recovery check's result found when the agent never recovered (its text, as
    the reports show it), else None: a failure whose `found` is no measured time (a late
    recovery's `found` is its seconds). Read from the verdict and the value's type, never
    from its words."""
    if result.check_type != "recovery" or result.verdict != Verdict.FAIL:
        return None
    found = result.found
    return None if isinstance(found, int | float) or found is None else str(found)


def named(windows: list[FaultWindow]) -> str:
    """Every fault of the case, as `db: reset_peer (turn 2)`, in the order they started."""
    out: list[str] = []
    for w in sorted(windows, key=lambda w: (w.started_ns, w.link, w.toxic)):
        turns = ""
        if w.first_turn is not None:
            last = w.last_turn if w.last_turn is not None else w.first_turn
            turns = (
                f"turn {w.first_turn}" if last == w.first_turn else f"turns {w.first_turn}–{last}"
            )
        text = f"{w.link}: {w.toxic}" + (f" ({turns})" if turns else "")
        if text not in out:
            out.append(text)
    return ", ".join(out) if out else "the fault"


register(CheckKind(("recovery",), Category.OUTPUT, judge_recovery))
