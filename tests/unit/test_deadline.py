"""The engine's case timeouts on one timer (harness/run/deadline.py) behave as a
`asyncio.timeout` per case: a case past its deadline gets TimeoutError where it waits, one
that finishes in time is left alone, a cancellation from outside stays a cancellation."""

from __future__ import annotations

import asyncio
import time

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
