"""The engine's case timeouts on one timer (harness/run/deadline.py) behave as a
`asyncio.timeout` per case: a case past its deadline gets TimeoutError where it waits, one
that finishes in time is left alone, a cancellation from outside stays a cancellation."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from harness.run.deadline import Deadlines


def test_each_case_times_out_at_its_own_deadline_and_the_others_finish() -> None:
    async def main() -> list[str]:
        deadlines = Deadlines(0.2)

        async def case(name: str, seconds: float, start: float) -> str:
            await asyncio.sleep(start)
            began = time.monotonic()
            try:
                with deadlines():
                    await asyncio.sleep(seconds)
            except TimeoutError:
                waited = time.monotonic() - began
                assert 0.19 <= waited < 0.5, waited
                return f"{name} timed out"
            return f"{name} done"

        return await asyncio.gather(
            case("a", 0.05, 0.0), case("b", 1.0, 0.0), case("c", 0.01, 0.05),
            case("d", 1.0, 0.1), case("e", 0.0, 0.15),
        )  # fmt: skip

    assert asyncio.run(main()) == ["a done", "b timed out", "c done", "d timed out", "e done"]


def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    async def main() -> None:
        deadlines = Deadlines(5.0)

        async def case() -> None:
            with deadlines():
                await asyncio.sleep(10)

        task = asyncio.create_task(case())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not deadlines._queue and deadlines._timer is None  # nothing left behind

    asyncio.run(main())


def test_the_deadlines_work_again_in_a_new_event_loop() -> None:
    deadlines = Deadlines(0.05)

    async def case() -> str:
        try:
            with deadlines():
                await asyncio.sleep(1)
        except TimeoutError:
            return "timed out"
        return "done"

    assert asyncio.run(case()) == "timed out"
    assert asyncio.run(case()) == "timed out"


def _echo_engine(case_timeout: float) -> Any:
    from harness.agents.python import PythonAgent
    from harness.check.state import Targets
    from harness.core.events import ignore
    from harness.run.engine import Engine
    from harness.spec.suite import load_suite

    suite = load_suite(Path(__file__).resolve().parents[1] / "suites" / "echo")
    agent = PythonAgent(suite.manifest.environment.agent.python, suite.root)  # type: ignore[arg-type]
    return Engine(
        suite, agent, Targets(), run_id="r", concurrency=2, case_timeout=case_timeout,
        emit=ignore, sink=lambda _: None,
    )  # fmt: skip


def test_a_conversation_judged_for_a_load_times_out_as_a_case_does() -> None:
    """`Engine.conclude` (a load's conversations) keeps the case timeout on the engine's one
    timer too: judging that waits past it is the case timeout, named as `run_case` names it
    (not a harness fault with TimeoutError's empty message); judging in time leaves nothing
    behind."""
    from harness.core import FailureKind, Verdict
    from harness.run.plan import plan

    engine = _echo_engine(0.1)
    case = next(iter(plan(engine.suite, 1)))
    judge_case = engine.judge.case

    async def slow(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(1)  # e.g. a database check that hangs
        return await judge_case(*args, **kwargs)

    async def conclude(wait: bool) -> Any:
        prepared = await engine.prepare(case)
        engine.judge.case = slow if wait else judge_case  # type: ignore[method-assign]
        began = time.monotonic()
        result = await engine.conclude(prepared)
        return result, time.monotonic() - began

    late, waited = asyncio.run(conclude(True))
    assert 0.09 <= waited < 0.6, waited
    assert late.observation.error.kind is FailureKind.CASE_TIMEOUT
    assert late.observation.error.message == (
        "judging the conversation did not finish within 0.1 s"
    )
    assert {c.verdict for c in late.checks} == {Verdict.ERROR}
    in_time, _ = asyncio.run(conclude(False))
    assert in_time.observation.error is None
    assert not engine.deadlines._queue and engine.deadlines._timer is None
