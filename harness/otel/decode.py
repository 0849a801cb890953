"""OTLP trace export requests into `Span`s: protobuf and JSON bodies decoded by the official
`opentelemetry-proto` messages, then every value the agent sent capped and masked.

The one hand-written part is OTLP/JSON's ids: the OTLP spec writes trace and span ids as
hex, where protobuf's JSON mapping (`json_format`) reads `bytes` fields as base64.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import JsonValue

from harness.core.spans import Span, SpanEvent, SpanKind, SpanStatus
from harness.redact import MASK, MIN_SECRET, redact, secret_name

if TYPE_CHECKING:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

_KINDS = tuple(SpanKind)  # in OTLP's order: SPAN_KIND_UNSPECIFIED = 0 ... CONSUMER = 5
_STATUSES = tuple(SpanStatus)  # STATUS_CODE_UNSET = 0, OK = 1, ERROR = 2


class DecodeFailure(ValueError):
    """A body that is no OTLP trace export request (the receiver answers 400)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What the harness keeps of what a hostile agent sends."""

    max_body: int = 4 * 1024 * 1024  # bytes of one request, after decompression
    spans_per_request: int = 5000  # converted; the rest rejected
    spans_per_trace: int = 1000  # kept per trace by the store
    attributes: int = 64  # per span, per event, per resource
    events: int = 32  # per span
    string: int = 2048  # characters of any text value
    name: int = 256  # characters of a span, event or attribute name
    array: int = 64  # items of an array or key-value list value
    depth: int = 4  # nesting of array and key-value list values


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Batch:
    """The spans of one request, and how many it held that were not kept."""

    spans: list[Span]
    rejected: int


def request_of(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """The export request a body holds, or `DecodeFailure` naming what is wrong."""
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    if content_type == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError) as e:
            raise DecodeFailure(f"not an OTLP protobuf trace export request: {e}") from None
        return request
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise DecodeFailure(f"not JSON: {e}") from None
    if not isinstance(document, dict):
        raise DecodeFailure("an OTLP/JSON request is a JSON object")
    fix_hex_ids(document)
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError, AttributeError) as e:
        raise DecodeFailure(f"not an OTLP/JSON trace export request: {e}") from None
    return request


def fix_hex_ids(document: dict[str, Any]) -> None:
    """OTLP/JSON's hex trace and span ids (of spans and their links) as the base64 protobuf's
    JSON mapping reads, in place; an id that is not hex is a `DecodeFailure`."""
    for resource in _items(document, "resourceSpans", "resource_spans"):
        for scope in _items(resource, "scopeSpans", "scope_spans"):
            for span in _items(scope, "spans"):
                _fix(span, ("traceId", "trace_id", "spanId", "span_id"))
                _fix(span, ("parentSpanId", "parent_span_id"))
                for link in _items(span, "links"):
                    _fix(link, ("traceId", "trace_id", "spanId", "span_id"))


def _items(parent: Any, *keys: str) -> Iterator[Any]:
    if not isinstance(parent, dict):
        return
    for key in keys:
        value = parent.get(key)
        if isinstance(value, list):
            yield from value


def _fix(obj: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(obj, dict):
        return
    for key in keys:
        value = obj.get(key)
        if isinstance(value, str):
            try:
                raw = bytes.fromhex(value)
            except ValueError:
                raise DecodeFailure(f"{key} {value[:40]!r} is not hex") from None
            obj[key] = base64.b64encode(raw).decode("ascii")


def decode(
    body: bytes,
    content_type: str,
    limits: Limits = DEFAULT_LIMITS,
    mask: Callable[[str], str] = redact,
) -> Batch:
    """The spans of a request body, capped and masked (CPU only: safe in a worker thread)."""
    request = request_of(body, content_type)
    spans: list[Span] = []
    rejected = 0
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes, limits, mask)[0]
        service = resource.get("service.name")
        service_name = service if isinstance(service, str) else None
        for scope_spans in resource_spans.scope_spans:
            scope = _text(scope_spans.scope.name, limits.name, mask) or None
            for raw in scope_spans.spans:
                if len(spans) >= limits.spans_per_request:
                    rejected += 1
                    continue
                span = to_span(raw, service_name, scope, limits, mask)
                if span is None:
                    rejected += 1
                else:
                    spans.append(span)
    return Batch(spans, rejected)


def to_span(
    raw: ProtoSpan,
    service: str | None,
    scope: str | None,
    limits: Limits,
    mask: Callable[[str], str] = redact,
) -> Span | None:
    """One protobuf span as a `Span`, or None when its ids are not valid."""
    trace_id, span_id = raw.trace_id.hex(), raw.span_id.hex()
    if len(raw.trace_id) != 16 or len(raw.span_id) != 8 or not any(raw.trace_id):
        return None
    parent = raw.parent_span_id
    if parent and len(parent) != 8:
        return None
    attributes, cut = _attributes(raw.attributes, limits, mask)
    events = []
    for event in raw.events[: limits.events]:
        event_attributes = _attributes(event.attributes, limits, mask)[0]
        name = _text(event.name, limits.name, mask)
        events.append(SpanEvent(name, event.time_unix_nano, event_attributes))
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent.hex() if any(parent) else None,
        name=_text(raw.name, limits.name, mask),
        kind=_KINDS[raw.kind] if 0 <= raw.kind < len(_KINDS) else SpanKind.UNSPECIFIED,
        start_ns=raw.start_time_unix_nano,
        end_ns=raw.end_time_unix_nano,
        status=_STATUSES[raw.status.code] if 0 <= raw.status.code < 3 else SpanStatus.UNSET,
        status_message=_text(raw.status.message, limits.string, mask),
        attributes=attributes,
        events=tuple(events),
        service=service,
        scope=scope,
        dropped_attributes=raw.dropped_attributes_count + cut,
        dropped_events=raw.dropped_events_count + max(0, len(raw.events) - limits.events),
    )


def _text(value: str, cap: int, mask: Callable[[str], str]) -> str:
    # masked before it is cut: a secret cut in two would no longer be recognised
    return mask(value)[:cap]


def _attributes(
    pairs: Any, limits: Limits, mask: Callable[[str], str]
) -> tuple[dict[str, JsonValue], int]:
    """Key-value pairs as plain values (a secret-named key's text masked whole), and how many
    the cap left out."""
    out: dict[str, JsonValue] = {}
    kept: list[KeyValue] = list(pairs[: limits.attributes])
    for pair in kept:
        key = _text(pair.key, limits.name, mask)
        value = _value(pair.value, limits, mask, 0)
        if isinstance(value, str) and len(value) >= MIN_SECRET and secret_name(pair.key):
            value = MASK
        out[key] = value
    return out, len(pairs) - len(kept)


def _value(value: AnyValue, limits: Limits, mask: Callable[[str], str], depth: int) -> JsonValue:
    which = value.WhichOneof("value")
    if which == "string_value":
        return _text(value.string_value, limits.string, mask)
    if which == "bool_value":
        return bool(value.bool_value)
    if which == "int_value":
        return int(value.int_value)
    if which == "double_value":
        number = float(value.double_value)
        return number if math.isfinite(number) else str(number)  # JSON has no NaN, no inf
    if which == "bytes_value":
        return value.bytes_value[: limits.string // 2].hex()
    if depth >= limits.depth:
        return "..."
    if which == "array_value":
        items = value.array_value.values[: limits.array]
        return [_value(v, limits, mask, depth + 1) for v in items]
    if which == "kvlist_value":
        pairs = value.kvlist_value.values[: limits.array]
        return {
            _text(p.key, limits.name, mask): (
                MASK
                if secret_name(p.key) and p.value.WhichOneof("value") == "string_value"
                else _value(p.value, limits, mask, depth + 1)
            )
            for p in pairs
        }
    return None


def response_body(content_type: str, rejected: int, note: str = "") -> bytes:
    """An `ExportTraceServiceResponse` in the request's encoding: empty when every span was
    taken, else with `partial_success` saying how many were not."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = note
    if content_type == PROTOBUF:
        return bytes(response.SerializeToString())
    return orjson.dumps(json_format.MessageToDict(response))


def is_hex_id(value: str, length: int) -> bool:
    """A lowercase hex id of `length` characters, not all zeros (W3C and OTLP alike)."""
    if len(value) != length or value != value.lower():
        return False
    try:
        return any(binascii.unhexlify(value))
    except (binascii.Error, ValueError):
        return False
