"""`LinkProxy`: a TCP proxy on a loopback port of its own, in front of one upstream, whose
toxics can be added and removed while connections are open.

The listener is a plain non-blocking socket watched by the event loop (no task): `down` stops
listening without giving up the port (on Linux a listening socket that is shut down keeps its
explicitly bound port, and connecting to it is refused), so the agent's next connect gets
ECONNREFUSED and its reconnect after the fault reaches the same address.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from dataclasses import dataclass, fields
from types import TracebackType

from harness import procs
from harness.errors import ConfigError, EnvironmentFault
from harness.faults.link import CLIENT, UPSTREAM, Link, Side
from harness.faults.toxics import Toxic, ToxicSample, affects

BACKLOG = 512
STREAMS = ("upstream", "downstream")


@dataclass
class Counters:
    """What went through a proxy so far (a link adds its bytes when it ends; `stats` adds
    those of the open ones)."""

    connections: int = 0
    failed: int = 0
    resets: int = 0
    upstream_in: int = 0
    upstream_out: int = 0
    downstream_in: int = 0
    downstream_out: int = 0


@dataclass(frozen=True)
class LinkStats:
    """A snapshot of a proxy's counters. `*_in`: bytes read from the sender; `*_out`: bytes
    written to the receiver (they differ by what toxics dropped or hold)."""

    connections: int  # accepted
    open: int  # still open
    failed: int  # accepted, but the upstream could not be reached
    resets: int  # ended by reset_peer
    upstream_in: int
    upstream_out: int
    downstream_in: int
    downstream_out: int


class LinkProxy:
    """A TCP proxy from 127.0.0.1:<a free port> to upstream, with Toxiproxy's toxics.

    Use it as `async with LinkProxy(host, port, name="db", seed=7) as proxy:`; hand the agent
    `proxy.host`/`proxy.port`. `add`, `remove` and `clear` are plain calls on the event loop's
    thread and take effect at once, on open connections too.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        name: str = "link",
        seed: int = 0,
        host: str = "127.0.0.1",
        connect_timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.upstream = (upstream_host, upstream_port)
        self.seed = seed
        self.host = host
        self.port = 0
        self.connect_timeout = connect_timeout
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listening = False
        self._links: set[Link] = set()
        self._toxics: dict[str, Toxic] = {}
        # one per activation (add .. remove) of a toxic, in order: connection -> hit?
        self._activations: list[tuple[Toxic, dict[int, bool]]] = []
        self._active: dict[str, dict[int, bool]] = {}
        #: per `after_sent` toxic's activation, the connections whose bytes matched (in order)
        self._matched: dict[int, list[int]] = {}
        self._counters = Counters()

    # -- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> LinkProxy:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> LinkProxy:
        """Bind a free loopback port and listen."""
        if self._sock is not None:
            return self
        self._loop = asyncio.get_running_loop()
        self._sock = self._bind()
        self.port = self._sock.getsockname()[1]
        if self.enabled:  # a link added down before it started stays down
            self._listen()
        return self

    async def stop(self) -> None:
        """Close the listener and every connection; returns when their sockets are closed."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        self._unlisten(sock, shutdown=False)
        sock.close()
        tasks = self._abort_all()
        try:
            if tasks:
                await asyncio.wait(tasks, timeout=2)
            for _ in range(20):  # transports close their sockets on the loop's next turns
                await asyncio.sleep(0)
                if not self._links:
                    break
        finally:
            for link in list(self._links):
                link.abort()

    @property
    def enabled(self) -> bool:
        """False while a `down` toxic is active: connections are refused."""
        return not any(t.kind == "down" for t in self._toxics.values())

    @property
    def listening(self) -> bool:
        return self._listening

    # -- toxics -------------------------------------------------------------------------------

    @property
    def toxics(self) -> tuple[Toxic, ...]:
        """The active toxics in chain order (the order they were added)."""
        return tuple(self._toxics.values())

    def add(self, toxic: Toxic) -> None:
        """Activate a toxic: open connections feel it on their next bytes, new ones at once."""
        if toxic.name in self._toxics:
            raise ConfigError(
                f"link {self.name}: a toxic named {toxic.name!r} is already active",
                hint="give each toxic of a link its own name, or remove the first one",
            )
        self._toxics[toxic.name] = toxic
        if toxic.kind == "down":
            self._disable()
            return
        self._active[toxic.name] = {}
        self._activations.append((toxic, self._active[toxic.name]))
        self._matched[id(self._active[toxic.name])] = []
        # in accept order (times counts the first ones); a snapshot: a toxic taking effect may
        # close a link at once
        for link in sorted(self._links, key=lambda link: link.number):
            self._draw(toxic, link)
            self._watch(toxic, link)
            link.set_toxics(toxic.stream, self._chain(link, toxic.stream))

    def remove(self, name: str) -> Toxic:
        """Deactivate a toxic by name; returns it. Unknown names are a `ConfigError`."""
        toxic = self._toxics.pop(name, None)
        if toxic is None:
            raise ConfigError(f"link {self.name}: no active toxic is named {name!r}")
        if toxic.kind == "down":
            if self.enabled and self._sock is not None:
                self._listen()
            return toxic
        # a snapshot: removing a timeout closes the links it held, which leave the set at once
        for link in list(self._links):
            link.unwatch(name)
            link.set_toxics(toxic.stream, self._chain(link, toxic.stream))
        del self._active[name]
        return toxic

    def clear(self) -> None:
        """Remove every active toxic (the link is clean and up again)."""
        for name in list(reversed(self._toxics)):
            self.remove(name)

    def samples(self) -> tuple[ToxicSample, ...]:
        """One per activation (`add` .. `remove`) of every toxic but `down`, in the order they
        were added: the connections it was drawn for while active and those it hit."""
        return tuple(self._sample(toxic, draws) for toxic, draws in self._activations)

    def sample(self, name: str) -> ToxicSample | None:
        """The latest activation of the toxic so named (the current one while it is active):
        what a fault window reports when it ends. None if no such toxic was ever added."""
        for toxic, draws in reversed(self._activations):
            if toxic.name == name:
                return self._sample(toxic, draws)
        return None

    def _sample(self, toxic: Toxic, draws: dict[int, bool]) -> ToxicSample:
        numbers = sorted(draws)
        if toxic.after_sent is not None:  # it acted only where the agent's bytes matched
            hit = tuple(sorted(self._matched.get(id(draws), ())))
        else:
            hit = tuple(n for n in numbers if draws[n])
        return ToxicSample(
            name=toxic.name,
            kind=toxic.kind,
            stream=toxic.stream,
            toxicity=toxic.toxicity,
            seed=self.seed,
            considered=tuple(numbers),
            affected=hit,
        )

    def stats(self) -> LinkStats:
        counters = {f.name: getattr(self._counters, f.name) for f in fields(Counters)}
        for link in self._links:  # open links count their bytes on their pipes
            up, down = link.pipes
            counters["upstream_in"] += up.bytes_in
            counters["upstream_out"] += up.bytes_out
            counters["downstream_in"] += down.bytes_in
            counters["downstream_out"] += down.bytes_out
        return LinkStats(open=len(self._links), **counters)

    def _draw(self, toxic: Toxic, link: Link) -> None:
        draws = self._active[toxic.name]
        if link.number not in draws:
            hit = affects(self.seed, toxic.name, link.number, toxic.toxicity)
            if hit and toxic.times is not None and toxic.after_sent is None:
                hit = sum(draws.values()) < toxic.times
            draws[link.number] = hit

    def _match(self, link: Link, toxic: Toxic) -> bool:
        """An `after_sent` toxic's bytes matched on `link`: whether it acts there (`times`)."""
        draws = self._active.get(toxic.name)
        if draws is None:
            return False
        matched = self._matched[id(draws)]
        if toxic.times is not None and len(matched) >= toxic.times:
            return False
        matched.append(link.number)
        if toxic.times is not None and len(matched) >= toxic.times:
            for other in list(self._links):  # its count is spent: no other connection waits
                if other is not link:
                    other.unwatch(toxic.name)
        return True

    def _watch(self, toxic: Toxic, link: Link) -> None:
        """An `after_sent` toxic that hit this connection waits for the client's bytes."""
        draws = self._active[toxic.name]
        spent = toxic.times is not None and len(self._matched[id(draws)]) >= toxic.times
        if toxic.after_sent is not None and draws[link.number] and not spent:
            link.watch(toxic)

    def _chain(self, link: Link, stream: str) -> tuple[Toxic, ...]:
        return tuple(
            t
            for t in self._toxics.values()
            if t.kind != "down"
            and t.stream == stream
            and self._active[t.name][link.number]
            and (t.after_sent is None or t.name in link.armed)
        )

    def _rechain(self, link: Link, stream: str) -> None:
        if not link.gone:
            link.set_toxics(stream, self._chain(link, stream))

    # -- the listener -------------------------------------------------------------------------

    def _bind(self) -> socket.socket:
        # an explicit port (not 0) keeps its binding while the socket is shut down for `down`
        for _ in range(50):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, procs.free_port(self.host)))
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EADDRINUSE:
                    continue
                raise EnvironmentFault(f"link {self.name}: cannot bind {self.host}: {exc}") from exc
            sock.setblocking(False)
            return sock
        raise EnvironmentFault(f"link {self.name}: no free port on {self.host} after 50 tries")

    def _listen(self) -> None:
        assert self._sock is not None and self._loop is not None
        if self._listening:
            return
        try:
            self._sock.listen(BACKLOG)
        except OSError:  # the kernel would not listen again on it: a new socket, same port
            self._sock.close()
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.setblocking(False)
            try:
                self._sock.bind((self.host, self.port))
                self._sock.listen(BACKLOG)
            except OSError as exc:
                raise EnvironmentFault(
                    f"link {self.name}: port {self.port} was taken while the link was down: {exc}"
                ) from exc
        self._loop.add_reader(self._sock.fileno(), self._accept)
        self._listening = True

    def _unlisten(self, sock: socket.socket, *, shutdown: bool) -> None:
        if not self._listening:
            return
        self._listening = False
        assert self._loop is not None
        self._loop.remove_reader(sock.fileno())
        if shutdown:
            with contextlib.suppress(OSError):  # refuses new connections, keeps the port
                sock.shutdown(socket.SHUT_RD)

    def _disable(self) -> None:
        if self._sock is not None:
            self._unlisten(self._sock, shutdown=True)
        self._abort_all()

    def _abort_all(self) -> list[asyncio.Task[None]]:
        tasks = []
        for link in list(self._links):
            if link.connecting is not None and not link.connecting.done():
                tasks.append(link.connecting)
            tasks.extend(p.task for p in link.pipes if p.task is not None and not p.task.done())
            link.abort()
        return tasks

    def _accept(self) -> None:
        sock = self._sock
        while sock is not None and self._listening:
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of descriptors or an aborted handshake: try on the next event
                return
            self._open(conn)

    # -- connections --------------------------------------------------------------------------

    def _open(self, conn: socket.socket) -> None:
        assert self._loop is not None
        conn.setblocking(False)
        # without it small writes wait for the peer's delayed ACK (asyncio sets it only on
        # sockets made with proto IPPROTO_TCP, which accepted ones are not)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._counters.connections += 1
        link = Link(self._counters.connections, self._counters, self.seed)
        link.on_gone = self._links.discard
        link.on_rechain = self._rechain
        link.on_match = self._match
        self._links.add(link)
        for toxic in self._toxics.values():
            if toxic.kind != "down":
                self._draw(toxic, link)
                self._watch(toxic, link)
        for stream in STREAMS:
            link.set_toxics(stream, self._chain(link, stream))
        link.connecting = self._loop.create_task(self._connect(link, conn))
        link.connecting.add_done_callback(lambda _: _release(link, conn))

    async def _connect(self, link: Link, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        await loop.connect_accepted_socket(lambda: Side(link, CLIENT), sock=conn)
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: Side(link, UPSTREAM), *self.upstream),
                self.connect_timeout,
            )
        except (TimeoutError, OSError):
            self._counters.failed += 1
            link.abort()  # the client sees its connection closed, as with Toxiproxy
            return
        client = link.transports[CLIENT]
        if client is not None and not client.is_closing():
            client.resume_reading()


def _release(link: Link, conn: socket.socket) -> None:
    """After connecting: a client socket no transport took over is closed here."""
    if link.transports[CLIENT] is None:
        conn.close()
        link.abort()
