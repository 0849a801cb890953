"""What the harness and its load generator processes tell each other, over loopback HTTP.

Both sides import this module (it imports neither asyncio nor gevent), so the
message shapes, the typed values of a case's context and the words of a failed
call are written once.

- `GET  {base}/config` -> the agent (its adapter kind and configuration, the agent's own
  template context), the scenarios' turns (templates and contracts, tool results), the
  schedule, limits.
- `GET  {base}/cases?n=N` -> up to N prepared cases: `[{token, scenario, persona, seed, ctx,
  texts, twin}]`: the case's template context (typed, see `pack`), each turn's text when
  the harness could write it ahead (null when it reads the session or the last reply, then
  the generator writes it as the conversation goes); `twin` is the duplicate conversation
  of the same case.
- `POST {base}/results` <- finished conversations `[{token, turns: [Outcome...], session,
  calls, error}]` and the process's counters; answers whether to stop.
- `POST {base}/status` <- the runner's users and state (single process or master).
- `POST {base}/totals` <- each process's own request and failure counts at its end.
- `POST {base}/returned` <- tokens of cases fetched but never started.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from harness.core.failures import Failure, FailureKind
from harness.spec.relative import Relative
from harness.spec.template import format_value

if TYPE_CHECKING:
    from harness.agents.base import Reply

STOP_GRACE = 10.0  # seconds the harness allows past the profile's end before it kills

_TAG = "\x00harness"  # the key of a typed value in the JSON of a context; never a column name
_PACK = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS


def _typed(value: Any) -> Any:
    if isinstance(value, Relative):  # a relative date, resolved now
        return _typed(value.resolve())
    if isinstance(value, Decimal):
        return {_TAG: "decimal", "v": str(value)}
    if isinstance(value, dt.datetime):
        return {_TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, dt.date):
        return {_TAG: "date", "v": value.isoformat()}
    if isinstance(value, dt.time):
        return {_TAG: "time", "v": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {_TAG: "timedelta", "v": value.total_seconds()}
    return format_value(value)  # anything else (UUID, bytes) as the text a template makes of it


def pack(context: Mapping[str, Any], leave: tuple[str, ...] = ()) -> orjson.Fragment:
    """A case's template context (but the keys in `leave`) as JSON that keeps its values'
    types (numbers as Decimal, dates and times as such), so templates render in the
    generator exactly as in the harness; relative dates are resolved now. Never pickle:
    the other side evaluates nothing it is sent."""
    data = {k: v for k, v in context.items() if k not in leave} if leave else context
    return orjson.Fragment(orjson.dumps(data, default=_typed, option=_PACK))


_READ: dict[str, Callable[[Any], Any]] = {
    "decimal": Decimal,
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "timedelta": lambda v: dt.timedelta(seconds=float(v)),
}


def unpack(data: Any) -> Any:
    """`pack`'s JSON, read back (after orjson.loads) with its values' types."""
    if isinstance(data, dict):
        tag = data.get(_TAG)
        if tag is not None and tag in _READ:
            return _READ[tag](data["v"])
        return {k: unpack(v) for k, v in data.items()}
    if isinstance(data, list):
        return [unpack(v) for v in data]
    return data


def timeout_error(seconds: float, stream: bool = False) -> Failure:
    """The same words as the http adapter's, so load and run errors read alike."""
    from harness.agents.protocol import timed_out

    return timed_out(seconds, stream)


def connection_error(exc: BaseException) -> Failure:
    return Failure(FailureKind.CONNECTION, f"connection failed: {type(exc).__name__}: {exc}")


def transport_error(error: BaseException, seconds: float) -> Failure:
    """A failed request in the http adapter's words: the HTTP client's wrappers (geventhttpclient's
    `RetriesExceeded(original=...)`) are unwrapped, so a timeout reads as a timeout."""
    for _ in range(5):
        inner = getattr(error, "original", None)
        if not isinstance(inner, BaseException):
            break
        error = inner
    if isinstance(error, TimeoutError) or type(error).__name__ == "Timeout":  # gevent's too
        return timeout_error(seconds)
    return connection_error(error)


def outcome(at: float, text: str, reply: Reply) -> list[Any]:
    """One turn as sent back: when it was sent (epoch seconds), the text the customer wrote,
    and the judged reply (its failure as {kind, message}, or null)."""
    f = reply.failure
    return [
        round(at, 4),
        text,
        reply.status,
        reply.text,
        round(reply.latency_ms, 3),
        None if f is None else f.to_dict(),
        reply.data,
        None if reply.first_byte_ms is None else round(reply.first_byte_ms, 3),
        reply.usage,
        reply.tool_calls,
        reply.finish_reason,
    ]


def read_outcome(turn: list[Any]) -> tuple[float, str, Reply]:
    """`outcome` read back: (when, the text, the Reply)."""
    from harness.agents.base import Reply

    at, text, status, reply_text, latency, error, data, first, usage, calls, reason = turn
    reply = Reply(
        reply_text,
        float(latency),
        status,
        Failure.from_stored(error),
        data,
        first,
        {},
        usage,
        calls,
        reason,
    )
    return float(at), str(text), reply
