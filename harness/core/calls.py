"""A request a stubbed third-party service received, as its own log records it (never the
agent's account): what was asked, how the stub answered, and which case it belongs to."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import JsonValue

from harness.empty import empty_dict


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceRequest:
    """One request to an `http_service` dependency. Header values and the body are capped and
    masked through `harness.redact` before this is made; `json` is the body parsed when it was
    JSON. Times are Unix nanoseconds (the same clock as spans), so calls and spans order."""

    service: str
    method: str
    path: str
    query: dict[str, str] = field(default_factory=empty_dict)
    headers: dict[str, str] = field(default_factory=empty_dict)
    body: str = ""
    json: JsonValue = None
    status: int = 0  # what the stub answered
    #: which of the stub's answers: "scenario" (the scenario's routes), "route", "default"
    answered_by: str = ""
    at_ns: int = 0  # when it arrived
    duration_ms: float = 0.0  # until answered (the declared latency included)
    trace_id: str | None = None  # from the traceparent it carried
    parent_id: str | None = None  # the traceparent's span id (the agent's client span)
    #: how it was tied to the case: "traceparent", "match", "only" (concurrency 1)
    attributed: str = ""
    turn: int | None = None  # the turn in flight when it arrived (1-based)
    #: still being answered when its case ended (the agent gave up waiting): status 0,
    #: `answered_by` the answer under way, `duration_ms` until the case ended
    pending: bool = False
