"""Spans kept by trace id, for the traces the harness expects (one per case and trial), with
a bounded wait for the late ones. Lives on the event loop of the receiver and the engine."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from harness.core.spans import Span
from harness.empty import empty_dict
from harness.otel.decode import DEFAULT_LIMITS, Limits

#: how many concluded traces the store remembers, so that their late spans are told apart
#: from spans of traces the harness never sent
CONCLUDED = 4096


@dataclass(slots=True)
class _Trace:
    spans: dict[str, Span] = field(default_factory=empty_dict)  # by span id: a resent span once
    last: float = 0.0  # monotonic time of the last span that arrived
    dropped: int = 0  # over the cap


@dataclass(frozen=True, slots=True)
class Taken:
    """What one `add` did with its spans."""

    kept: int
    unexpected: int  # of a trace the harness never sent (or concluded too long ago)
    over_cap: int  # beyond the trace's cap
    late: int = 0  # of a trace whose case was already judged (`forget`)


class TraceStore:
    """Spans of the expected traces. A span of another trace (an agent that ignored the
    `traceparent`) is counted, never kept; so is a span of a case already concluded (the
    last `concluded` trace ids are remembered: bounded), as `late`: an exporter's batch delay
    longer than the case's settle time. What the agent sends cannot grow the harness's memory
    beyond `spans_per_trace` per case in flight."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS, concluded: int = CONCLUDED) -> None:
        self.limits = limits
        self._traces: dict[str, _Trace] = {}
        self._concluded: OrderedDict[str, None] = OrderedDict()  # oldest first
        self._concluded_max = concluded
        self.unexpected = 0  # spans of traces not expected, over the store's life
        self.late = 0  # spans of concluded traces (their case judged without them)
        self.silent = 0  # traces concluded without a span
        self.received = 0  # spans that arrived, kept or not
        self.last = 0.0  # monotonic time the last span (of any trace) arrived
        #: the latest end time (Unix ns) of any span that arrived: an exporter sends spans in
        #: the order they ended, so every span its agent ended before this has arrived
        self.watermark_ns = 0
        self._arrived = asyncio.Event()  # set (and replaced) whenever spans arrive

    def expect(self, trace_id: str) -> None:
        """Keep the spans of this trace from now on (before the case's first turn)."""
        self._traces.setdefault(trace_id, _Trace())
        self._concluded.pop(trace_id, None)

    def add(self, spans: Iterable[Span]) -> Taken:
        kept = unexpected = over = late = 0
        now = time.monotonic()
        for span in spans:
            self.received += 1
            self.last = now
            self.watermark_ns = max(self.watermark_ns, span.end_ns)
            trace = self._traces.get(span.trace_id)
            if trace is None:
                if span.trace_id in self._concluded:
                    late += 1
                else:
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
        self.late += late
        if self.last == now:
            arrived, self._arrived = self._arrived, asyncio.Event()
            arrived.set()
        return Taken(kept, unexpected, over, late)

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
        """The trace's spans, and no more of them kept (the case is concluded): a span of
        it that arrives from now on counts as `late`."""
        spans = self.spans(trace_id)
        if self._traces.pop(trace_id, None) is not None:
            self.silent += not spans
            self._concluded[trace_id] = None
            self._concluded.move_to_end(trace_id)
            while len(self._concluded) > self._concluded_max:
                self._concluded.popitem(last=False)
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

    async def wait_late(self, timeout: float) -> int:
        """`late`, once a span of a concluded trace has arrived (at once if one has) or after
        `timeout` seconds: the run's end, telling an exporter that waits too long (the SDKs'
        default batch delay is 5 s) from one that sends nothing."""
        deadline = time.monotonic() + timeout
        while not self.late and (left := deadline - time.monotonic()) > 0:
            arrived = self._arrived
            try:
                async with asyncio.timeout(left):
                    await arrived.wait()
            except TimeoutError:
                break
        return self.late
