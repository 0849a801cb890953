"""Real PostgreSQL and Redis (the embedded provider) and a `LinkProxy` on a loop of its own,
for the fault proxy's tests: the clients are the ordinary blocking ones (psycopg, redis-py,
plain sockets), as an agent's would be, in the test's thread."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from harness.deps.base import Endpoint
from harness.deps.embedded import EmbeddedDependency, EmbeddedProvider
from harness.faults import LinkProxy
from harness.spec.models import PostgresDependency, RedisDependency

T = TypeVar("T")


@dataclass
class Servers:
    pg: Endpoint
    redis: Endpoint


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    """One real PostgreSQL and one real Redis for a test module, removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="harness-faults-test-"))
    workdir.chmod(0o755)  # the unprivileged server user must enter it
    provider = EmbeddedProvider()

    async def up() -> tuple[EmbeddedDependency, EmbeddedDependency]:
        pg, kv = await asyncio.gather(
            provider.start("db", PostgresDependency(kind="postgres"), run_id="f", workdir=workdir),
            provider.start("cache", RedisDependency(kind="redis"), run_id="f", workdir=workdir),
        )
        return pg, kv

    pg, kv = asyncio.run(up())
    try:
        yield Servers(pg.endpoint, kv.endpoint)
    finally:
        pg.stop_sync()
        kv.stop_sync()
        shutil.rmtree(workdir, ignore_errors=True)


class ProxyThread:
    """A `LinkProxy` served by an event loop in a thread; `call` runs a function on that loop
    (toxics are added and removed there, as the harness's schedules will)."""

    def __init__(self, endpoint: Endpoint, *, seed: int = 0, name: str = "link") -> None:
        self.proxy = LinkProxy(endpoint.host, endpoint.port, seed=seed, name=name)
        self.loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)
        self.leftover_tasks: set[asyncio.Task[Any]] | None = None

    def __enter__(self) -> ProxyThread:
        self._thread.start()
        assert self._ready.wait(10), "the proxy did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self._set_stop)
        self._thread.join(10)
        assert not self._thread.is_alive(), "the proxy's loop did not end"

    @property
    def port(self) -> int:
        return self.proxy.port

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn(*args))
            except BaseException as exc:
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return done.result(10)

    def _set_stop(self) -> None:
        assert self._stop is not None
        self._stop.set()

    def _main(self) -> None:
        async def serve() -> None:
            self._stop = asyncio.Event()
            async with self.proxy:
                self._ready.set()
                await self._stop.wait()
            self.leftover_tasks = asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]

        self.loop.run_until_complete(serve())
        self.loop.close()


def resp(*args: str | bytes) -> bytes:
    """A Redis command in RESP."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def redis_socket(port: int, password: str | None, timeout: float = 5.0) -> socket.socket:
    """A plain socket to Redis through the proxy, authenticated (its answer read)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if password:
        sock.sendall(resp("AUTH", password))
        assert sock.recv(100) == b"+OK\r\n"
    return sock


def read_chunks(sock: socket.socket, total: int) -> tuple[list[int], bytes]:
    """recv until `total` bytes or the end: the size of each recv, and the bytes."""
    sizes, data = [], b""
    while len(data) < total:
        chunk = sock.recv(65536)
        if not chunk:
            break
        sizes.append(len(chunk))
        data += chunk
    return sizes, data


def round_trip(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def pg_connect(
    servers: Servers, port: int, *, autocommit: bool = True, **options: object
) -> psycopg.Connection:
    """A psycopg connection to the test PostgreSQL at `port` (its own, or a proxy's)."""
    ep = servers.pg
    return psycopg.connect(
        host="127.0.0.1",
        port=port,
        user=ep.user,
        password=ep.password,
        dbname=ep.database or "postgres",
        autocommit=autocommit,
        **options,  # type: ignore[arg-type]
    )
