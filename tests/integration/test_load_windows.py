"""A load profile's fault windows on a real `LinkProxy` in front of a real TCP server: applied
and removed in order on the load's clock, the connections drawn for and hit replayed from the
seed, whatever is on removed at the end, and a conversation told which windows it overlapped."""

from __future__ import annotations

import asyncio
import time

import pytest

from harness.core import Observation
from harness.faults import LinkProxy, affects
from harness.load.windows import FaultWindows
from harness.spec.load import LoadSection

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def faults(*windows: dict[str, object]) -> list[object]:
    section = LoadSection.model_validate(
        {"profiles": {"p": {"shape": "soak", "users": 1, "duration": 120, "faults": windows}}}
    )
    return list(section.profiles["p"].faults)


async def echo_server() -> asyncio.Server:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(echo, "127.0.0.1", 0)


async def play(seed: int) -> tuple[list[object], tuple[int, ...], tuple[object, ...]]:
    server = await echo_server()
    port = server.sockets[0].getsockname()[1]
    async with server, LinkProxy("127.0.0.1", port, name="db", seed=seed) as proxy:
        clients = [await asyncio.open_connection(proxy.host, proxy.port) for _ in range(6)]
        for reader, writer in clients:  # each connection through before any window
            writer.write(b"x")
            assert await reader.readexactly(1) == b"x"
        start = time.time()
        windows = FaultWindows(
            faults(  # type: ignore[arg-type]
                {"link": "db", "toxic": "latency", "toxicity": 0.5,
                 "attributes": {"latency": 1}, "at": 0.05, "for": 0.1},
                {"link": "db", "toxic": "latency", "at": 0.1, "for": 0.1},
                {"link": "nowhere", "toxic": "down", "at": 0.0, "for": 0.05},
            ),
            {"db": proxy},
            lambda: start,
        )  # fmt: skip
        await windows.run()
        left = proxy.toxics
        for _, writer in clients:
            writer.close()
        sample = proxy.sample(windows.windows[0].name)
        assert sample is not None
        return windows.windows, sample.affected, left  # type: ignore[return-value]


def test_windows_are_applied_removed_and_replayed_from_the_seed() -> None:
    windows, affected, left = asyncio.run(play(seed=7))
    first, second, nowhere = windows
    assert left == ()  # every window removed when it ended
    assert first.started is not None and first.ended is not None
    assert second.started is not None and second.ended is not None
    # in the profile's order on the clock: the second began while the first was on
    assert first.started <= second.started <= first.ended <= second.ended
    assert first.started >= 0.05 and second.ended >= 0.2
    assert first.connections == 6 and first.affected == len(affected)
    assert affected == tuple(k for k in range(1, 7) if affects(7, first.name, k, 0.5))
    assert second.connections == second.affected == 6  # toxicity 1: all of them
    assert first.seed == 7 and first.share == len(affected) / 6
    # a link without a proxy: said, never applied
    assert nowhere.started is None and "no proxy on link nowhere" in (nowhere.error or "")
    _, affected_again, _ = asyncio.run(play(seed=7))
    assert affected_again == affected  # the same seed, the same connections hit


def test_close_removes_a_window_still_on_and_marks_conversations() -> None:
    async def main() -> None:
        server = await echo_server()
        port = server.sockets[0].getsockname()[1]
        async with server, LinkProxy("127.0.0.1", port, name="db", seed=1) as proxy:
            start = time.time()
            windows = FaultWindows(
                faults({"link": "db", "toxic": "down", "at": 0, "for": 60}),  # type: ignore[arg-type]
                {"db": proxy},
                lambda: start,
                source="load:p",
            )
            task = asyncio.create_task(windows.run())
            while proxy.enabled:  # until the window is on
                await asyncio.sleep(0.01)
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection(proxy.host, proxy.port)
            now = time.time()
            obs = Observation(session_id="s")
            ctx: dict[str, object] = {"fault": {"profile": None, "applied": False, "turns": []}}
            assert windows.mark(obs, [now - 5, now], now + 0.1, ctx) == [1]
            (fw,) = obs.faults
            assert (fw.toxic, fw.source, fw.first_turn, fw.last_turn) == ("down", "load:p", 2, 2)
            assert fw.ended_ns == 0  # still on
            assert ctx["fault"] == {"profile": None, "applied": True, "turns": [2]}  # checks' view
            untouched = Observation(session_id="t")
            assert windows.mark(untouched, [start - 9], start - 8, {}) == []
            task.cancel()
            windows.close()
            assert proxy.enabled and proxy.toxics == ()
            assert windows.windows[0].ended is not None
            _, writer = await asyncio.open_connection(proxy.host, proxy.port)  # up again
            writer.close()

    asyncio.run(main())
