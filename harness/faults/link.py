"""One proxied connection: the client's socket, the upstream's, and a pipe each way.

A pipe (`pipe.py`) with no toxic writes what it reads straight to the other socket (the
transport calls it; no task, no copy); with toxics, chunks queue and one task carries each
through the chain in order, every chunk stamped with the time it arrived (so latency is added
once per chunk, not summed over a queue, as in Toxiproxy). A pipe reads its chain again for
every chunk, so a toxic added or removed mid-conversation acts on the next bytes; a wait in
progress (latency, bandwidth, slicer, slow_close) ends early when the chain changes and its
data goes on.

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
import contextlib
import random
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from harness.faults.pipe import CLIENT, UPSTREAM, Pipe
from harness.faults.toxics import Toxic, Watch

if TYPE_CHECKING:
    from harness.faults.proxy import Counters

__all__ = ["CLIENT", "UPSTREAM", "Link", "Pipe", "Side"]


class Side(asyncio.Protocol):
    """One socket of a link; everything it sees goes to the link."""

    def __init__(self, link: Link, index: int) -> None:
        self.link = link
        self.index = index
        # the transport calls the pipe itself: one Python frame per chunk on the direct path
        self.data_received = link.pipes[index].received  # type: ignore[method-assign]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport (uvloop's are not subclasses of asyncio.Transport)
        transport = cast(asyncio.Transport, transport)
        if self.index == CLIENT:
            # until the upstream is connected (uvloop starts reading anyway: the upstream pipe
            # then holds what comes until its destination is there)
            transport.pause_reading()
        self.link.made(self.index, transport)

    def data_received(self, data: bytes) -> None:  # replaced per instance in __init__
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
        #: the proxy says whether a matched `after_sent` toxic acts here (its `times`)
        self.on_match: Callable[[Link, Toxic], bool] = lambda link, toxic: True
        #: `after_sent` toxics that matched on this connection (in their stream's chain)
        self.armed: set[str] = set()
        self.gone = False
        self.reset_sent = False

    def made(self, index: int, transport: asyncio.Transport) -> None:
        self.transports[index] = transport
        self.live[index] = True
        if self.gone:  # aborted while this socket was being set up
            transport.abort()
            return
        self.pipes[1 - index].connected()

    def lost(self, index: int) -> None:
        self.live[index] = False
        self.pipes[1 - index].refresh()  # nothing more can be written to that side
        self.pipes[index].ended()  # nothing more comes from that side
        if not any(self.live):
            self._finish()

    def set_toxics(self, stream: str, toxics: tuple[Toxic, ...]) -> None:
        self.pipes[0 if stream == "upstream" else 1].set_toxics(toxics)

    def watch(self, toxic: Toxic) -> None:
        """Hold an `after_sent` toxic until the client's bytes from now on match."""
        self.armed.discard(toxic.name)
        self.pipes[0].watches[toxic.name] = Watch(toxic)
        self.pipes[0].refresh()

    def unwatch(self, name: str) -> None:
        self.armed.discard(name)
        self.pipes[0].watches.pop(name, None)
        self.pipes[0].refresh()

    def matched(self, toxic: Toxic) -> None:
        """The client's bytes matched: the toxic joins its stream's chain in order (unless it
        has acted on its `times` connections already)."""
        if self.on_match(self, toxic):
            self.pipes[0 if toxic.stream == "upstream" else 1].arm(toxic.name)

    def close(self) -> None:
        """Close both sockets gracefully (what was written is flushed first)."""
        if self.connecting is not None and not self.connecting.done():
            self.abort()
            return
        for transport in self.transports:
            if transport is not None:
                transport.close()
        for pipe in self.pipes:
            pipe.refresh()

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
        up, down = self.pipes
        self.counters.upstream_in += up.bytes_in
        self.counters.upstream_out += up.bytes_out
        self.counters.downstream_in += down.bytes_in
        self.counters.downstream_out += down.bytes_out
        self.on_gone(self)
