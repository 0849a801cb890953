"""The OTLP/HTTP receiver the harness runs on loopback for a run: `POST /v1/traces` in
protobuf or JSON, answered as OTLP asks, the spans into a `TraceStore`."""

from __future__ import annotations

import asyncio
import socket
from types import TracebackType
from typing import TYPE_CHECKING

from harness.otel.decode import JSON, PROTOBUF, DecodeFailure, Limits, decode, response_body
from harness.otel.store import TraceStore

if TYPE_CHECKING:
    from aiohttp import web

INLINE = 64 * 1024  # bodies up to this size are decoded on the loop; larger ones in a thread


class TraceReceiver:
    """`async with TraceReceiver(store) as receiver:` serves `receiver.endpoint` until the
    block ends. Metrics and logs sent to the same endpoint are acknowledged and dropped, so
    an SDK pointed here by `OTEL_EXPORTER_OTLP_ENDPOINT` does not retry them."""

    def __init__(
        self, store: TraceStore | None = None, limits: Limits | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.limits = limits or (store.limits if store else Limits())
        self.store = store or TraceStore(self.limits)
        self.host = host
        self.port = 0
        self.requests = 0  # answered 200
        self.refused = 0  # answered 4xx
        self._runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> str:
        """The base URL (the SDK's `OTEL_EXPORTER_OTLP_ENDPOINT`)."""
        return f"http://{self.host}:{self.port}"

    @property
    def traces_endpoint(self) -> str:
        return f"{self.endpoint}/v1/traces"

    async def start(self) -> str:
        from aiohttp import web

        app = web.Application(client_max_size=self.limits.max_body)
        app.router.add_post("/v1/traces", self._traces)
        app.router.add_post("/v1/metrics", self._discard)
        app.router.add_post("/v1/logs", self._discard)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((self.host, 0))  # the port is ours from here: no free-port race
            self.port = int(sock.getsockname()[1])
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        return self.endpoint

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> TraceReceiver:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _refuse(self, status: int, text: str) -> web.Response:
        from aiohttp import web

        self.refused += 1
        return web.Response(status=status, text=text)

    async def _read(self, request: web.Request) -> bytes | web.Response:
        """The body, or the answer refusing it (415 another type, 413 too large)."""
        from aiohttp import web

        if request.content_type not in (PROTOBUF, JSON):
            return self._refuse(415, f"OTLP/HTTP takes {PROTOBUF} or {JSON}")
        too_large = f"a request over {self.limits.max_body} bytes"
        if (request.content_length or 0) > self.limits.max_body:
            return self._refuse(413, too_large)
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:  # compressed, or sent without a length
            return self._refuse(413, too_large)

    async def _traces(self, request: web.Request) -> web.Response:
        from aiohttp import web

        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        kind = request.content_type
        try:
            if len(body) <= INLINE:
                batch = decode(body, kind, self.limits)
            else:
                batch = await asyncio.to_thread(decode, body, kind, self.limits)
        except DecodeFailure as e:
            return self._refuse(400, str(e))
        taken = self.store.add(batch.spans)
        rejected = batch.rejected + taken.unexpected + taken.over_cap + taken.late
        note = ""
        if rejected:
            note = (
                f"{rejected} span(s) not kept: {batch.rejected} invalid or over the request's"
                f" cap, {taken.unexpected} of no trace the harness sent (is the traceparent"
                f" propagated?), {taken.late} of a case already judged (export sooner:"
                f" OTEL_BSP_SCHEDULE_DELAY=100), {taken.over_cap} over the trace's cap"
            )
        self.requests += 1
        return web.Response(body=response_body(kind, rejected, note), content_type=kind)

    async def _discard(self, request: web.Request) -> web.Response:
        from aiohttp import web

        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        empty = b"" if request.content_type == PROTOBUF else b"{}"
        return web.Response(body=empty, content_type=request.content_type)
