"""An agent process instrumented with the OpenTelemetry SDK and its OTLP/HTTP exporter, as
configured by the standard environment variables alone (the harness's `otlp_environment`).

Reads `case-id traceparent` lines on stdin; for each, under that parent, a root span
`invoke_agent` and a tool span `execute_tool verify_identity` (GenAI conventions) carrying
the case id, a secret-named attribute and an exception event; answers `ok case-id` once the
spans have ended (the batch processor sends them; nothing here flushes until stdin ends).

`--http` (PORT from the environment): an HTTP agent instead, `POST /chat {"message"}`, whose
message names its case (`case <id> ...`); each turn makes one span `invoke_agent` under the
request's `traceparent` header, with the case id it was told as `case.id` and the turn's
text, and answers `you said: <message>`. OTEL_AGENT_SPANS=off sends no spans at all;
`GET /health` answers 200.
"""

from __future__ import annotations

import os
import sys

from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def http(tracer: trace.Tracer, spans: bool, port: int) -> None:
    import re

    from aiohttp import web

    async def chat(request: web.Request) -> web.Response:
        message = str((await request.json()).get("message", ""))
        found = re.match(r"case (\S+)", message)
        if spans:
            context = propagate.extract({"traceparent": request.headers.get("traceparent", "")})
            with tracer.start_as_current_span(
                "invoke_agent", context=context, kind=trace.SpanKind.SERVER
            ) as span:
                span.set_attribute("case.id", found.group(1) if found else "")
                span.set_attribute("turn.text", message)
        return web.json_response({"reply": f"you said: {message}"})

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/chat", chat)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def main() -> None:
    provider = TracerProvider(resource=Resource.create())  # service.name from OTEL_SERVICE_NAME
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # endpoint from env
    tracer = provider.get_tracer("otel_agent")
    if "--http" in sys.argv:
        try:
            http(tracer, os.environ.get("OTEL_AGENT_SPANS") != "off", int(os.environ["PORT"]))
        finally:
            provider.shutdown()
        return
    for line in sys.stdin:
        case_id, traceparent = line.split()
        context = propagate.extract({"traceparent": traceparent})
        with tracer.start_as_current_span(
            "invoke_agent", context=context, kind=trace.SpanKind.SERVER
        ) as root:
            root.set_attribute("case.id", case_id)
            with tracer.start_as_current_span("execute_tool verify_identity") as tool:
                tool.set_attribute("gen_ai.tool.name", "verify_identity")
                tool.set_attribute("case.id", case_id)
                tool.set_attribute("api_key", "sk-live-abcdefghijklmnopqrstu")
                tool.record_exception(ValueError("identity service said no"))
                tool.set_status(trace.StatusCode.ERROR, "identity not verified")
        print("ok", case_id, flush=True)
    provider.shutdown()


if __name__ == "__main__":
    main()
