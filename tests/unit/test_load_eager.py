"""load/eager.py: a coroutine run at once, with a task only when it has to wait."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from harness.load.eager import start

PINNED: contextvars.ContextVar[str] = contextvars.ContextVar("pinned", default="caller")


def test_a_coroutine_that_never_waits_is_done_at_once_without_a_task() -> None:
    async def main() -> None:
        done: list[str] = []

        async def judge() -> None:
            PINNED.set("judge")
            done.append(PINNED.get())

        before = len(asyncio.all_tasks())
        assert start(judge()) is None
        assert done == ["judge"]
        assert len(asyncio.all_tasks()) == before
        assert PINNED.get() == "caller"  # what it set stayed in its own context

    asyncio.run(main())


def test_a_coroutine_that_waits_goes_on_as_a_task_in_its_own_context() -> None:
    async def main() -> None:
        gate: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        seen: list[object] = []

        async def judge() -> None:
            token = PINNED.set("judge")
            try:
                seen.append(await gate)
                await asyncio.sleep(0)  # a bare yield too
                seen.append(PINNED.get())
            finally:
                PINNED.reset(token)

        task = start(judge())
        assert task is not None and not task.done()
        assert PINNED.get() == "caller"  # set inside, suspended inside: not the caller's
        gate.set_result(7)
        await task
        assert seen == [7, "judge"]

    asyncio.run(main())


def test_a_waiting_coroutine_is_cancelled_through_its_task() -> None:
    async def main() -> None:
        ended: list[str] = []

        async def judge() -> None:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                ended.append("cancelled")
                raise

        task = start(judge())
        assert task is not None
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert ended == ["cancelled"]

    asyncio.run(main())


def test_an_exception_is_kept_in_a_future_either_way() -> None:
    async def main() -> None:
        async def at_once() -> None:
            raise ValueError("now")

        async def later() -> None:
            await asyncio.sleep(0)
            raise ValueError("later")

        for coro, word in ((at_once(), "now"), (later(), "later")):
            future = start(coro)
            assert future is not None
            with pytest.raises(ValueError, match=word):
                await future

    asyncio.run(main())
