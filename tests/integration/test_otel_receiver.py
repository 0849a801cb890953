"""The OTLP/HTTP receiver over real sockets: answers as OTLP asks (200 in the request's
encoding, 400, 413, 415), and a real agent process exporting with the OpenTelemetry SDK
under the harness's `traceparent`s has every span attributed to its case and turn."""

from __future__ import annotations

import asyncio
import gzip
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from harness.core.spans import SpanKind, SpanStatus
from harness.otel.context import CaseTrace, otlp_environment
from harness.otel.decode import JSON, PROTOBUF, Limits
from harness.otel.receiver import TraceReceiver
from harness.otel.store import TraceStore
from harness.redact import MASK
from tests.helpers import ROOT

pytestmark = pytest.mark.integration

CASE = CaseTrace.of("run-1", "refund#1", 0)


def request_for(trace: CaseTrace, span_id: str, turn: int) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = bytes.fromhex(trace.trace_id)
    span.span_id = bytes.fromhex(span_id)
    span.parent_span_id = bytes.fromhex(trace.turn_span_id(turn))
    span.name = "execute_tool check_refund_window"
    return request


def serve(
    test: Callable[[TraceReceiver, aiohttp.ClientSession], Awaitable[None]],
    limits: Limits | None = None,
) -> None:
    async def main() -> None:
        async with TraceReceiver(limits=limits) as receiver, aiohttp.ClientSession() as client:
            await test(receiver, client)
        assert receiver._runner is None

    asyncio.run(main())


def test_protobuf_and_json_requests_are_answered_in_their_own_encoding() -> None:
    async def test(receiver: TraceReceiver, client: aiohttp.ClientSession) -> None:
        receiver.store.expect(CASE.trace_id)
        body = request_for(CASE, "a" * 16, 0).SerializeToString()
        async with client.post(
            receiver.traces_endpoint, data=body, headers={"Content-Type": PROTOBUF}
        ) as r:
            assert r.status == 200 and r.content_type == PROTOBUF
            assert ExportTraceServiceResponse.FromString(await r.read()) == (
                ExportTraceServiceResponse()
            )
        document: dict[str, Any] = {
            "resourceSpans": [
                {
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": CASE.trace_id,
                                    "spanId": "b" * 16,
                                    "parentSpanId": CASE.turn_span_id(1),
                                    "name": "issue_refund",
                                }
                            ]
                        }
                    ]
                }
            ]
        }
        async with client.post(receiver.traces_endpoint, json=document) as r:
            assert r.status == 200 and r.content_type == JSON
            assert await r.json() == {}
        # a span of a trace the harness never sent: answered, counted, not kept
        stray = request_for(CaseTrace.of("run-1", "other", 0), "c" * 16, 0)
        async with client.post(
            receiver.traces_endpoint,
            data=stray.SerializeToString(),
            headers={"Content-Type": PROTOBUF},
        ) as r:
            assert r.status == 200
            partial = ExportTraceServiceResponse.FromString(await r.read()).partial_success
            assert partial.rejected_spans == 1 and "traceparent" in partial.error_message
        by_turn = CASE.by_turn(receiver.store.spans(CASE.trace_id), turns=2)
        assert {t: [s.span_id for s in v] for t, v in by_turn.items()} == {
            0: ["a" * 16],
            1: ["b" * 16],
        }
        assert receiver.store.unexpected == 1

    serve(test)


def test_bodies_it_cannot_take_are_refused_with_the_status_otlp_asks() -> None:
    async def test(receiver: TraceReceiver, client: aiohttp.ClientSession) -> None:
        url = receiver.traces_endpoint
        async with client.post(url, data=b"\xff\xff", headers={"Content-Type": PROTOBUF}) as r:
            assert r.status == 400
        async with client.post(url, data=b"{", headers={"Content-Type": JSON}) as r:
            assert r.status == 400 and "not JSON" in await r.text()
        async with client.post(url, data=b"hi", headers={"Content-Type": "text/plain"}) as r:
            assert r.status == 415
        async with client.post(url, data=b"x" * 2000, headers={"Content-Type": PROTOBUF}) as r:
            assert r.status == 413
        # small on the wire, over the cap once decompressed: cut while it is read
        bomb = gzip.compress(b"\x00" * 100_000)
        headers = {"Content-Type": PROTOBUF, "Content-Encoding": "gzip"}
        async with client.post(url, data=bomb, headers=headers) as r:
            assert r.status == 413
        # a gzip body under the cap is decoded like any other
        receiver.store.expect(CASE.trace_id)
        small = gzip.compress(request_for(CASE, "d" * 16, 0).SerializeToString())
        async with client.post(url, data=small, headers=headers) as r:
            assert r.status == 200
        assert [s.span_id for s in receiver.store.spans(CASE.trace_id)] == ["d" * 16]
        async with client.post(
            f"{receiver.endpoint}/v1/metrics", data=b"", headers={"Content-Type": PROTOBUF}
        ) as r:
            assert r.status == 200  # acknowledged, so an SDK pointed here does not retry
        assert receiver.refused == 5 and receiver.requests == 1

    serve(test, Limits(max_body=1024))


def test_a_real_sdk_process_sends_spans_that_join_each_case_turn() -> None:
    """Two cases interleaved in one agent process, as concurrent cases are: each span is kept
    under its case's trace and turn (the case id it carries says it is the right one), with
    the exporter configured by `otlp_environment` alone and no flush before the settle."""
    cases = {
        "refund#1": CaseTrace.of("run-7", "refund#1", 0),
        "refund#2": CaseTrace.of("run-7", "refund#2", 0),
    }
    turns = [("refund#1", 0), ("refund#2", 0), ("refund#1", 1), ("refund#2", 1)]

    async def main() -> None:
        store = TraceStore()
        async with TraceReceiver(store) as receiver:
            for trace in cases.values():
                store.expect(trace.trace_id)
            env = {
                **os.environ,
                **otlp_environment(receiver.endpoint),
                "OTEL_SERVICE_NAME": "refund-agent",
                "PYTHONPATH": str(ROOT),
            }
            agent = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.agents.otel_agent",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=env,
            )
            assert agent.stdin is not None and agent.stdout is not None
            try:
                for case_id, turn in turns:
                    agent.stdin.write(f"{case_id} {cases[case_id].traceparent(turn)}\n".encode())
                    await agent.stdin.drain()
                    answer = await asyncio.wait_for(agent.stdout.readline(), 30)
                    assert answer.decode().split() == ["ok", case_id]
                # the agent is still running: only its short batch delay sends the spans
                settled = {
                    case_id: await store.settle(trace.trace_id, quiet=2.0, timeout=20)
                    for case_id, trace in cases.items()
                }
            finally:
                agent.stdin.close()
                await asyncio.wait_for(agent.wait(), 30)
        assert agent.returncode == 0
        assert store.unexpected == 0
        for case_id, trace in cases.items():
            spans = settled[case_id]
            assert len(spans) == 4, [s.name for s in spans]
            assert {s.attributes["case.id"] for s in spans} == {case_id}
            by_turn = trace.by_turn(spans, turns=2)
            assert set(by_turn) == {0, 1}
            for turn in (0, 1):
                invoke = next(s for s in by_turn[turn] if s.name == "invoke_agent")
                tool = next(s for s in by_turn[turn] if s.name != "invoke_agent")
                assert invoke.parent_id == trace.turn_span_id(turn)
                assert invoke.kind is SpanKind.SERVER and invoke.service == "refund-agent"
                assert tool.parent_id == invoke.span_id
                assert tool.attributes["gen_ai.tool.name"] == "verify_identity"
                assert tool.attributes["api_key"] == MASK
                assert tool.status is SpanStatus.ERROR
                assert tool.status_message == "identity not verified"
                [exception] = tool.exceptions
                assert exception.attributes["exception.message"] == "identity service said no"
        assert b"abcdefghijklmnop" not in orjson.dumps(
            [s.attributes for spans in settled.values() for s in spans]
        )

    asyncio.run(main())


def test_spans_of_a_judged_case_are_counted_late_and_said_so_at_the_runs_end() -> None:
    """An exporter that waits longer than the settle time (the SDKs' default 5 s batch delay
    of an agent the harness does not start): its spans come after their case was judged.
    They are counted as late, told apart from spans of traces the harness never sent, the
    exporter is told why, and the run's end says how to fix it."""
    from harness.core.events import Note
    from harness.session.traces import conclude, wait_late

    async def test(receiver: TraceReceiver, client: aiohttp.ClientSession) -> None:
        notes: list[Note] = []
        store = receiver.store
        store.expect(CASE.trace_id)
        assert store.forget(CASE.trace_id) == []  # judged with no spans
        assert store.silent == 1
        waiting = asyncio.create_task(wait_late(receiver, False, notes.append))
        await asyncio.sleep(0)  # it waits: no late span yet
        assert not waiting.done()
        body = request_for(CASE, "a" * 16, 0).SerializeToString()
        async with client.post(
            receiver.traces_endpoint, data=body, headers={"Content-Type": PROTOBUF}
        ) as r:
            assert r.status == 200
            partial = ExportTraceServiceResponse.FromString(await r.read()).partial_success
            assert partial.rejected_spans == 1
            assert "1 of a case already judged" in partial.error_message
        async with asyncio.timeout(30):  # ends on the late span, not on its 6 s
            await waiting
        other = request_for(CaseTrace.of("run-1", "never-sent#1", 0), "b" * 16, 0)
        async with client.post(
            receiver.traces_endpoint,
            data=other.SerializeToString(),
            headers={"Content-Type": PROTOBUF},
        ) as r:
            assert r.status == 200
        assert (store.late, store.unexpected, store.received) == (1, 1, 2)
        info = conclude(receiver, notes.append)
        assert info is not None and (info.received, info.late, info.stray) == (2, 1, 1)
        warnings = [n for n in notes if n.level == "warning"]
        assert len(warnings) == 1
        assert warnings[0].text.startswith("1 span(s) arrived after their case was judged")
        assert "OTEL_BSP_SCHEDULE_DELAY" in warnings[0].text
        assert "environment.traces.settle" in warnings[0].text

    serve(test)


def test_the_concluded_traces_it_remembers_are_bounded() -> None:
    store = TraceStore(concluded=2)
    traces = [CaseTrace.of("run-1", f"case#{i}", 0).trace_id for i in range(3)]
    for trace_id in traces:
        store.expect(trace_id)
        store.forget(trace_id)
    from harness.core.spans import Span

    taken = store.add(Span(t, "c" * 16, None, "late") for t in traces)
    assert (taken.late, taken.unexpected) == (2, 1)  # the oldest is no longer remembered
    store.expect(traces[2])  # expected again (a resumed run): its spans are kept, not late
    assert store.add([Span(traces[2], "d" * 16, None, "again")]).kept == 1


def test_no_wait_for_late_spans_for_an_agent_the_harness_starts_or_when_none_are_missing() -> None:
    from harness.session.traces import wait_late

    async def test(receiver: TraceReceiver, client: aiohttp.ClientSession) -> None:
        notes: list[Any] = []
        receiver.store.expect(CASE.trace_id)
        receiver.store.forget(CASE.trace_id)
        async with asyncio.timeout(1):  # none of these waits
            await wait_late(receiver, True, notes.append)  # started: it exports in 100 ms
            await wait_late(None, False, notes.append)
        assert notes == []

    serve(test)
