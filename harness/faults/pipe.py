"""One direction of a proxied connection (`Pipe`): reads from one socket, writes to the other,
through the toxics of its stream.

No toxic, no watch: `out` is the destination's transport and a chunk is one write (the direct
path, one Python frame per chunk: the transport calls `received` itself). Otherwise chunks
queue, stamped with their arrival, and one task carries each through the chain in order; a
chunk that arrives before the destination is connected is held in the queue until it is.
"""

from __future__ import annotations

import asyncio
import collections
import random
from typing import TYPE_CHECKING

from harness.faults.runners import RUNNERS, Closed, Runner
from harness.faults.toxics import Toxic, Watch

if TYPE_CHECKING:
    from harness.faults.link import Link

CLIENT, UPSTREAM = 0, 1
#: bytes queued in a toxic pipe before reading its source pauses
HIGH_WATER = 256 * 1024


class Pipe:
    """One direction of a link: reads from `src`, writes to `dst`, through its toxics."""

    def __init__(self, link: Link, stream: str, src: int, dst: int, rng: random.Random) -> None:
        self.link = link
        self.stream = stream
        self.src, self.dst = src, dst
        self.rng = rng
        self.chain: tuple[Runner, ...] = ()
        #: chunks (bytes), the end (None), a toxic that matched (its name), with arrival time
        self.queue: collections.deque[tuple[bytes | str | None, float]] = collections.deque()
        self.queued = 0
        self.task: asyncio.Task[None] | None = None
        self._done = False
        #: the destination's transport while nothing stands between: no toxic, no task, no
        #: watch, not done (`refresh` keeps it); then a chunk is one write and two adds
        self.out: asyncio.Transport | None = None
        #: bytes read from the source and written to the destination (summed by the proxy)
        self.bytes_in = 0
        self.bytes_out = 0
        self.paused_by = {"queue": False, "dst": False}
        self.writable: asyncio.Future[None] | None = None
        self.sleepers: list[asyncio.Future[bool]] = []
        #: `after_sent` toxics waiting for the client's bytes (upstream pipe only)
        self.watches: dict[str, Watch] = {}

    # -- reading ----------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self._done

    @done.setter
    def done(self, value: bool) -> None:
        self._done = value
        self.refresh()

    def refresh(self) -> None:
        """Whether chunks may go straight to the destination's transport (`out`)."""
        transport = self.link.transports[self.dst]
        direct = not (self.chain or self.task or self.watches or self.queue or self._done)
        if direct and transport is not None and not transport.is_closing():
            self.out = transport
        else:
            self.out = None

    def received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        out = self.out
        if out is not None:  # the direct path: nothing else on it
            out.write(data)
            self.bytes_out += len(data)
            return
        self._received(data)

    def _received(self, data: bytes) -> None:
        if self.done:
            return
        connected = self.link.transports[self.dst] is not None
        if connected and not self.chain and self.task is None and not self.queue:
            self._write_now(data)
        else:  # through the toxics, or held until the destination is connected
            self.queue.append((data, asyncio.get_running_loop().time()))
            self.queued += len(data)
            if self.queued > HIGH_WATER:
                self._pause("queue", True)
            if connected:
                self._run()
        if self.watches:
            self._watch(data)

    def connected(self) -> None:
        """The destination's socket is there: what was held goes on."""
        self.refresh()
        if self.queue:
            self._run()

    def _watch(self, data: bytes) -> None:
        for name, watch in list(self.watches.items()):
            if watch.feed(data):
                del self.watches[name]
                self.refresh()
                self.link.matched(watch.toxic)

    def arm(self, name: str) -> None:
        """An `after_sent` toxic starts on this pipe: now if nothing is queued, else after
        what is (the bytes that came before the match are not its to act on)."""
        if self.done:
            return
        if self.task is None and not self.queue:
            self.link.armed.add(name)
            self.link.on_rechain(self.link, self.stream)
            return
        self.queue.append((name, 0.0))
        if self.link.transports[self.dst] is not None:
            self._run()

    def ended(self) -> None:
        """The source sent its last byte (or is gone)."""
        if self.done:
            return
        connected = self.link.transports[self.dst] is not None
        if connected and not self.chain and self.task is None and not self.queue:
            self._close_dst()
            return
        self.queue.append((None, 0.0))
        self.refresh()
        if connected:
            self._run()

    # -- the chain ----------------------------------------------------------------------------

    def set_toxics(self, toxics: tuple[Toxic, ...]) -> None:
        old = {runner.toxic.name: runner for runner in self.chain}
        chain = []
        for toxic in toxics:
            runner = old.pop(toxic.name, None)
            chain.append(runner if runner is not None else RUNNERS[toxic.kind](self, toxic))
        self.chain = tuple(chain)
        self.refresh()
        for sleeper in self.sleepers:
            if not sleeper.done():
                sleeper.set_result(True)
        for runner in old.values():
            runner.removed()
        for runner in chain:
            if not runner.started:
                runner.started = True
                runner.start()

    def _run(self) -> None:
        if self.task is None and not self.done:
            self.task = asyncio.get_running_loop().create_task(self._pump())
            self.out = None

    async def _pump(self) -> None:
        try:
            while self.queue and not self.done:
                data, stamp = self.queue.popleft()
                if isinstance(data, str):  # an after_sent toxic starts here
                    self.link.armed.add(data)
                    self.link.on_rechain(self.link, self.stream)
                    continue
                chain = self.chain
                if data is None:
                    await self._end_through(chain, 0)
                    self._close_dst()
                    return
                self.queued -= len(data)
                if self.queued <= HIGH_WATER // 2:
                    self._pause("queue", False)
                await self._through(chain, 0, data, stamp)
        except Closed:
            self.done = True
        finally:
            self.task = None
            self.refresh()
        if self.queue and not self.done:  # data came while the last chunk was written
            self._run()

    async def _through(self, chain: tuple[Runner, ...], i: int, data: bytes, stamp: float) -> None:
        if i == len(chain):
            await self._write(data)
            return

        async def emit(piece: bytes, when: float) -> None:
            await self._through(chain, i + 1, piece, when)

        await chain[i].handle(data, stamp, emit)

    async def _end_through(self, chain: tuple[Runner, ...], i: int) -> None:
        if i < len(chain):
            await chain[i].end(lambda: self._end_through(chain, i + 1))

    async def sleep(self, seconds: float) -> bool:
        """Wait; True when the chain changed meanwhile (the wait ends early)."""
        if seconds <= 0:
            return False
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[bool] = loop.create_future()
        timer = loop.call_later(seconds, _wake, woken)
        self.sleepers.append(woken)
        try:
            return await woken
        finally:
            timer.cancel()
            self.sleepers.remove(woken)

    # -- writing ------------------------------------------------------------------------------

    def _write_now(self, data: bytes) -> None:
        transport = self.link.transports[self.dst]
        if transport is None or transport.is_closing():
            self.done = True
            return
        transport.write(data)
        self.bytes_out += len(data)

    async def _write(self, data: bytes) -> None:
        self._write_now(data)
        if self.done:
            raise Closed
        while self.paused_by["dst"]:
            self.writable = asyncio.get_running_loop().create_future()
            await self.writable

    def blocked(self, full: bool) -> None:
        """The destination's write buffer filled (or drained)."""
        self._pause("dst", full)
        if not full and self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    def _pause(self, why: str, on: bool) -> None:
        was = any(self.paused_by.values())
        self.paused_by[why] = on
        now = any(self.paused_by.values())
        transport = self.link.transports[self.src]
        if transport is None or was == now or transport.is_closing():
            return
        if now:
            transport.pause_reading()
        else:
            transport.resume_reading()

    def _close_dst(self) -> None:
        self.done = True
        transport = self.link.transports[self.dst]
        if transport is not None:
            transport.close()

    def close_link(self) -> None:
        """End this pipe and close its destination (the other pipe then ends too)."""
        self._close_dst()
        raise Closed

    def cancel(self) -> None:
        self.queue.clear()
        self.done = True
        for runner in self.chain:
            runner.removed(closing=True)
        task = self.task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()


def _wake(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(False)
