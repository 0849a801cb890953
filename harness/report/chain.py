"""What the agent did on the way, as a failing trial's evidence shows it: the spans it sent
as a compact tree per turn (name, tool, status, duration, key attributes, span events and
exceptions), and the requests stubbed services received (service, method, path, status,
who answered, turn). Everything is agent data: capped and masked here (`cap`), escaped by
each renderer; long lists are cut with a count of what is not shown."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.check.steps import milliseconds
from harness.core.spans import TOOL, Span, SpanEvent, SpanKind, SpanStatus
from harness.empty import empty_list
from harness.otel.context import CaseTrace
from harness.report.text import cap

MAX_SPANS = 60  # per trial, over all its turns
MAX_DEPTH = 8  # deeper spans are shown at this depth
MAX_ATTRIBUTES = 4
MAX_EVENTS = 3
MAX_REQUESTS = 30
VALUE_CHARS = 160
#: attributes that say what a step was, shown first (the GenAI and HTTP conventions)
KEY_ATTRIBUTES = (
    "gen_ai.operation.name",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "http.request.method",
    "url.full",
    "http.route",
    "http.response.status_code",
    "server.address",
    "error.type",
)
PENDING = "still being answered when the case ended"


@dataclass
class TurnSpans:
    turn: str  # "turn 1", or "no turn" for spans under no turn of the case
    lines: list[str] = field(default_factory=empty_list)


@dataclass
class TraceEvidence:
    """A trial's trace as evidence: a tree per turn, and what was not kept or not shown."""

    turns: list[TurnSpans]
    notes: list[str]

    @property
    def text(self) -> str:
        """The whole tree as one block of text (Markdown fences, JUnit)."""
        out: list[str] = []
        for t in self.turns:
            out += [f"{t.turn}:", *(f"  {line}" for line in t.lines)]
        return "\n".join(out + self.notes)


def _span(d: Mapping[str, Any]) -> Span | None:
    """A stored span back as a Span (None: not one the harness wrote)."""
    try:
        events = tuple(
            SpanEvent(
                str(e.get("name", "")), int(e.get("time_ns", 0)), dict(e.get("attributes") or {})
            )
            for e in d.get("events") or ()
            if isinstance(e, Mapping)
        )
        return Span(
            trace_id=str(d["trace_id"]),
            span_id=str(d["span_id"]),
            parent_id=None if d.get("parent_id") is None else str(d["parent_id"]),
            name=str(d.get("name", "")),
            kind=SpanKind(d.get("kind", "unspecified")),
            start_ns=int(d.get("start_ns", 0)),
            end_ns=int(d.get("end_ns", 0)),
            status=SpanStatus(d.get("status", "unset")),
            status_message=str(d.get("status_message", "")),
            attributes=dict(d.get("attributes") or {}),
            events=events,
            service=None if d.get("service") is None else str(d["service"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _value(value: Any) -> str:
    return cap(value if isinstance(value, str) else repr(value), VALUE_CHARS)


def span_line(s: Span, services: bool = False) -> str:
    """One span: name, tool, service, status, duration, key attributes."""
    parts = [cap(s.name, 120)]
    tool = s.attributes.get(TOOL)
    if isinstance(tool, str) and tool not in s.name:
        parts.append(f"tool {cap(tool, 80)}")
    if services and s.service:
        parts.append(f"service {cap(s.service, 80)}")
    status = s.status.value
    if s.status_message:
        status += f" ({cap(s.status_message, VALUE_CHARS)})"
    parts += [status, milliseconds(s.duration_ms)]
    keys = [k for k in KEY_ATTRIBUTES if k in s.attributes][:MAX_ATTRIBUTES]
    parts += [f"{k}={_value(s.attributes[k])}" for k in keys]
    return " · ".join(parts)


def event_lines(s: Span) -> list[str]:
    """Its events, exceptions first (the agent's own evidence of one)."""
    events = sorted(s.events, key=lambda e: e.name != "exception")
    out = []
    for e in events[:MAX_EVENTS]:
        if e.name == "exception":
            kind = e.attributes.get("exception.type", "")
            message = e.attributes.get("exception.message", "")
            out.append(f"! exception {_value(kind)}: {_value(message)}")
        else:
            out.append(f"· event {cap(e.name, 80)}")
    if len(s.events) > MAX_EVENTS:
        out.append(f"· … and {len(s.events) - MAX_EVENTS} more event(s)")
    return out


Stored = Mapping[str, Any]  # a span as the run log stores it


def _id(d: Stored, key: str) -> str | None:
    value = d.get(key)
    return value if isinstance(value, str) else None


def _by_turn(trace_id: str, spans: list[Stored], turns: int) -> dict[int | None, list[Stored]]:
    """`CaseTrace.by_turn` on stored spans, each ancestor walked once: a report converts
    only the spans it shows."""
    case = CaseTrace(trace_id)
    turn_of: dict[str | None, int | None] = {case.turn_span_id(t): t for t in range(turns)}
    parents = {
        _id(d, "span_id"): _id(d, "parent_id") for d in spans if d.get("trace_id") == trace_id
    }
    known: dict[str | None, int | None] = {}
    out: dict[int | None, list[Stored]] = {}
    for d in spans:
        turn = None
        if d.get("trace_id") == trace_id:
            path: list[str | None] = []
            node = _id(d, "parent_id")
            while node is not None and node not in known and node not in path:
                if node in turn_of:
                    turn = turn_of[node]
                    break
                path.append(node)
                node = parents.get(node)
            else:
                turn = known.get(node) if node is not None else None
            known.update(dict.fromkeys(path, turn))
        out.setdefault(turn, []).append(d)
    return out


def _start(d: Stored) -> int:
    value = d.get("start_ns")
    return value if isinstance(value, int) else 0


def _tree(spans: list[Stored], services: bool, budget: list[int]) -> list[str]:
    """Depth first from the spans whose parent is not among them, each level in start
    order; a circle of parents is cut (the agent is hostile)."""
    if budget[0] <= 0:
        return []
    ids = {_id(d, "span_id") for d in spans}
    children: dict[str | None, list[Stored]] = {}
    for d in spans:
        parent = _id(d, "parent_id")
        children.setdefault(parent if parent in ids else None, []).append(d)
    for group in children.values():
        group.sort(key=_start)
    out: list[str] = []
    seen: set[int] = set()
    roots = children.get(None, [])
    while budget[0] > 0:
        stack = [(d, 0) for d in reversed(roots)]
        while stack and budget[0] > 0:
            d, depth = stack.pop()
            if id(d) in seen:
                continue
            seen.add(id(d))
            s = _span(d)
            if s is None:
                continue
            budget[0] -= 1
            pad = "  " * min(depth, MAX_DEPTH)
            out.append(pad + span_line(s, services))
            out += [pad + "  " + line for line in event_lines(s)]
            stack += [(c, depth + 1) for c in reversed(children.get(s.span_id, []))]
        # spans only a circle of parents reaches: shown from the earliest
        left = [d for d in spans if id(d) not in seen] if budget[0] > 0 else []
        if not left:
            break
        roots = [min(left, key=_start)]
    return out


LATE_NOTE = (
    "{n} span(s) of earlier cases arrived after those cases were judged: the agent's "
    "exporter waits longer than the harness (lower its OTEL_BSP_SCHEDULE_DELAY, e.g. to 100, "
    "or raise environment.traces.settle)."
)


def trace_evidence(trace: Any, turns: int, limit: int = MAX_SPANS) -> TraceEvidence | None:
    """A trial's stored trace (`{id, spans, dropped, stray, late}`) as a tree per turn, at most
    `limit` spans shown; None when the harness did not trace the case."""
    if not isinstance(trace, Mapping) or not trace.get("id"):
        return None
    stored = trace.get("spans")
    spans = [d for d in (stored if isinstance(stored, list) else []) if isinstance(d, Mapping)]
    notes = []
    if not spans:
        stray = int(trace.get("stray") or 0)
        notes.append(
            "The agent sent no spans under this case's trace"
            + (f" ({stray} arrived under other traces)." if stray else ".")
        )
        if late := int(trace.get("late") or 0):
            notes.append(LATE_NOTE.format(n=late))
        return TraceEvidence([], notes)
    by_turn = _by_turn(str(trace["id"]), spans, turns)
    services = len({d.get("service") for d in spans}) > 1
    budget = [limit]
    out = []
    for key in sorted(by_turn, key=lambda t: (t is None, t or 0)):
        lines = _tree(by_turn[key], services, budget)
        if lines:
            out.append(TurnSpans("no turn" if key is None else f"turn {key + 1}", lines))
    if len(spans) > limit:
        notes.append(f"… and {len(spans) - limit} more span(s) not shown.")
    if dropped := int(trace.get("dropped") or 0):
        notes.append(f"{dropped} span(s) over the harness's cap were not kept.")
    return TraceEvidence(out, notes)


def request_line(q: Mapping[str, Any]) -> str:
    """One request a stubbed service received: service, method, path, answer, turn."""
    turn = q.get("turn")
    where = f"turn {turn}" if isinstance(turn, int) else "no turn"
    path = str(q.get("path", ""))
    query = q.get("query")
    if isinstance(query, Mapping) and query:
        path += "?" + "&".join(f"{k}={v}" for k, v in list(query.items())[:8])
    answer = PENDING if q.get("pending") else str(q.get("status", ""))
    if q.get("answered_by"):
        answer += f" ({q['answered_by']})"
    took = q.get("duration_ms")
    timing = f" in {took:,.0f} ms" if isinstance(took, int | float) else ""
    if q.get("pending") and timing:
        timing = f" after {took:,.0f} ms"
    line = f"{where} · {q.get('service', '')} {q.get('method', '')} {path} -> {answer}{timing}"
    return cap(line, 400)


def request_lines(requests: Any, limit: int = MAX_REQUESTS) -> list[str]:
    if not isinstance(requests, list):
        return []
    shown = [request_line(q) for q in requests[:limit] if isinstance(q, Mapping)]
    if len(requests) > limit:
        shown.append(f"… and {len(requests) - limit} more request(s)")
    return shown
