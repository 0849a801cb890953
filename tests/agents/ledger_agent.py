"""A ledger agent for the fault tests: it keeps notes in PostgreSQL, one fresh connection per
request, and says honestly when the database cannot be reached.

POST /chat {"session_id", "message"}: "note TEXT" inserts (conversation, text) and replies
"Noted TEXT."; "ping" runs `select 1` and replies "pong"; on any database error the reply is
"Sorry, the database is unavailable." (HTTP 200). GET /health: 200 when `select 1` works,
else 503. MODE=stuck (a planted defect): after its first database error it never tries again.
DATABASE_URL, PORT from the environment. Traced when OTEL_EXPORTER_OTLP_ENDPOINT is set (a run
with a span check sets it): each chat request is one span under its `traceparent`, named
`note` or `ping` for those commands (`chat` otherwise).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import psycopg
from aiohttp import web

MODE = os.environ.get("MODE", "correct")
BROKEN: list[bool] = []
UNAVAILABLE = "Sorry, the database is unavailable."


async def _db(query: str, params: list[object]) -> None:
    if BROKEN:
        raise psycopg.OperationalError("gave up after the first error (MODE=stuck)")
    try:
        async with await psycopg.AsyncConnection.connect(
            os.environ["DATABASE_URL"], autocommit=True, connect_timeout=3
        ) as conn:
            await conn.execute(query, params)
    except psycopg.Error:
        if MODE == "stuck":
            BROKEN.append(True)
        raise


TRACER: Any = None


@contextlib.contextmanager
def _span(request: web.Request, message: str) -> Iterator[None]:
    if TRACER is None:
        yield
        return
    from opentelemetry import propagate

    name = message.split(" ", 1)[0] if message.startswith(("note ", "ping")) else "chat"
    context = propagate.extract({"traceparent": request.headers.get("traceparent", "")})
    with TRACER.start_as_current_span(name, context=context):
        yield


async def chat(request: web.Request) -> web.Response:
    data = await request.json()
    message = str(data.get("message", "")).strip()
    with _span(request, message):
        return await _answer(data, message)


async def _answer(data: dict[str, Any], message: str) -> web.Response:
    try:
        if message.startswith("note "):
            text = message[5:]
            await _db(
                "insert into notes (conversation, text) values (%s, %s)",
                [str(data.get("session_id", "")), text],
            )
            return web.json_response({"reply": f"Noted {text}."})
        if message == "ping":
            await _db("select 1", [])
            return web.json_response({"reply": "pong"})
    except psycopg.Error:
        return web.json_response({"reply": UNAVAILABLE})
    return web.json_response({"reply": "Say note TEXT, or ping."})


async def health(request: web.Request) -> web.Response:
    try:
        await _db("select 1", [])
    except psycopg.Error:
        return web.Response(status=503, text="database unavailable")
    return web.Response(text="ok")


def main() -> None:
    global TRACER
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        TRACER = provider.get_tracer("ledger")
    app = web.Application()
    app.router.add_post("/chat", chat)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None)


if __name__ == "__main__":
    main()
