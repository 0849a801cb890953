"""Each toxic at work on one pipe of one connection, with Toxiproxy's semantics (its
`toxics/*.go`): a runner holds the toxic's per-connection state and gets every chunk (with
the time it arrived) and the end of the stream, passing on what it lets through."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from harness.faults.toxics import Toxic, latency_delay, slice_bounds

if TYPE_CHECKING:
    from harness.faults.pipe import Pipe

Emit = Callable[[bytes, float], Awaitable[None]]


class Closed(Exception):
    """The pipe's destination is gone: stop carrying data."""


class Runner:
    """A toxic at work on one pipe (its state lives here); passes everything on by default."""

    def __init__(self, pipe: Pipe, toxic: Toxic) -> None:
        self.pipe = pipe
        self.toxic = toxic
        self.started = False

    def start(self) -> None:
        """The toxic begins on this pipe (added, or the connection opened)."""

    def removed(self, *, closing: bool = False) -> None:
        """The toxic was removed (or the link is going away)."""

    async def handle(self, data: bytes, stamp: float, emit: Emit) -> None:
        await emit(data, stamp)

    async def end(self, emit_end: Callable[[], Awaitable[None]]) -> None:
        await emit_end()


class Latency(Runner):
    async def handle(self, data: bytes, stamp: float, emit: Emit) -> None:
        delay = latency_delay(self.pipe.rng, self.toxic["latency"], self.toxic["jitter"])
        wait = stamp + delay - asyncio.get_running_loop().time()
        if wait > 0:
            await self.pipe.sleep(wait)
        await emit(data, stamp + max(wait, 0.0))


class Bandwidth(Runner):
    def __init__(self, pipe: Pipe, toxic: Toxic) -> None:
        super().__init__(pipe, toxic)
        self.debt = 0.0  # seconds owed by what was sent (Toxiproxy's `sleep`)

    async def handle(self, data: bytes, stamp: float, emit: Emit) -> None:
        rate = self.toxic["rate"]  # KB/s = bytes per ms
        if rate <= 0:
            await emit(data, stamp)
            return
        loop = asyncio.get_running_loop()
        self.debt += len(data) / (rate * 1000)
        step = rate * 100  # what 100 ms carries
        while len(data) > step:
            if await self.pipe.sleep(0.1):
                self.debt = 0.0
                await emit(data, stamp)
                return
            await emit(data[:step], stamp)
            data = data[step:]
            self.debt -= 0.1
        started = loop.time()
        interrupted = await self.pipe.sleep(self.debt)
        self.debt = 0.0 if interrupted else self.debt - (loop.time() - started)
        await emit(data, stamp)


class Timeout(Runner):
    """Every byte dropped; the connection closed after `timeout` ms (never when 0), and when
    the toxic is removed (the stream lost bytes: Toxiproxy's cleanup closes it too)."""

    timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        if self.toxic["timeout"] > 0:
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(self.toxic["timeout"] / 1000, self.pipe.link.close)

    def removed(self, *, closing: bool = False) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if not closing:
            self.pipe.link.close()

    async def handle(self, data: bytes, stamp: float, emit: Emit) -> None:
        return  # dropped on the floor


class ResetPeer(Runner):
    """The first bytes (or the end) after it starts are dropped, and `timeout` ms later both
    peers get a TCP RST (Toxiproxy: data triggers it, so an idle connection is reset when next
    used)."""

    async def handle(self, data: bytes, stamp: float, emit: Emit) -> None:
        await self._reset()

    async def end(self, emit_end: Callable[[], Awaitable[None]]) -> None:
        await self._reset()

    async def _reset(self) -> None:
        await asyncio.sleep(self.toxic["timeout"] / 1000)
        self.pipe.link.reset()
        raise Closed


class SlowClose(Runner):
    async def end(self, emit_end: Callable[[], Awaitable[None]]) -> None:
        await self.pipe.sleep(self.toxic["delay"] / 1000)
        await emit_end()


class Slicer(Runner):
    async def handle(self, data: bytes, stamp: float, emit: Emit) -> None:
        t = self.toxic
        bounds = slice_bounds(self.pipe.rng, len(data), t["average_size"], t["size_variation"])
        for start, end in itertools.pairwise(bounds):
            await emit(data[start:end], stamp)
            if await self.pipe.sleep(t["delay"] / 1_000_000) and end < len(data):
                await emit(data[end:], stamp)
                return


class LimitData(Runner):
    def __init__(self, pipe: Pipe, toxic: Toxic) -> None:
        super().__init__(pipe, toxic)
        self.sent = 0

    async def handle(self, data: bytes, stamp: float, emit: Emit) -> None:
        left = max(self.toxic["bytes"] - self.sent, 0)
        data = data[:left]
        if data:
            self.sent += len(data)
            await emit(data, stamp)
        if self.toxic["bytes"] - self.sent <= 0:
            self.pipe.close_link()


RUNNERS: dict[str, type[Runner]] = {
    "latency": Latency,
    "bandwidth": Bandwidth,
    "timeout": Timeout,
    "reset_peer": ResetPeer,
    "slow_close": SlowClose,
    "slicer": Slicer,
    "limit_data": LimitData,
}
