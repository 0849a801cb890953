"""Occurrences of what the agent did on the way (spans, requests to stubbed services) on one
clock, how a trace or call check selects them, and how they read as evidence.

Both are occurrences on one clock (Unix ns: a span's start, a request's arrival), so a span
can be ordered against a call. A span's turn comes from its ancestry under the turn's
`traceparent` (`CaseTrace.by_turn`); a span under no turn counts only for `turn: any`. A
case the harness did not trace, or whose agent sent no spans at all, cannot be judged by a
span: an error with a hint, never a pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.agents.protocol import as_text, get_path
from harness.check.state import values_equal
from harness.core import Observation
from harness.core.calls import ServiceRequest
from harness.core.spans import TOOL, Span, SpanStatus
from harness.otel.context import CaseTrace
from harness.spec import models as m
from harness.spec.template import Template, format_value, render_deep

MAX_SHOWN = 30  # occurrences listed as found; the rest counted
MAX_MISSES = 5  # occurrences like the selected ones, with why they were not counted
VALUE_CHARS = 120
PENDING = "still being answered when the case ended"

NO_TRACE = "the harness did not trace this case (it sent no traceparent), so no span can be judged"
STRAY_HINT = (
    "the agent sent no spans under this case's trace, but {n} span(s) arrived under other "
    "traces while it ran: does the agent propagate the traceparent header it is sent?"
)
LATE_HINT = (
    "the agent sent no spans under this case's trace in time, but {n} span(s) of earlier "
    "cases arrived after those were judged: its exporter waits longer than the harness (lower "
    "its OTEL_BSP_SCHEDULE_DELAY, e.g. to 100, or raise environment.traces.settle and timeout)"
)
NO_SPANS_HINT = (
    "the agent sent no spans: is its OpenTelemetry exporter configured "
    "(OTEL_EXPORTER_OTLP_ENDPOINT, set by the harness when it starts the agent; "
    "{{ otel.endpoint }} otherwise)?"
)


@dataclass(frozen=True, slots=True)
class Step:
    """One occurrence: a span or a request, when it started and its turn (1-based; None: a
    span under no turn of the case)."""

    at_ns: int
    turn: int | None
    item: Span | ServiceRequest


class Render:
    """The case's templates rendered (and regexes compiled) once per check."""

    def __init__(self, context: Mapping[str, Any], cache: dict[str, Template]) -> None:
        self.context, self.cache = context, cache
        self._regex: dict[str, re.Pattern[str]] = {}

    def __call__(self, value: Any) -> Any:
        return render_deep(value, self.context, self.cache)

    def text(self, value: Any) -> str:
        return format_value(self(value))

    def regex(self, pattern: str) -> re.Pattern[str]:
        text = self.text(pattern)
        found = self._regex.get(text)
        if found is None:
            found = self._regex[text] = re.compile(text)
        return found


def short(value: Any, limit: int = VALUE_CHARS) -> str:
    text = value if isinstance(value, str) else as_text(value)
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more]"


# -- occurrences -------------------------------------------------------------------------


def span_steps(obs: Observation) -> list[Step]:
    """The case's spans in start order, each with its turn (by ancestry)."""
    if obs.trace_id is None or not obs.spans:
        return []
    by_turn = CaseTrace(obs.trace_id).by_turn(obs.spans, len(obs.turns))
    steps = [
        Step(s.start_ns, None if t is None else t + 1, s)
        for t, spans in by_turn.items()
        for s in spans
    ]
    return sorted(steps, key=lambda s: s.at_ns)


def call_steps(obs: Observation) -> list[Step]:
    """The requests the stubbed services received for the case, in arrival order."""
    return sorted((Step(q.at_ns, q.turn, q) for q in obs.requests), key=lambda s: s.at_ns)


def in_turns(turn: m.TurnSelector, steps: Sequence[Step], turns: int) -> list[Step]:
    if turn == "any":
        return list(steps)
    want = turns if turn == "last" else turn
    return [s for s in steps if s.turn == want]


def trace_problem(obs: Observation) -> str | None:
    """Why spans cannot be judged for this case (an error, never a pass), or None."""
    if obs.trace_id is None:
        return NO_TRACE
    if not obs.spans:
        if obs.spans_late > 0:  # its spans too will come late: not an unconfigured exporter
            return LATE_HINT.format(n=obs.spans_late)
        return STRAY_HINT.format(n=obs.spans_stray) if obs.spans_stray > 0 else NO_SPANS_HINT
    return None


# -- matching ----------------------------------------------------------------------------


def value_miss(want: m.Matcher, present: bool, found: Any, r: Render) -> str | None:
    """Why a found value does not match (None: it does). A scalar is equal after rendering
    (None: null or missing); {regex} searches, {contains} finds, {exists} asks presence."""
    if isinstance(want, m.ValueMatch):
        if want.exists is not None:
            if present == want.exists:
                return None
            return "missing" if want.exists else f"present ({short(found)})"
        if not present:
            return "missing"
        text = found if isinstance(found, str) else as_text(found)
        if want.contains is not None:
            needle = r.text(want.contains)
            return None if needle in text else f"{short(text)!r} lacks {short(needle)!r}"
        assert want.regex is not None
        pattern = r.regex(want.regex)
        return (
            None if pattern.search(text) else f"{short(text)!r} does not match /{pattern.pattern}/"
        )
    expected = r(want)
    if not present or found is None:
        return None if expected is None else "missing"
    if values_equal(expected, found):
        return None
    return f"{short(found)!r}, not {short(format_value(expected))!r}"


def _misses(
    wants: Mapping[str, m.Matcher], look: Callable[[str], tuple[bool, Any]], r: Render, what: str
) -> list[str]:
    out = []
    for key, want in wants.items():
        present, found = look(key)
        why = value_miss(want, present, found, r)
        if why is not None:
            out.append(f"{what} {key}: {why}")
    return out


def _status_ok(want: str, status: SpanStatus) -> bool:
    if want == "any":
        return True
    if want == "not_error":
        return status is not SpanStatus.ERROR
    return status.value == want


def span_like(sel: m.SpanSelector, span: Span, r: Render) -> bool:
    """Whether a span is the one named (name, name_regex, tool, service), details aside."""
    return (
        (sel.name is None or span.name == r.text(sel.name))
        and (sel.name_regex is None or r.regex(sel.name_regex).search(span.name) is not None)
        and (sel.tool is None or span.attributes.get(TOOL) == r.text(sel.tool))
        and (sel.service is None or span.service == r.text(sel.service))
    )


def span_misses(sel: m.SpanSelector, span: Span, r: Render, status: str = "any") -> list[str]:
    """Why a span like the named one is not counted: its attributes, its status."""
    attrs = span.attributes
    out = _misses(sel.attributes, lambda k: (k in attrs, attrs.get(k)), r, "attribute")
    if not _status_ok(status, span.status):
        why = f": {short(span.status_message)}" if span.status_message else ""
        out.append(f"status {span.status.value}{why}")
    return out


def call_like(sel: m.CallSelector, q: ServiceRequest, r: Render) -> bool:
    return (
        q.service == sel.service
        and (sel.method is None or q.method.upper() == r.text(sel.method).upper())
        and (sel.path is None or q.path == r.text(sel.path))
        and (sel.path_regex is None or r.regex(sel.path_regex).search(q.path) is not None)
    )


def call_misses(
    sel: m.CallSelector, q: ServiceRequest, r: Render, answered: int | None = None
) -> list[str]:
    """Why a request like the named one is not counted: query, headers, body, the answer."""
    headers = {k.lower(): v for k, v in q.headers.items()}
    out = _misses(sel.query, lambda k: (k in q.query, q.query.get(k)), r, "query")
    out += _misses(
        sel.headers, lambda k: (k.lower() in headers, headers.get(k.lower())), r, "header"
    )
    if isinstance(sel.body, str):
        needle = r.text(sel.body)
        if needle not in q.body:
            out.append(f"body lacks {short(needle)!r}")
    elif sel.body:
        out += _misses(sel.body, lambda k: _json_at(q.json, k), r, "body")
    if answered is not None and q.pending:
        out.append(f"{PENDING}, not answered {answered}")
    elif answered is not None and q.status != answered:
        out.append(f"answered {q.status}, not {answered}")
    return out


def _json_at(data: Any, path: str) -> tuple[bool, Any]:
    value, found = get_path(data, path)
    return found, value


def selected(ref: m.OrderRef, step: Step, r: Render) -> bool:
    """Whether an occurrence is the other step an order names (a span or a call)."""
    item = step.item
    if ref.span is not None:
        return (
            isinstance(item, Span)
            and span_like(ref.span, item, r)
            and not span_misses(ref.span, item, r)
        )
    assert ref.call is not None
    return (
        isinstance(item, ServiceRequest)
        and call_like(ref.call, item, r)
        and not call_misses(ref.call, item, r, ref.call.answered)
    )


# -- evidence ----------------------------------------------------------------------------


def span_label(step: Step) -> str:
    s = step.item
    assert isinstance(s, Span)
    turn = f"turn {step.turn}" if step.turn is not None else "no turn"
    tool = s.attributes.get(TOOL)
    parts = [turn, short(s.name, 120)]
    if isinstance(tool, str) and tool != s.name:
        parts.append(f"tool {short(tool, 80)}")
    status = s.status.value + (f" ({short(s.status_message, 80)})" if s.status_message else "")
    parts += [status, milliseconds(s.duration_ms)]
    if s.exceptions:
        parts.append(f"{len(s.exceptions)} exception(s)")
    return " · ".join(parts)


def milliseconds(ms: float) -> str:
    """A duration as evidence reads it: a span under 10 ms keeps a decimal (0.4 ms)."""
    return f"{ms:.1f} ms" if 0 < ms < 10 else f"{ms:,.0f} ms"


def call_label(step: Step) -> str:
    q = step.item
    assert isinstance(q, ServiceRequest)
    turn = f"turn {step.turn}" if step.turn is not None else "no turn"
    answer = PENDING if q.pending else f"{q.status}"
    answer += f" ({q.answered_by})" if q.answered_by else ""
    return f"{turn} · {short(q.service, 80)} {short(q.method, 16)} {short(q.path, 200)} -> {answer}"


def label(step: Step) -> str:
    return span_label(step) if isinstance(step.item, Span) else call_label(step)


def listed(steps: Sequence[Step], limit: int = MAX_SHOWN) -> list[str]:
    lines = [label(s) for s in steps[:limit]]
    if len(steps) > limit:
        lines.append(f"… and {len(steps) - limit} more")
    return lines


def describe_span(sel: m.SpanSelector, r: Render) -> str:
    parts = []
    if sel.tool is not None:
        parts.append(f"tool {r.text(sel.tool)}")
    if sel.name is not None:
        parts.append(f"name {r.text(sel.name)}")
    if sel.name_regex is not None:
        parts.append(f"name /{r.text(sel.name_regex)}/")
    if sel.service is not None:
        parts.append(f"service {r.text(sel.service)}")
    if not parts:
        parts.append("attributes " + ", ".join(sel.attributes))
    return "span (" + ", ".join(parts) + ")"


def describe_call(sel: m.CallSelector, r: Render) -> str:
    method = r.text(sel.method).upper() + " " if sel.method else ""
    path = (
        r.text(sel.path) if sel.path else (f"/{r.text(sel.path_regex)}/" if sel.path_regex else "")
    )
    return f"call to {sel.service}" + (
        f" ({method}{path})".replace(" )", ")") if method or path else ""
    )


def describe(ref: m.OrderRef, r: Render) -> str:
    if ref.span is not None:
        return describe_span(ref.span, r)
    assert ref.call is not None
    answered = f" answered {ref.call.answered}" if ref.call.answered is not None else ""
    return describe_call(ref.call, r) + answered


def count_range(check: m.ChainCheck) -> tuple[int, int | None]:
    if check.absent:
        return 0, 0
    if isinstance(check.count, int):
        return check.count, check.count
    if isinstance(check.count, m.Count):
        return check.count.min or 0, check.count.max
    return 1, None


def count_text(low: int, high: int | None) -> str:
    if high is None:
        return f"at least {low}"
    if low == high:
        return "never" if low == 0 else f"exactly {low}"
    return f"between {low} and {high}" if low else f"at most {high}"
