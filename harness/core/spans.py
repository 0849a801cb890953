"""A span the agent sent, as the harness keeps it: typed, plain values, already capped and
masked (harness/otel/decode.py makes them from OTLP; nothing here trusts the agent)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import JsonValue

from harness.empty import empty_dict

#: the attribute that names a tool execution's tool (OpenTelemetry's GenAI conventions)
TOOL = "gen_ai.tool.name"


class SpanKind(StrEnum):
    """OTLP's `Span.SpanKind`, by name."""

    UNSPECIFIED = "unspecified"
    INTERNAL = "internal"
    SERVER = "server"
    CLIENT = "client"
    PRODUCER = "producer"
    CONSUMER = "consumer"


class SpanStatus(StrEnum):
    """OTLP's `Status.StatusCode`, by name."""

    UNSET = "unset"
    OK = "ok"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """An event within a span (an `exception` event is the agent's own evidence of one)."""

    name: str
    time_ns: int
    attributes: dict[str, JsonValue] = field(default_factory=empty_dict)


@dataclass(frozen=True, slots=True)
class Span:
    """One span: ids as lowercase hex (trace 32, span 16 characters), times in Unix
    nanoseconds, attributes as plain JSON values, `service` the resource's `service.name`.
    `dropped_*` count what the sender dropped plus what the harness's caps cut."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: SpanKind = SpanKind.UNSPECIFIED
    start_ns: int = 0
    end_ns: int = 0
    status: SpanStatus = SpanStatus.UNSET
    status_message: str = ""
    attributes: dict[str, JsonValue] = field(default_factory=empty_dict)
    events: tuple[SpanEvent, ...] = ()
    service: str | None = None
    scope: str | None = None
    dropped_attributes: int = 0
    dropped_events: int = 0

    @property
    def duration_ms(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e6

    @property
    def exceptions(self) -> tuple[SpanEvent, ...]:
        """The span's `exception` events (OpenTelemetry's semantic conventions)."""
        return tuple(e for e in self.events if e.name == "exception")
