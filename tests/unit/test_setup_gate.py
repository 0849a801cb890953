"""A load run's samples never see a case's setup half inserted, even when the load stops
(the agent died, Ctrl-C) while a case's rows are being written."""

from __future__ import annotations

import asyncio

from harness.load.invariants import SetupGate


def test_a_cancelled_setup_finishes_its_rows_before_a_sample_reads_them() -> None:
    rows: list[str] = []
    seen: list[list[str]] = []

    async def setup() -> str:  # a refund, then its audit row, each its own insert
        rows.append("refund")
        await asyncio.sleep(0.01)
        rows.append("audit")
        return "prepared"

    async def main() -> None:
        gate = SetupGate()
        preparing = asyncio.create_task(gate.whole(setup()))
        while not rows:
            await asyncio.sleep(0)
        preparing.cancel()  # the load stops between the two inserts

        async def sample() -> None:
            async with gate.exclusive():
                seen.append(list(rows))

        sampling = asyncio.create_task(sample())
        results = await asyncio.gather(preparing, sampling, return_exceptions=True)
        assert isinstance(results[0], asyncio.CancelledError)  # the cancel still arrives

    asyncio.run(main())
    assert seen == [["refund", "audit"]]


def test_a_setup_that_finishes_returns_its_result() -> None:
    async def setup() -> int:
        await asyncio.sleep(0)
        return 7

    async def main() -> int:
        return await SetupGate().whole(setup())

    assert asyncio.run(main()) == 7
