"""HTTP/1.1 over asyncio's transports, replies read by llhttp (httptools, uvicorn's parser): the
client of the http and openai adapters and health polls. By hand: aiohttp's client spent about
165 us of CPU a request here, this one 60 us, and no kept library offers a lean asyncio client.
Only what an agent's API needs: keep-alive connections per host (at most `limit` in use; idle
ones closed after 15 s, as aiohttp's), http and https (verified), Content-Length, chunked and
read-to-close bodies, gzip and deflate; no redirects, proxy or cookie jar (protocol.CookieJar
is each conversation's). A reply is read whole up to a cap (the connection then closed, never
drained) or as a stream with back-pressure; its head is capped too. Errors are `ClientError`
(an OSError); timeouts the caller's."""

from __future__ import annotations

import asyncio
import base64
import functools
import ssl
import time
from collections.abc import Mapping

import httptools
from yarl import URL

from harness.agents.message import DEFAULT_HEADERS, Inflater, coding, header_problem

IDLE_SECONDS = 15.0  # an idle connection older than this is closed, not reused
HIGH_WATER = 256 * 1024  # a stream's buffered bytes at which reading pauses
INFLATE_MAX = 16 * 1024 * 1024  # a compressed stream's bytes inflated from one read at most
HEAD_MAX = 256 * 1024  # a reply's status line and headers, at most (aiohttp's: 8 KiB a line)


class ClientError(OSError):
    """The request could not be sent, or its reply was cut short or was not HTTP."""


@functools.lru_cache(maxsize=1024)
def _target(url: str) -> tuple[tuple[str, int, bool], bytes, bytes]:
    """(host, port, tls), the request line's target (with the URL's user as Basic auth) and
    the Host header, by yarl's rules (aiohttp's): a URL's spaces and non-ASCII are
    percent-encoded, its fragment dropped."""
    try:
        u = URL(url)
        ok = u.scheme in ("http", "https") and bool(u.host)
    except ValueError:
        ok = False
    if not ok:
        raise ClientError(f"request not sent: not an http(s) URL: {url!r}")
    auth = b""
    if u.user is not None:
        token = base64.b64encode(f"{u.user}:{u.password or ''}".encode()).decode()
        auth = f"Authorization: Basic {token}\r\n".encode()
    host = f"Host: {u.host_port_subcomponent or u.host}\r\n".encode()
    line = f" {u.raw_path_qs} HTTP/1.1\r\n".encode() + auth
    return (u.host or "", u.port or 80, u.scheme == "https"), line, host


@functools.lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


def _head(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> bytes:
    _, line, host = _target(url)
    lines = [method.encode("ascii"), line]
    if (problem := header_problem(headers)) is not None:
        raise ClientError(problem)
    seen = set()
    for name, value in headers.items():
        low = name.lower()
        if low in ("content-length", "transfer-encoding"):
            continue  # the client's own: the body is always sent whole, with its length
        seen.add(low)  # a suite's own Host among them, as aiohttp sent it
        lines.append(f"{name}: {value}\r\n".encode())
    if "host" not in seen:
        lines.append(host)
    for name, value in DEFAULT_HEADERS:
        if name.lower() not in seen:
            lines.append(f"{name}: {value}\r\n".encode())
    if body is not None and "content-type" not in seen:
        lines.append(b"Content-Type: application/octet-stream\r\n")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(b"Content-Length: %d\r\n" % len(body or b""))
    lines.append(b"\r\n")
    return b"".join(lines)


class Response:
    """A reply as it arrives: status and headers once the head is in; the body read whole
    (`read`) or as it comes (`readany`). No more than `cap` bytes of it are ever kept (or
    inflated), and a stream's reading pauses while more than HIGH_WATER bytes wait."""

    def __init__(self, conn: _Connection, method: str, cap: int) -> None:
        self.conn = conn
        self.head_only = method == "HEAD"
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.head: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.chunks: list[bytes] = []
        self.size = 0  # bytes waiting in `chunks` (before the head is in: the head's so far)
        self.total = 0  # bytes kept since the reply began
        self.cap = cap  # 0: no cap
        self.whole = False  # read whole: never paused
        self.complete = False
        self.keep_alive = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.inflater: Inflater | None = None  # a gzip or deflate body, inflated as it comes

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if self.error is None and not self.complete:
            self.error = error
        if not self.head.done():
            self.head.set_exception(error)
        self._wake()

    def _full(self) -> bool:
        return bool(self.cap) and self.total >= self.cap

    def _body(self, data: bytes) -> None:
        if self.inflater is not None:  # never inflated past what may be kept: no bomb
            if self._full():
                return
            room = self.cap - self.total if self.cap else INFLATE_MAX
            try:
                data = self.inflater.feed(data, room)
            except ValueError as exc:
                raise ClientError(str(exc)) from None
            if not self.cap and len(data) >= INFLATE_MAX:
                raise ClientError(f"a compressed reply inflates past {INFLATE_MAX} bytes a read")
        self._keep(data)

    def _keep(self, data: bytes) -> None:
        if not data or self._full():
            return  # nothing (a compressed header alone), or past the cap: nothing kept
        self.chunks.append(data)
        self.size += len(data)
        self.total += len(data)
        if self.size > HIGH_WATER and not self.whole:
            self.conn.pause()
        self._wake()

    async def _wait(self) -> None:
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None

    async def read(self, limit: int) -> bytes:
        """The body, cut at `limit` bytes (a larger one is read no further)."""
        self.whole = True
        self.conn.resume()
        while not self.complete and self.size < limit and not self._full():
            if self.error is not None:
                raise self.error
            await self._wait()
        body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks, self.size = [], 0
        return body[:limit] if len(body) > limit else body

    async def readany(self) -> bytes:
        """What has arrived since the last call, waiting for something; b"" at the end (or
        at the cap)."""
        while not self.chunks:
            if self.complete or self._full():
                return b""
            if self.error is not None:
                raise self.error
            await self._wait()
        data = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks, self.size = [], 0
        self.conn.resume()
        return data


class _Connection(asyncio.Protocol):
    """One keep-alive connection; the parser's callbacks feed its current response."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: Response | None = None
        self.lost = False
        self.paused = False
        self.idle_since = 0.0
        self.skip = False  # an interim 1xx reply, not the answer
        self.key: tuple[str, int, bool] = ("", 0, False)  # the pool's, set as it connects
        self.error: ClientError | None = None  # what a callback of the parser raised

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:  # httptools wraps what a callback raised
            self._broken(self.error or ClientError(f"the reply is no HTTP the client reads: {exc}"))
        r = self.response
        if r is not None and not r.head.done():
            r.size += len(data)  # the head's bytes so far (the body's are counted from its end)
            if r.size > HEAD_MAX:
                self._broken(ClientError(f"the reply's head runs past {HEAD_MAX} bytes"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        r = self.response
        if r is None or r.complete:
            return
        names = {name.lower() for name, _ in r.headers}
        if r.head.done() and not names & {"content-length", "transfer-encoding"}:
            r.complete = True  # a body read to the connection's close: that is its end
            r._wake()
        else:
            r._fail(ClientError("the agent closed the connection before its whole reply"))

    def _broken(self, error: BaseException) -> None:
        if self.response is not None:
            self.response._fail(error)
        self.close()

    def _raise(self, error: ClientError) -> None:
        self.error = error  # httptools raises its own error in its stead
        raise error

    # httptools' callbacks
    def on_message_begin(self) -> None:
        r = self.response
        if r is None or r.complete:
            self._raise(ClientError("the agent sent a reply nobody asked for"))

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.skip and self.response is not None:
            header = (name.decode("latin-1"), value.decode("utf-8", "surrogateescape"))
            self.response.headers.append(header)

    def on_headers_complete(self) -> None:
        r = self.response
        assert r is not None  # on_message_begin saw to it
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            self.skip = True
            r.headers = []
            return
        r.status, r.size = status, 0
        for name, value in r.headers:
            if name.lower() == "content-encoding":
                try:
                    r.inflater = Inflater(encoding) if (encoding := coding(value)) else None
                except ValueError as exc:
                    self._raise(ClientError(str(exc)))
        r.head.set_result(None)
        if r.head_only:
            r.complete = True
            self.close()  # the reply's length is no body's: the connection is not reused

    def on_body(self, body: bytes) -> None:
        if self.response is not None and not self.skip:
            try:
                self.response._body(body)
            except ClientError as exc:
                self._raise(exc)

    def on_message_complete(self) -> None:
        if self.skip:
            self.skip = False
            return
        r = self.response
        if r is not None and not r.complete:
            if r.inflater is not None and not r._full():
                try:  # what is left is never more than the last read's
                    r._keep(r.inflater.end())
                except ValueError as exc:
                    self._raise(ClientError(str(exc)))
            r.complete = True
            r.keep_alive = self.parser.should_keep_alive()
            r._wake()

    def pause(self) -> None:
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport is not None and not self.lost:
            self.paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.lost = True


class Exchange:
    """`async with pool.request(...) as response:`; the connection goes back to the pool
    only when its reply was read to its end and the agent keeps it alive."""

    __slots__ = ("body", "cap", "conn", "headers", "held", "method", "pool", "url")
    conn: _Connection | None

    def __init__(self, pool: Pool, method: str, url: str, headers: Mapping[str, str],
                 body: bytes | None, cap: int) -> None:  # fmt: skip
        self.pool, self.method, self.url, self.headers, self.body = pool, method, url, headers, body
        self.cap, self.conn = cap, None
        self.held = False

    async def __aenter__(self) -> Response:
        data = _head(self.method, self.url, self.headers, self.body)
        if self.body:
            data += self.body
        key = _target(self.url)[0]
        pool = self.pool
        await pool.slots.acquire()
        self.held = True
        try:
            conn = self.conn = pool.idle_connection(key) or await pool.connect(key)
            response = conn.response = Response(conn, self.method, self.cap)
            assert conn.transport is not None
            conn.transport.write(data)
            await response.head
        except BaseException:  # an error, the caller's timeout: no `__aexit__` comes
            await self.__aexit__()
            raise
        return response

    async def __aexit__(self, *exc: object) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            r = conn.response
            reuse = r is not None and r.complete and r.keep_alive and r.error is None
            conn.response = None
            if reuse and not conn.lost and not self.pool.closed:
                self.pool.put_back(conn)
            else:
                conn.close()
        if self.held:
            self.held = False
            self.pool.slots.release()


class Pool:
    """Keep-alive connections per (host, port, tls), at most `limit` in use at once."""

    def __init__(self, limit: int) -> None:
        self.slots = asyncio.Semaphore(max(limit, 1))
        self.idle: dict[tuple[str, int, bool], list[_Connection]] = {}
        self.closed = False

    def request(self, method: str, url: str, headers: Mapping[str, str],
                body: bytes | None = None, cap: int = 0) -> Exchange:  # fmt: skip
        """One request; of its reply no more than `cap` bytes are kept (0: no cap)."""
        return Exchange(self, method, url, headers, body, cap)

    def idle_connection(self, key: tuple[str, int, bool]) -> _Connection | None:
        idle = self.idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.lost and now - conn.idle_since < IDLE_SECONDS:
                return conn
            conn.close()
        return None

    async def connect(self, key: tuple[str, int, bool]) -> _Connection:
        host, port, tls = key
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(
                _Connection, host, port, ssl=_tls() if tls else None
            )
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise ClientError(
                f"{type(exc).__name__}: cannot connect to {host}:{port}: {reason}"
            ) from exc
        conn.key = key
        return conn

    def put_back(self, conn: _Connection) -> None:
        conn.idle_since = time.monotonic()
        self.idle.setdefault(conn.key, []).append(conn)

    def close(self) -> None:
        self.closed = True
        for conn in [c for idle in self.idle.values() for c in idle]:
            conn.close()
        self.idle.clear()
