"""The recovery check's verdicts from the windows a trial recorded: a pass within `within`,
a failure beyond it or without recovery, an error when there was nothing to recover from or
it could not be measured."""

from __future__ import annotations

import asyncio
from typing import Any

from harness.check.recovery import judge_recovery
from harness.check.registry import Judging, kind_of
from harness.core import Observation, Verdict
from harness.core.types import FaultWindow
from harness.spec.models.faults import RecoveryCheck

CHECK = RecoveryCheck.model_validate(
    {"type": "recovery", "requirements": ["R-1"], "probe": "ping", "expect": "pong", "within": "2s"}
)


def verdict(windows: list[FaultWindow], fault: dict[str, Any] | None = None) -> tuple[str, str]:
    obs = Observation(session_id="s", faults=windows)
    judging = Judging(None, [], {"fault": fault or {}}, None, {}, obs)  # type: ignore[arg-type]
    result = asyncio.run(judge_recovery(CHECK, "recovery-1", judging))
    assert result.category == "output" and result.requirements == ("R-1",)
    return result.verdict.value, result.message


def window(ended: int, recovered: float | None) -> FaultWindow:
    return FaultWindow(
        link="db", toxic="down", started_ns=1, ended_ns=ended, recovered_ms=recovered
    )


def test_recovery_verdicts() -> None:
    assert kind_of("recovery").judge is judge_recovery
    assert verdict([window(5, 1200.0)]) == ("pass", "recovered 1.2 s after db: down ended")
    assert verdict([window(5, 2500.0)])[0] == Verdict.FAIL.value
    assert verdict([window(5, None)]) == ("fail", "not recovered within 2 s after db: down ended")
    assert verdict([])[0] == "error" and "no fault was applied" in verdict([])[1]
    assert verdict([window(0, None)])[0] == "error"  # still applied at the case's end
    unmeasured = verdict([window(5, None)], {"unmeasured": "no health URL"})
    assert unmeasured[0] == "error" and "no health URL" in unmeasured[1]
    # the fault that ended last decides
    assert verdict([window(9, 100.0), window(5, 9000.0)])[0] == "pass"


def test_a_failed_recovery_names_every_fault_of_the_case() -> None:
    """Not the fault that ended last alone: every one, with its turns, in the order applied."""
    cut = FaultWindow(link="db", toxic="reset_peer", started_ns=1, ended_ns=9,
                      first_turn=2, last_turn=3)  # fmt: skip
    cache = FaultWindow(link="cache", toxic="down", started_ns=2, ended_ns=5, first_turn=2)
    said = verdict([cut, cache])
    assert said == (
        "fail",
        "not recovered within 2 s after db: reset_peer (turns 2–3), cache: down (turn 2) ended",
    )


def test_not_recovered_is_read_from_the_verdict_and_the_value_not_the_words() -> None:
    from harness.check.recovery import not_recovered
    from harness.core import CheckResult

    def judged(windows: list[FaultWindow]) -> CheckResult:
        obs = Observation(session_id="s", faults=windows)
        judging = Judging(None, [], {"fault": {}}, None, {}, obs)  # type: ignore[arg-type]
        return asyncio.run(judge_recovery(CHECK, "recovery-1", judging))

    assert not_recovered(judged([window(5, None)])) == "not recovered within 2 s"
    assert not_recovered(judged([window(5, 2500.0)])) is None  # recovered, too late: 2.5 s
    assert not_recovered(judged([window(5, 1200.0)])) is None  # passed
    assert not_recovered(judged([])) is None  # an error: nothing to recover from
    other = CheckResult(check_id="c", check_type="contains", category="output",
                        requirements=("R-1",), verdict=Verdict.FAIL,
                        found="not recovered within 2 s")  # fmt: skip
    assert not_recovered(other) is None  # another check's words mean nothing here
