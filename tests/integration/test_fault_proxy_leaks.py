"""Nothing of a fault proxy outlives it: after `stop`, after an exception in its block and
after the cancellation of the task holding it, with connections open and toxics at work, no
port listens, no task is left and no socket stays open (the process's descriptors counted)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path

import pytest

from harness.faults import LinkProxy, Toxic
from tests.faults import Servers, listening, resp, servers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
__all__ = ["servers"]


def sockets_open() -> int:
    """The process's open sockets (descriptors pointing at socket:[...])."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # a descriptor closed meanwhile
            count += os.readlink(fd).startswith("socket:")
    return count


Client = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def busy(proxy: LinkProxy, password: str | None) -> list[Client]:
    """Connections through the proxy in every state: idle, mid-latency, black-holed."""
    clients = []
    for _ in range(3):
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        if password:
            writer.write(resp("AUTH", password))
            assert await reader.readline() == b"+OK\r\n"
        clients.append((reader, writer))
    proxy.add(Toxic(kind="latency", attributes={"latency": 60_000}))
    clients[1][1].write(resp("PING"))  # its answer now waits a minute in the proxy
    proxy.add(Toxic(kind="timeout", stream="upstream", toxicity=1.0))
    clients[2][1].write(resp("PING"))  # dropped
    await asyncio.sleep(0.1)
    return clients


async def close_all(clients: list[Client]) -> None:
    for reader, writer in clients:
        assert await asyncio.wait_for(reader.read(), 5) == b""  # the proxy closed it
        writer.close()
        await writer.wait_closed()


def test_stop_closes_the_listener_every_connection_and_task(servers: Servers) -> None:
    async def main() -> int:
        baseline = sockets_open()
        proxy = LinkProxy(servers.redis.host, servers.redis.port, name="cache")
        async with proxy:
            port = proxy.port
            clients = await busy(proxy, servers.redis.password)
            assert proxy.stats().open == 3
        assert proxy.stats().open == 0
        assert asyncio.all_tasks() == {asyncio.current_task()}
        await close_all(clients)
        await asyncio.sleep(0)
        assert sockets_open() == baseline
        return port

    port = asyncio.run(main())
    assert not listening(port)


def test_an_exception_or_a_cancellation_leaves_nothing(servers: Servers) -> None:
    async def holder(proxy: LinkProxy, ready: asyncio.Future[list[object]], fail: bool) -> None:
        async with proxy:
            ready.set_result(await busy(proxy, servers.redis.password))
            if fail:
                raise RuntimeError("the session failed")
            await asyncio.sleep(3600)

    async def main(fail: bool) -> int:
        baseline = sockets_open()
        proxy = LinkProxy(servers.redis.host, servers.redis.port, name="cache")
        ready: asyncio.Future[list[object]] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(holder(proxy, ready, fail))
        clients = await ready
        if fail:
            with pytest.raises(RuntimeError):
                await task
        else:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert asyncio.all_tasks() == {asyncio.current_task()}
        assert not proxy.listening and proxy.stats().open == 0
        await close_all(clients)  # type: ignore[arg-type]
        await asyncio.sleep(0)
        assert sockets_open() == baseline
        return proxy.port

    for fail in (False, True):
        port = asyncio.run(main(fail))
        assert not listening(port)


def test_down_then_stop_leaves_no_port(servers: Servers) -> None:
    async def main() -> int:
        proxy = LinkProxy(servers.redis.host, servers.redis.port)
        async with proxy:
            proxy.add(Toxic(kind="down"))
            probe = socket.socket()
            with pytest.raises(OSError):
                probe.bind(("127.0.0.1", proxy.port))  # still the proxy's while down
            probe.close()
        return proxy.port

    port = asyncio.run(main())
    probe = socket.socket()
    probe.bind(("127.0.0.1", port))  # free again
    probe.close()


def test_an_unreachable_upstream_closes_the_client_and_is_counted() -> None:
    async def main() -> None:
        baseline = sockets_open()
        nothing = socket.socket()
        nothing.bind(("127.0.0.1", 0))  # bound, never listening: connecting is refused
        async with LinkProxy("127.0.0.1", nothing.getsockname()[1]) as proxy:
            reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed
            writer.close()
            await writer.wait_closed()
            reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
            writer.write(b"hello")  # unread when the proxy closes it: the kernel resets
            with pytest.raises(ConnectionResetError):
                await asyncio.wait_for(reader.read(), 5)
            writer.close()
            stats = proxy.stats()
            assert (stats.connections, stats.failed, stats.upstream_out) == (2, 2, 0)
        nothing.close()
        assert asyncio.all_tasks() == {asyncio.current_task()}
        await asyncio.sleep(0)
        assert sockets_open() == baseline

    asyncio.run(main())


def test_a_link_down_before_it_starts_refuses_from_the_start() -> None:
    async def main() -> None:
        proxy = LinkProxy("127.0.0.1", 9)
        proxy.add(Toxic(kind="down", name="outage"))
        async with proxy:
            assert not proxy.listening
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection(proxy.host, proxy.port)
            proxy.remove("outage")
            assert proxy.listening and proxy.enabled
            _, writer = await asyncio.open_connection(proxy.host, proxy.port)
            writer.close()
        assert not proxy.listening

    asyncio.run(main())
