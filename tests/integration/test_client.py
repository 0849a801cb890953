"""The harness's HTTP/1.1 client (harness/agents/client.py) against real servers over real
sockets: aiohttp's server where a reply is well formed, a raw asyncio server for the replies
no HTTP library sends on purpose (cut short, not HTTP, read to the close, interim 1xx)."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trustme
from aiohttp import web

from harness.agents import client
from harness.agents.process import UNTRUSTED, wait_healthy

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _raw(handler: Handler) -> tuple[asyncio.Server, int, list[bytes]]:
    """A raw server: each connection's request head is read, kept, and `handler` answers."""
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            seen.append(await reader.readuntil(b"\r\n\r\n"))
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


async def _app(
    routes: dict[str, Any], tls: ssl.SSLContext | None = None, method: str = "GET"
) -> tuple[Any, int]:
    """aiohttp's server with these path -> handler routes, on a port of its own."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = runner.addresses[0][1]
    return runner, port


async def _refused(pool: client.Pool, handler: Handler, match: str) -> None:
    """The raw server's reply through `handler` is the client's error, matching `match`."""
    server, port, _ = await _raw(handler)
    try:
        with pytest.raises(client.ClientError, match=match):
            await _get(pool, f"http://127.0.0.1:{port}/")
    finally:
        server.close()


async def _get(pool: client.Pool, url: str, **kw: Any) -> tuple[int, dict[str, str], bytes]:
    async with asyncio.timeout(10):
        async with pool.request(kw.pop("method", "GET"), url, kw.pop("headers", {}), **kw) as r:
            return r.status, dict(r.headers), await r.read(10_000_000)


def test_keep_alive_reuses_one_connection_and_sends_what_aiohttp_sent() -> None:
    peers: list[Any] = []
    heads: list[dict[str, str]] = []

    async def echo(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        heads.append({"path": request.raw_path, **request.headers})
        return web.Response(body=await request.read())

    async def main() -> int:
        runner, port = await _app({"/{tail:.*}": echo}, method="*")
        pool = client.Pool(4)
        try:
            for i in range(5):
                body = f"hello {i}".encode()
                status, _, got = await _get(
                    pool, f"http://127.0.0.1:{port}/a b/é?q=é", method="POST", body=body
                )
                assert (status, got) == (200, body)
            await _get(pool, f"http://127.0.0.1:{port}/", headers={"host": "agent.example"})
        finally:
            pool.close()
            await runner.cleanup()
        return port

    port = asyncio.run(main())
    assert len(heads) == 6 and len(set(peers)) == 1  # six requests, one connection
    head = heads[0]
    assert head["path"] == "/a%20b/%C3%A9?q=%C3%A9"  # quoted as yarl (aiohttp) quotes
    assert head["Host"] == f"127.0.0.1:{port}"
    assert head["Content-Length"] == "7" and head["Content-Type"] == "application/octet-stream"
    assert head["User-Agent"] == "harness" and head["Accept"] == "*/*"
    assert head["Accept-Encoding"] == "identity"  # as `harness load` sends it
    assert heads[5]["Host"] == "agent.example"  # the suite's own Host, not the URL's


def test_connection_close_chunked_and_gzip_replies() -> None:
    peers: list[Any] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        if request.path == "/close":
            return web.Response(text="bye", headers={"Connection": "close"})
        if request.path == "/gzip":
            return web.Response(body=gzip.compress(b"zipped " * 1000),
                                headers={"Content-Encoding": "gzip"})  # fmt: skip
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for part in (b"one ", b"two ", b"three"):
            await resp.write(part)
        await resp.write_eof()
        return resp

    async def main() -> list[bytes]:
        runner, port = await _app({"/{name}": handler})
        pool = client.Pool(4)
        try:
            bodies = [(await _get(pool, f"http://127.0.0.1:{port}/{n}"))[2] for n in
                      ("close", "close", "chunks", "gzip")]  # fmt: skip
            assert sum(len(v) for v in pool.idle.values()) == 1  # the closed ones are not kept
            return bodies
        finally:
            pool.close()
            await runner.cleanup()

    bodies = asyncio.run(main())
    assert bodies == [b"bye", b"bye", b"one two three", b"zipped " * 1000]
    assert len(peers) == 4 and len(set(peers)) == 3  # close, close, then one kept alive


def test_a_reply_read_to_the_close_and_one_cut_short() -> None:
    async def to_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nten bytes!")

    async def main() -> None:
        server, port, _ = await _raw(to_close)
        pool = client.Pool(2)
        try:
            assert (await _get(pool, f"http://127.0.0.1:{port}/"))[2] == b"all of it"
        finally:
            server.close()
        server, port, _ = await _raw(cut)
        try:
            with pytest.raises(client.ClientError, match="closed the connection before its whole"):
                await _get(pool, f"http://127.0.0.1:{port}/")
            assert pool.slots._value == 2  # the failed request gave its slot back
        finally:
            pool.close()
            server.close()

    asyncio.run(main())


def test_not_http_a_head_that_never_ends_interim_1xx_and_head() -> None:
    """A reply no HTTP parser reads, and headers sent forever (a hostile agent: cut at
    HEAD_MAX, not held in memory), are errors; an interim 1xx is no answer; HEAD has none."""

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for i in range(100_000):
            writer.write(b"X-Filler-%d: %s\r\n" % (i, b"y" * 200))
            if i % 100 == 0:
                await writer.drain()

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        await reader.read(1)  # keep it open: the parser's error must end the request

    async def interim(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        writer.write(b"HTTP/1.1 201 Created\r\nX-Id: 7\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await reader.read(1)

    async def head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n")
        await writer.drain()
        await reader.read(1)

    async def main() -> None:
        pool = client.Pool(2)
        await _refused(pool, garbage, "no HTTP the client reads")
        await _refused(pool, endless, "head runs past")
        server, port, _ = await _raw(interim)
        status, headers, body = await _get(pool, f"http://127.0.0.1:{port}/")
        assert (status, headers.get("X-Id"), body) == (201, "7", b"ok")
        server.close()
        server, port, _ = await _raw(head)
        assert await _get(pool, f"http://127.0.0.1:{port}/", method="HEAD") == (
            200, {"Content-Length": "5000"}, b"")  # fmt: skip
        server.close()
        pool.close()

    asyncio.run(main())


def test_a_body_past_the_cap_is_cut_and_its_connection_not_reused() -> None:
    async def big(request: web.Request) -> web.Response:
        if request.path == "/bomb":  # 200 MB of zeros in about 200 kB
            bomb = gzip.compress(bytes(200_000_000), compresslevel=9)
            return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})
        return web.Response(body=b"x" * 3_000_000)

    async def main() -> None:
        runner, port = await _app({"/": big, "/bomb": big})
        pool = client.Pool(1)
        try:
            async with pool.request("GET", f"http://127.0.0.1:{port}/", {}, cap=1001) as r:
                assert await r.read(1001) == b"x" * 1001
                assert r.total < 1001 + 300_000  # what it kept, not the 3 MB
            assert not pool.idle.get(("127.0.0.1", port, False))
            async with pool.request("GET", f"http://127.0.0.1:{port}/bomb", {}, cap=1001) as r:
                assert await r.read(1001) == bytes(1001)
                assert r.total == 1001  # inflated no further than the cap
        finally:
            pool.close()
            await runner.cleanup()

    asyncio.run(main())


def test_a_header_with_a_line_break_is_never_sent_and_a_refused_port_names_itself() -> None:
    async def main() -> None:
        server, port, seen = await _raw(lambda r, w: asyncio.sleep(0))
        pool = client.Pool(1)
        with pytest.raises(client.ClientError, match="'X-Token' holds a line break"):
            await _get(pool, f"http://127.0.0.1:{port}/", headers={"X-Token": "a\r\nEvil: 1"})
        server.close()
        await server.wait_closed()
        assert seen == []
        with pytest.raises(client.ClientError, match=f"cannot connect to 127.0.0.1:{port}"):
            await _get(pool, f"http://127.0.0.1:{port}/")
        assert pool.slots._value == 1
        with pytest.raises(client.ClientError, match="not an http"):
            await _get(pool, "http://[::1/chat")
        pool.close()

    asyncio.run(main())


def test_an_idle_connection_the_agent_closed_is_replaced_not_failed() -> None:
    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()  # then closed, without saying so in the reply

    async def main() -> None:
        server, port, seen = await _raw(once)
        pool = client.Pool(1)
        assert (await _get(pool, f"http://127.0.0.1:{port}/"))[2] == b"ok"
        idle = pool.idle[("127.0.0.1", port, False)][0]
        async with asyncio.timeout(5):
            while not idle.lost:  # the agent's close reaches the idle connection
                await asyncio.sleep(0.01)
        assert (await _get(pool, f"http://127.0.0.1:{port}/"))[2] == b"ok"
        assert len(seen) == 2
        pool.close()
        server.close()

    asyncio.run(main())


def test_at_most_limit_connections_at_once() -> None:
    open_now = peak = 0

    async def slow(request: web.Request) -> web.Response:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        await asyncio.sleep(0.05)
        open_now -= 1
        return web.Response(text="ok")

    async def main() -> None:
        runner, port = await _app({"/": slow})
        pool = client.Pool(2)
        try:
            got = await asyncio.gather(*(_get(pool, f"http://127.0.0.1:{port}/") for _ in range(6)))
            assert [g[2] for g in got] == [b"ok"] * 6
        finally:
            pool.close()
            await runner.cleanup()

    asyncio.run(main())
    assert peak == 2


def test_a_stream_is_read_as_it_comes_with_back_pressure() -> None:
    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        for _ in range(64):
            await resp.write(b"y" * 65536)
        await resp.write_eof()
        return resp

    async def main() -> list[int]:
        runner, port = await _app({"/": stream})
        pool = client.Pool(1)
        sizes: list[int] = []
        try:
            async with pool.request("GET", f"http://127.0.0.1:{port}/", {}) as r:
                await asyncio.sleep(0.2)  # a slow reader: the client stops reading, not buffering
                while chunk := await r.readany():
                    sizes.append(len(chunk))
        finally:
            pool.close()
            await runner.cleanup()
        return sizes

    sizes = asyncio.run(main())
    assert sum(sizes) == 64 * 65536
    assert max(sizes) <= client.HIGH_WATER + 262144  # paused past the mark, one read more at most


def test_https_verifies_the_agent_certificate(tmp_path: Any, monkeypatch: Any) -> None:
    ca = trustme.CA()
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(served)

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="over tls")

    async def main() -> None:
        runner, port = await _app({"/": hello}, served)
        try:
            client._tls.cache_clear()  # no CA of ours: refused
            pool = client.Pool(1)
            with pytest.raises(client.ClientError, match="certificate verify failed"):
                await _get(pool, f"https://127.0.0.1:{port}/")
            pool.close()
            async with asyncio.timeout(10):  # a health poll gives up at once: it never heals
                healthy, last = await wait_healthy(f"https://127.0.0.1:{port}/", 60, 0.05)
            assert not healthy and last.startswith(UNTRUSTED) and "local issuer" in last
            ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
            monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
            client._tls.cache_clear()
            pool = client.Pool(1)
            status, _, body = await _get(pool, f"https://127.0.0.1:{port}/")
            assert (status, body) == (200, b"over tls")
            pool.close()
        finally:
            client._tls.cache_clear()
            await runner.cleanup()

    asyncio.run(main())


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def test_compressed_bodies_gzip_stream_zlib_and_raw_deflate_and_a_broken_one() -> None:
    """A gzip stream whose header comes alone (Node's zlib.createGzip, flushed per event)
    inflates to nothing at first: no end of the stream. Deflate comes as zlib data or raw."""
    events = [f"data: {i}\n\n".encode() for i in range(3)] + [b"data: [DONE]\n\n"]

    async def gzip_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n")
        writer.write(b"Transfer-Encoding: chunked\r\n\r\n")
        z = zlib.compressobj(wbits=31)
        writer.write(_chunk(z.compress(b"")))  # nothing yet: a header of its own, then wait
        writer.write(_chunk(z.flush(zlib.Z_SYNC_FLUSH)[:10]))  # the gzip header alone
        await writer.drain()
        rest = z.flush(zlib.Z_SYNC_FLUSH)[10:]
        writer.write(_chunk(rest) if rest else b"")
        for event in events:
            await asyncio.sleep(0.01)
            writer.write(_chunk(z.compress(event) + z.flush(zlib.Z_SYNC_FLUSH)))
            await writer.drain()
        writer.write(_chunk(z.flush()) + b"0\r\n\r\n")
        await writer.drain()

    def deflated(raw: bool) -> Handler:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            z = zlib.compressobj(wbits=-15 if raw else 15)
            body = z.compress(b"deflated " * 50) + z.flush()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n")
            writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()

        return serve

    async def broken(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n\r\n")
        writer.write(b"not gzip!")
        await writer.drain()

    def gzipped(body: bytes, coding: bytes = b"gzip") -> Handler:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\n" % coding)
            writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()

        return serve

    async def main() -> None:
        pool = client.Pool(1)
        server, port, _ = await _raw(gzip_stream)
        got = b""
        async with pool.request("GET", f"http://127.0.0.1:{port}/", {}) as r:
            while chunk := await r.readany():
                got += chunk
        assert got == b"".join(events)
        server.close()
        for raw in (False, True):
            server, port, _ = await _raw(deflated(raw))
            assert (await _get(pool, f"http://127.0.0.1:{port}/"))[2] == b"deflated " * 50
            server.close()
        await _refused(pool, broken, "gzip body does not inflate")
        members = gzip.compress(b"one ") + gzip.compress(b"two")  # two gzip members: both
        x_gzip = gzipped(gzip.compress(b"x-gzip"), b"x-gzip")
        for handler, said in ((gzipped(members), b"one two"), (x_gzip, b"x-gzip")):
            server, port, _ = await _raw(handler)
            assert (await _get(pool, f"http://127.0.0.1:{port}/"))[2] == said
            server.close()
        await _refused(pool, gzipped(gzip.compress(b"cut " * 100)[:-12]), "gzip body is cut short")
        pool.close()

    asyncio.run(main())


def test_a_second_reply_nobody_asked_for_is_not_the_first_ones_and_ends_the_connection() -> None:
    async def twice(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reply = b"HTTP/1.1 200 OK\r\nX-Reply: %d\r\nContent-Length: 2\r\n\r\nok"
        writer.write(reply % 1 + reply % 2)  # one packet
        await writer.drain()
        await reader.read(1)

    async def main() -> None:
        pool = client.Pool(1)
        server, port, _ = await _raw(twice)
        async with pool.request("GET", f"http://127.0.0.1:{port}/", {}) as r:
            assert (r.status, r.headers, await r.read(100)) == (
                200, [("X-Reply", "1"), ("Content-Length", "2")], b"ok")  # fmt: skip
        assert not pool.idle.get(("127.0.0.1", port, False))  # never reused
        server.close()
        pool.close()

    asyncio.run(main())
