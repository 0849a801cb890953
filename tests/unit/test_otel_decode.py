"""OTLP trace requests into Spans: protobuf and JSON (hex ids), malformed bodies, the caps on
what a hostile agent sends, and secrets masked."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from harness.core.spans import SpanKind, SpanStatus
from harness.otel.decode import (
    JSON,
    PROTOBUF,
    DecodeFailure,
    Limits,
    decode,
    response_body,
)
from harness.redact import MASK, Redactor

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"
PARENT = "eee19b7ec3c1b173"


def kv(key: str, value: Any) -> KeyValue:
    return KeyValue(key=key, value=_any(value))


def _any(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        out = AnyValue()
        out.array_value.values.extend(_any(v) for v in value)
        return out
    if isinstance(value, dict):
        out = AnyValue()
        out.kvlist_value.values.extend(kv(k, v) for k, v in value.items())
        return out
    return AnyValue(string_value=value)


def proto_request(*spans: ProtoSpan, service: str = "refund-agent") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    resource.resource.attributes.append(kv("service.name", service))
    scope = resource.scope_spans.add()
    scope.scope.name = "refund.tools"
    scope.spans.extend(spans)
    return request


def proto_span(
    trace: str = TRACE, span: str = SPAN, parent: str = PARENT, **attrs: Any
) -> ProtoSpan:
    return ProtoSpan(
        trace_id=bytes.fromhex(trace),
        span_id=bytes.fromhex(span),
        parent_span_id=bytes.fromhex(parent),
        name="execute_tool issue_refund",
        kind=ProtoSpan.SPAN_KIND_CLIENT,
        start_time_unix_nano=1_000_000_000,
        end_time_unix_nano=1_250_000_000,
        status=Status(code=Status.STATUS_CODE_ERROR, message="refused"),
        attributes=[kv(k, v) for k, v in attrs.items()],
    )


def test_a_protobuf_request_decodes_into_typed_spans() -> None:
    span = proto_span(**{"gen_ai.tool.name": "issue_refund", "amount": 120.5, "n": 3, "ok": True})
    span.events.add(name="exception", time_unix_nano=1_100_000_000).attributes.append(
        kv("exception.message", "boom")
    )
    batch = decode(proto_request(span).SerializeToString(), PROTOBUF)
    assert batch.rejected == 0
    [got] = batch.spans
    assert (got.trace_id, got.span_id, got.parent_id) == (TRACE, SPAN, PARENT)
    assert got.name == "execute_tool issue_refund"
    assert got.kind is SpanKind.CLIENT
    assert (got.status, got.status_message) == (SpanStatus.ERROR, "refused")
    assert got.attributes == {
        "gen_ai.tool.name": "issue_refund",
        "amount": 120.5,
        "n": 3,
        "ok": True,
    }
    assert got.duration_ms == 250.0
    assert [e.attributes for e in got.exceptions] == [{"exception.message": "boom"}]
    assert (got.service, got.scope) == ("refund-agent", "refund.tools")


def test_a_root_span_has_no_parent() -> None:
    batch = decode(proto_request(proto_span(parent="")).SerializeToString(), PROTOBUF)
    assert batch.spans[0].parent_id is None


OTLP_JSON = {  # as the OTLP spec's example writes it: ids in hex, enums as numbers
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "a"}}]},
            "scopeSpans": [
                {
                    "scope": {"name": "s"},
                    "spans": [
                        {
                            "traceId": TRACE,
                            "spanId": SPAN,
                            "parentSpanId": PARENT,
                            "name": "verify_identity",
                            "kind": 3,
                            "startTimeUnixNano": "1544712660000000000",
                            "endTimeUnixNano": "1544712661000000000",
                            "status": {"code": 1},
                            "attributes": [
                                {"key": "n", "value": {"intValue": "7"}},
                                {
                                    "key": "l",
                                    "value": {"arrayValue": {"values": [{"boolValue": True}]}},
                                },
                            ],
                            "links": [{"traceId": TRACE, "spanId": SPAN}],
                            "someFutureField": 1,
                        }
                    ],
                }
            ],
        }
    ]
}


def test_otlp_json_hex_ids_are_read_as_hex_not_base64() -> None:
    batch = decode(orjson.dumps(OTLP_JSON), JSON)
    [got] = batch.spans
    # read as base64, the 32 hex characters would have made 24 bytes, not the 16 they are
    assert (got.trace_id, got.span_id, got.parent_id) == (TRACE, SPAN, PARENT)
    assert got.kind is SpanKind.CLIENT and got.status is SpanStatus.OK
    assert got.start_ns == 1544712660000000000 and got.duration_ms == 1000.0
    assert got.attributes == {"n": 7, "l": [True]}


def test_json_and_protobuf_of_the_same_request_give_the_same_spans() -> None:
    document = orjson.loads(orjson.dumps(OTLP_JSON))
    del document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["someFutureField"]
    from google.protobuf import json_format

    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    for key in ("traceId", "spanId", "parentSpanId"):
        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    for link in span["links"]:
        for key in ("traceId", "spanId"):
            link[key] = base64.b64encode(bytes.fromhex(link[key])).decode()
    request = json_format.ParseDict(document, ExportTraceServiceRequest())
    assert decode(request.SerializeToString(), PROTOBUF) == decode(orjson.dumps(OTLP_JSON), JSON)


@pytest.mark.parametrize(
    ("body", "kind", "words"),
    [
        (b"\xff\xff\xff\xff", PROTOBUF, "protobuf"),
        (b"{not json", JSON, "not JSON"),
        (b"[1, 2]", JSON, "JSON object"),
        (b'{"resourceSpans": 3}', JSON, "OTLP/JSON"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', JSON, "hex"),
    ],
)
def test_a_malformed_body_is_a_decode_failure(body: bytes, kind: str, words: str) -> None:
    with pytest.raises(DecodeFailure, match=words):
        decode(body, kind)


def test_spans_with_invalid_ids_are_rejected_not_kept() -> None:
    bad = [
        proto_span(trace="00" * 16),
        ProtoSpan(trace_id=b"\x01" * 15, span_id=b"\x01" * 8, name="short trace id"),
        ProtoSpan(trace_id=b"\x01" * 16, span_id=b"\x01" * 7, name="short span id"),
        ProtoSpan(trace_id=b"\x01" * 16, span_id=b"\x01" * 8, parent_span_id=b"\x01" * 3),
    ]
    batch = decode(proto_request(*bad, proto_span()).SerializeToString(), PROTOBUF)
    assert batch.rejected == 4
    assert [s.span_id for s in batch.spans] == [SPAN]


def test_what_a_hostile_agent_sends_is_capped() -> None:
    limits = Limits(
        attributes=3, events=2, string=10, name=8, array=2, depth=2, spans_per_request=2
    )
    nested: Any = ["deep"]
    for _ in range(5):
        nested = [nested]
    span = proto_span(a="x" * 100, long_attribute_name=1, nested=nested, more=1, more2=2)
    span.name = "n" * 1000
    span.status.message = "m" * 1000
    for i in range(5):
        span.events.add(name=f"event{i}")
    spans = [span, proto_span(span="01" * 8), proto_span(span="02" * 8)]
    batch = decode(proto_request(*spans).SerializeToString(), PROTOBUF, limits)
    assert batch.rejected == 1 and len(batch.spans) == 2
    got = batch.spans[0]
    assert got.attributes == {"a": "x" * 10, "long_att": 1, "nested": [["..."]]}
    assert got.dropped_attributes == 2
    assert (got.name, got.status_message) == ("n" * 8, "m" * 10)
    assert [e.name for e in got.events] == ["event0", "event1"] and got.dropped_events == 3


def test_long_arrays_and_non_finite_numbers_stay_plain_json() -> None:
    limits = Limits(array=3)
    span = proto_span(many=list(range(10)), nan=float("nan"), inf=float("inf"), raw=b"\x01\xff")
    [got] = decode(proto_request(span).SerializeToString(), PROTOBUF, limits).spans
    assert got.attributes == {"many": [0, 1, 2], "nan": "nan", "inf": "inf", "raw": "01ff"}
    orjson.dumps(got.attributes)  # plain values: the run log can write them


def test_secrets_are_masked_everywhere_in_a_span() -> None:
    mask = Redactor(["hunter2-secret"])
    span = proto_span(
        **{
            "db.statement": "select 1 -- hunter2-secret",
            "http.request.header.authorization": "Basic xyzxyzxyz",
            "api_key": "plain-looking-value",
            "nested": {"password": "pw-value-1", "ok": "fine"},
        }
    )
    span.name = "login hunter2-secret"
    span.status.message = "failed with token=abc123def"
    span.events.add(name="exception").attributes.append(
        kv("exception.message", "bad hunter2-secret")
    )
    [got] = decode(proto_request(span).SerializeToString(), PROTOBUF, Limits(), mask).spans
    text = orjson.dumps([got.name, got.status_message, got.attributes, got.events[0].attributes])
    assert b"hunter2" not in text and b"abc123def" not in text and b"xyzxyzxyz" not in text
    assert got.attributes["api_key"] == MASK
    assert got.attributes["nested"] == {"password": MASK, "ok": "fine"}
    assert got.name == f"login {MASK}"


def test_a_secret_is_masked_before_a_long_value_is_cut() -> None:
    mask = Redactor(["s3cr3t-value"])
    span = proto_span(text="a" * 5 + "s3cr3t-value")
    [got] = decode(proto_request(span).SerializeToString(), PROTOBUF, Limits(string=12), mask).spans
    assert got.attributes["text"] == "aaaaa" + MASK  # never "aaaaas3cr3t-"


@pytest.mark.parametrize("kind", [PROTOBUF, JSON])
def test_the_response_is_an_export_response_in_the_request_encoding(kind: str) -> None:
    from google.protobuf import json_format

    empty, partial = response_body(kind, 0), response_body(kind, 3, "why")
    if kind == PROTOBUF:
        assert empty == b""
        parsed = ExportTraceServiceResponse.FromString(partial)
    else:
        assert orjson.loads(empty) == {}
        parsed = json_format.Parse(partial, ExportTraceServiceResponse())
    assert parsed.partial_success.rejected_spans == 3
    assert parsed.partial_success.error_message == "why"
