"""Spans kept by trace id, for the traces the harness expects (one per case and trial), with
a bounded wait for the late ones. Lives on the event loop of the receiver and the engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from harness.core.spans import Span
from harness.otel.decode import DEFAULT_LIMITS, Limits


@dataclass(slots=True)
class _Trace:
    spans: dict[str, Span] = field(default_factory=dict)  # by span id: a resent span once
    last: float = 0.0  # monotonic time of the last span that arrived
    dropped: int = 0  # over the cap


@dataclass(frozen=True, slots=True)
class Taken:
    """What one `add` did with its spans."""

    kept: int
    unexpected: int  # of a trace the harness does not (or no longer) expect
    over_cap: int  # beyond the trace's cap


class TraceStore:
    """Spans of the expected traces. A span of another trace (an agent that ignored the
    `traceparent`, a case already concluded) is counted, never kept: what the agent sends
    cannot grow the harness's memory beyond `spans_per_trace` per case in flight."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._traces: dict[str, _Trace] = {}
        self.unexpected = 0  # spans of traces not expected, over the store's life
        self.received = 0  # spans that arrived, kept or not
        self.last = 0.0  # monotonic time the last span (of any trace) arrived
        #: the latest end time (Unix ns) of any span that arrived: an exporter sends spans in
        #: the order they ended, so every span its agent ended before this has arrived
        self.watermark_ns = 0
        self._arrived = asyncio.Event()  # set (and replaced) whenever spans arrive

    def expect(self, trace_id: str) -> None:
        """Keep the spans of this trace from now on (before the case's first turn)."""
        self._traces.setdefault(trace_id, _Trace())

    def add(self, spans: Iterable[Span]) -> Taken:
        kept = unexpected = over = 0
        now = time.monotonic()
        for span in spans:
            self.received += 1
            self.last = now
            self.watermark_ns = max(self.watermark_ns, span.end_ns)
            trace = self._traces.get(span.trace_id)
            if trace is None:
                unexpected += 1
                continue
            trace.last = now
            if span.span_id in trace.spans:
                continue
            if len(trace.spans) >= self.limits.spans_per_trace:
                trace.dropped += 1
                over += 1
                continue
            trace.spans[span.span_id] = span
            kept += 1
        self.unexpected += unexpected
        if self.last == now:
            arrived, self._arrived = self._arrived, asyncio.Event()
            arrived.set()
        return Taken(kept, unexpected, over)

    def spans(self, trace_id: str) -> list[Span]:
        """The trace's spans by start time (arrival order breaks ties)."""
        trace = self._traces.get(trace_id)
        if trace is None:
            return []
        return sorted(trace.spans.values(), key=lambda s: s.start_ns)

    def dropped(self, trace_id: str) -> int:
        trace = self._traces.get(trace_id)
        return 0 if trace is None else trace.dropped

    def forget(self, trace_id: str) -> list[Span]:
        """The trace's spans, and no more of them kept (the case is concluded)."""
        spans = self.spans(trace_id)
        self._traces.pop(trace_id, None)
        return spans

    def complete(self, trace_id: str, roots: Collection[str]) -> bool:
        """Whether every one of `roots` (the parent span ids the harness sent, one per turn)
        has a span under it, and every span's parent has arrived too: an agent's root span
        ends after its children, so its exporter has sent them by then."""
        trace = self._traces.get(trace_id)
        if trace is None or not roots:
            return False
        spans = trace.spans
        parents = {s.parent_id for s in spans.values()}
        if not parents.issuperset(roots):
            return False
        return all(p is None or p in roots or p in spans for p in parents)

    async def settle(
        self,
        trace_id: str,
        quiet: float = 0.3,
        timeout: float = 3.0,
        roots: Collection[str] = (),
        after_ns: int | None = None,
    ) -> list[Span]:
        """The trace's spans once it is complete (`complete(trace_id, roots)`), or a span that
        ended at `after_ns` or later has arrived (an exporter sends in the order spans ended:
        the trace's own, ended earlier, are in), or no span of any trace has arrived for
        `quiet` seconds (counted from the call or the last span, whichever is later); at most
        `timeout` seconds in all.

        `quiet` should exceed the exporter's batch delay (`otlp_environment` sets it); an
        agent that keeps sending spans is cut off at `timeout`."""
        self.expect(trace_id)
        start = time.monotonic()
        deadline = start + timeout
        while True:
            now = time.monotonic()
            if self.complete(trace_id, roots) or (
                after_ns is not None and self.watermark_ns >= after_ns
            ):
                return self.spans(trace_id)
            until = min(max(start, self.last) + quiet, deadline)
            if now >= until:
                return self.spans(trace_id)
            arrived = self._arrived
            try:
                async with asyncio.timeout(until - now):
                    await arrived.wait()
            except TimeoutError:
                pass
