"""What a stub keeps of a request the agent sent (hostile, like everything the agent sends):
the body read up to a cap (the rest never enters memory: Werkzeug discards it), header and
query values capped in count and length and masked through `harness.redact`, the JSON body
parsed, the `traceparent` read. The unmasked values serve only the stub's own answer and its
match rule, never a record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from harness.empty import empty_dict
from harness.otel.context import parse_traceparent
from harness.redact import MASK, MIN_SECRET, redact, secret_name

if TYPE_CHECKING:
    from werkzeug.wrappers import Request


@dataclass(frozen=True, slots=True)
class Limits:
    """What a stub reads and keeps of one request."""

    read: int = 1024 * 1024  # bytes of a body read at all; a longer one is answered 413
    body: int = 64 * 1024  # bytes of the body kept in the log (its JSON only when whole)
    headers: int = 64  # headers kept
    query: int = 64  # query parameters kept
    value: int = 1024  # characters of a header or query value, and of the path
    depth: int = 64  # nesting of a JSON body kept as JSON (deeper: its text only)


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Captured:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # masked and capped: what the log keeps
    body: str  # masked and capped
    json: Any  # masked, None when not JSON or not kept whole
    too_large: bool
    trace_id: str | None
    parent_id: str | None
    #: unmasked, for the stub's own answer (templates) and its match rule only
    raw_json: Any = None
    raw_query: dict[str, str] = field(default_factory=empty_dict)
    raw_headers: dict[str, str] = field(default_factory=empty_dict)
    raw_body: str = ""

    def context(self) -> dict[str, Any]:
        """What an answer's templates see as `request.*` (header names lower-case with `_`
        for `-`: `request.headers.x_order_id`)."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.raw_query,
            "headers": {k.lower().replace("-", "_"): v for k, v in self.raw_headers.items()},
            "json": self.raw_json,
            "body": self.raw_body,
        }


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more]"


def _masked(name: str, value: str, limit: int) -> str:
    if secret_name(name) and len(value) >= MIN_SECRET:
        return MASK
    return redact(_cap(value, limit))


def capture(request: Request, limits: Limits = DEFAULT_LIMITS) -> Captured:
    """Read and keep what `limits` allows of `request` (in the server's request thread)."""
    raw = request.stream.read(limits.read + 1)
    too_large = len(raw) > limits.read
    text = raw[: limits.read].decode("utf-8", errors="replace")
    parsed: Any = None
    if raw and not too_large:
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed = None
    raw_headers: dict[str, str] = {}
    for name, value in list(request.headers.items())[: limits.headers]:
        raw_headers[name] = value
    raw_query = {k: v for k, v in list(request.args.items())[: limits.query]}
    traced = parse_traceparent(request.headers.get("traceparent", "")[:200])
    kept_whole = len(raw) <= limits.body and shallow(parsed, limits.depth)
    return Captured(
        method=request.method,
        path=redact(_cap(request.path, limits.value)),
        query={_cap(k, 256): _masked(k, v, limits.value) for k, v in raw_query.items()},
        headers={_cap(k, 256): _masked(k, v, limits.value) for k, v in raw_headers.items()},
        body=redact(_cap(text, limits.body)),
        json=redact.data(parsed) if kept_whole else None,
        too_large=too_large,
        trace_id=traced[0] if traced else None,
        parent_id=traced[1] if traced else None,
        raw_json=parsed,
        raw_query=raw_query,
        raw_headers=raw_headers,
        raw_body=text,
    )


def shallow(data: Any, depth: int) -> bool:
    """Whether JSON data nests at most `depth` deep (walked without recursion: a hostile body
    nests thousands deep)."""
    stack = [(data, 0)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict | list):
            if level >= depth:
                return False
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, level + 1) for item in items)
    return True


def lookup(data: Any, dotted: str) -> Any:
    """A dotted path in JSON data (list items by index), None when absent."""
    value = data
    for part in dotted.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value
