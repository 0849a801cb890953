"""One proxied connection: the client's socket, the upstream's, and a pipe each way.

A pipe with no toxic writes what it reads straight to the other socket (asyncio's transports,
no task, no copy); with toxics, chunks queue and one task carries each through the chain in
order, every chunk stamped with the time it arrived (so latency is added once per chunk, not
summed over a queue, as in Toxiproxy). A pipe reads its chain again for every chunk, so a
toxic added or removed mid-conversation acts on the next bytes; a wait in progress (latency,
bandwidth, slicer, slow_close) ends early when the chain changes and its data goes on.

The end of a stream follows Toxiproxy: when one side stops sending, the end travels through
the chain and then the other socket is closed, which ends the other pipe in turn.

A toxic with `after_sent` is inert on a connection (out of its chain) while a `Watch` on the
upstream pipe reads what the client sends; when that matches, the toxic joins the chain of
its stream in order: after the chunks already queued there, so an upstream toxic starts with
the client's next chunk and a downstream one with the server's next bytes. Without such a
toxic the upstream pipe has no watch and pays nothing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import re
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.faults.runners import RUNNERS, Closed, Runner
from harness.faults.toxics import Toxic

if TYPE_CHECKING:
    from harness.faults.proxy import Counters

CLIENT, UPSTREAM = 0, 1
#: bytes queued in a toxic pipe before reading its source pauses
HIGH_WATER = 256 * 1024
#: what a watch keeps of the client's bytes on a connection: the last 64 KiB
WATCH_LIMIT = 64 * 1024


class Watch:
    """An `after_sent` toxic waiting on one connection: the client's bytes since it was added
    (the last `WATCH_LIMIT`), matched after every chunk."""

    __slots__ = ("pattern", "seen", "toxic")

    def __init__(self, toxic: Toxic) -> None:
        assert toxic.after_sent is not None
        self.toxic = toxic
        self.pattern = re.compile(toxic.after_sent, re.DOTALL)  # re caches the compiled form
        self.seen = b""

    def feed(self, data: bytes) -> bool:
        """Keep `data`; True when what was kept matches."""
        seen = self.seen + data
        if len(seen) > WATCH_LIMIT:
            seen = seen[-WATCH_LIMIT:]
        self.seen = seen
        return self.pattern.search(seen.decode("latin-1")) is not None


class Side(asyncio.Protocol):
    """One socket of a link; everything it sees goes to the link."""

    def __init__(self, link: Link, index: int) -> None:
        self.link = link
        self.index = index

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self.index == CLIENT:
            transport.pause_reading()  # until the upstream is connected
        self.link.made(self.index, transport)

    def data_received(self, data: bytes) -> None:
        self.link.pipes[self.index].received(data)

    def eof_received(self) -> bool:
        self.link.pipes[self.index].ended()
        return True  # keep writing the other way; the pipe closes the socket when done

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.lost(self.index)

    def pause_writing(self) -> None:
        self.link.pipes[1 - self.index].blocked(True)

    def resume_writing(self) -> None:
        self.link.pipes[1 - self.index].blocked(False)


class Link:
    """A client's connection through the proxy: two sockets, two pipes."""

    def __init__(self, number: int, counters: Counters, seed: int) -> None:
        self.number = number
        self.counters = counters
        self.transports: list[asyncio.Transport | None] = [None, None]
        self.live = [False, False]
        self.pipes = (
            Pipe(self, "upstream", CLIENT, UPSTREAM, random.Random(f"{seed}/{number}/up")),
            Pipe(self, "downstream", UPSTREAM, CLIENT, random.Random(f"{seed}/{number}/down")),
        )
        self.connecting: asyncio.Task[None] | None = None
        self.on_gone: Callable[[Link], None] = lambda link: None
        #: the proxy gives a stream its chain again (an `after_sent` toxic matched)
        self.on_rechain: Callable[[Link, str], None] = lambda link, stream: None
        #: `after_sent` toxics that matched on this connection (in their stream's chain)
        self.armed: set[str] = set()
        self.gone = False
        self.reset_sent = False

    def made(self, index: int, transport: asyncio.Transport) -> None:
        self.transports[index] = transport
        self.live[index] = True
        if self.gone:  # aborted while this socket was being set up
            transport.abort()

    def lost(self, index: int) -> None:
        self.live[index] = False
        self.pipes[index].ended()  # nothing more comes from that side
        if not any(self.live):
            self._finish()

    def set_toxics(self, stream: str, toxics: tuple[Toxic, ...]) -> None:
        self.pipes[0 if stream == "upstream" else 1].set_toxics(toxics)

    def watch(self, toxic: Toxic) -> None:
        """Hold an `after_sent` toxic until the client's bytes from now on match."""
        self.armed.discard(toxic.name)
        self.pipes[0].watches[toxic.name] = Watch(toxic)

    def unwatch(self, name: str) -> None:
        self.armed.discard(name)
        self.pipes[0].watches.pop(name, None)

    def matched(self, toxic: Toxic) -> None:
        """The client's bytes matched: the toxic joins its stream's chain in order."""
        self.pipes[0 if toxic.stream == "upstream" else 1].arm(toxic.name)

    def close(self) -> None:
        """Close both sockets gracefully (what was written is flushed first)."""
        if self.connecting is not None and not self.connecting.done():
            self.abort()
            return
        for transport in self.transports:
            if transport is not None:
                transport.close()

    def abort(self) -> None:
        """Close both sockets now, dropping what is not yet written."""
        if self.connecting is not None and not self.connecting.done():
            self.connecting.cancel()
        for transport in self.transports:
            if transport is not None:
                transport.abort()
        for pipe in self.pipes:
            pipe.cancel()
        if not any(self.live):
            self._finish()

    def reset(self) -> None:
        """A TCP reset to both peers: SO_LINGER 0, then close."""
        self.reset_sent = True
        self.counters.resets += 1
        linger = struct.pack("ii", 1, 0)
        for transport in self.transports:
            if transport is not None:
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):  # already gone: nothing to reset
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        self.abort()

    def _finish(self) -> None:
        if self.gone:
            return
        self.gone = True
        for pipe in self.pipes:
            pipe.cancel()
        self.on_gone(self)


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
        self.done = False
        self.paused_by = {"queue": False, "dst": False}
        self.writable: asyncio.Future[None] | None = None
        self.sleepers: list[asyncio.Future[bool]] = []
        #: `after_sent` toxics waiting for the client's bytes (upstream pipe only)
        self.watches: dict[str, Watch] = {}

    # -- reading ----------------------------------------------------------------------------

    def received(self, data: bytes) -> None:
        counters = self.link.counters
        if self.stream == "upstream":
            counters.upstream_in += len(data)
        else:
            counters.downstream_in += len(data)
        if self.done:
            return
        if not self.chain and self.task is None:
            self._write_now(data)
        else:
            self.queue.append((data, asyncio.get_running_loop().time()))
            self.queued += len(data)
            if self.queued > HIGH_WATER:
                self._pause("queue", True)
            self._run()
        if self.watches:
            self._watch(data)

    def _watch(self, data: bytes) -> None:
        for name, watch in list(self.watches.items()):
            if watch.feed(data):
                del self.watches[name]
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
        self._run()

    def ended(self) -> None:
        """The source sent its last byte (or is gone)."""
        if self.done:
            return
        if not self.chain and self.task is None:
            self._close_dst()
            return
        self.queue.append((None, 0.0))
        self._run()

    # -- the chain ----------------------------------------------------------------------------

    def set_toxics(self, toxics: tuple[Toxic, ...]) -> None:
        old = {runner.toxic.name: runner for runner in self.chain}
        chain = []
        for toxic in toxics:
            runner = old.pop(toxic.name, None)
            chain.append(runner if runner is not None else RUNNERS[toxic.kind](self, toxic))
        self.chain = tuple(chain)
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
        if self.stream == "upstream":
            self.link.counters.upstream_out += len(data)
        else:
            self.link.counters.downstream_out += len(data)

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
        self.done = True
        self.queue.clear()
        for runner in self.chain:
            runner.removed(closing=True)
        task = self.task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()


def _wake(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(False)
