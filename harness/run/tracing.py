"""Watching a conversation from outside the agent: whether a run traces, the trace watcher
(the spans the agent sent under the case's own trace, into its observation), and the
engine's glue that begins every watcher before a conversation's first request and ends
them, bounded, on every way out before judging.

A run traces when its suite has a `span` check (or a `before`/`after` naming a span) in any
scenario (regression files replay those) or a service dependency whose requests belong to
a case by `match: traceparent`. Then every conversation (the scenario's turns, each
variant, a conversation a load generator holds) gets its own trace,
`CaseTrace.of(run_id, case id, trial, variant)`, and every turn carries
`CaseTrace.traceparent(i)`, i the turn's position in `Observation.turns` (0-based:
`TurnRecord.index - 1`), as the `traceparent` header.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.core import Case, Observation
from harness.core.spans import TOOL
from harness.core.watch import Watched, Watcher
from harness.otel.context import CaseTrace
from harness.spec import models as m
from harness.spec.scope import traces as suite_traces
from harness.spec.suite import Suite

if TYPE_CHECKING:  # a run that traces imports it (the receiver's)
    from harness.otel.store import TraceStore

QUIET = 0.3  # seconds without a new span before a case's trace is taken as complete
TIMEOUT = 3.0  # seconds a case waits for late spans at most
NAMES_KEPT = 10_000  # distinct span names (and tools) a run remembers
END_TIMEOUT = 10.0  # seconds any one watcher's `end` may take (then it is cut off)
#: how much later than a conversation's end a span must have ended for the exporter's
#: watermark to say the conversation's spans are in: an agent of several processes exports
#: from each on its own, each within about its batch delay (100 ms, as the harness sets it)
WATERMARK_MARGIN_NS = 200_000_000

Free = Callable[[], None]  # frees a case's place among the conversations in flight


def once(fn: Free) -> Free:
    """`fn`, called at most once however often the result is."""
    calls = iter((fn,))
    return lambda: next(calls, _nothing)()


def _nothing() -> None:
    return None


def traces(suite: Suite) -> bool:
    """Whether the run sends `traceparent` and receives spans: a span check (or an order
    against a span) in any scenario, or a service matched by `traceparent`
    (`spec.scope.traces`, which `harness validate` asks too)."""
    return suite_traces(suite.manifest.environment.dependencies, suite.scenarios)


class TraceWatcher:
    """begin: the store expects the conversation's trace; end: a bounded wait for late spans
    (`TraceStore.settle`: until the trace is whole, the exporter's watermark passes the
    conversation's end, or nothing arrives for `quiet`; `timeout` in all), then the spans
    into the observation and the trace forgotten, with what was dropped over the cap, how
    many spans of traces the harness did not send arrived meanwhile (a hint that the agent
    ignores `traceparent`), and how many spans of earlier cases arrived after those were
    judged (a hint that the agent's exporter waits longer than the settle time)."""

    def __init__(self, store: TraceStore, quiet: float = QUIET, timeout: float = TIMEOUT) -> None:
        self.store = store
        self.quiet = quiet
        self.timeout = timeout
        self._stray: dict[str, int] = {}  # the store's unexpected count at begin, by trace
        #: the span names and tools the run's cases had (a span check's name none had is
        #: likely a typo: said after the run), each kept up to NAMES_KEPT
        self.names: set[str] = set()
        self.tools: set[str] = set()

    def begin(self, watched: Watched) -> None:
        if watched.trace_id is None:
            return
        self.store.expect(watched.trace_id)
        self._stray[watched.trace_id] = self.store.unexpected

    async def end(self, watched: Watched, obs: Observation) -> None:
        trace_id = watched.trace_id
        if trace_id is None:
            return
        obs.trace_id = trace_id
        after_ns = time.time_ns() + WATERMARK_MARGIN_NS  # every turn's spans ended before
        trace = CaseTrace(trace_id)
        roots = {trace.turn_span_id(i) for i, t in enumerate(obs.turns) if t.error is None}
        task = asyncio.current_task()
        try:
            if task is None or not task.cancelling():  # a stopping run waits for nothing
                await self.store.settle(trace_id, self.quiet, self.timeout, roots, after_ns)
        finally:  # cut short (a stop signal): what came so far, and the trace forgotten
            obs.spans_dropped = self.store.dropped(trace_id)
            obs.spans = self.store.forget(trace_id)
            obs.spans_stray = self.store.unexpected - self._stray.pop(trace_id, 0)
            obs.spans_late = self.store.late
            if len(self.names) < NAMES_KEPT and len(self.tools) < NAMES_KEPT:
                for span in obs.spans:
                    self.names.add(span.name)
                    if isinstance(tool := span.attributes.get(TOOL), str):
                        self.tools.add(tool)


class Watching:
    """The engine's watchers and whether the run traces: `begin` a conversation's watch
    once its case's rows and vars are in its context; `end_case` ends every watch a case's
    trial began (its scenario's turns, its variants) at once, before it is judged."""

    def __init__(self, run_id: str, watchers: Sequence[Watcher] = (), traced: bool = False):
        self.run_id = run_id
        self.watchers = tuple(watchers)
        self.traced = traced
        self._open: dict[tuple[str, int], list[tuple[Watched, Observation]]] = {}

    def trace(self, case: Case, trial: int, variant: int | None) -> CaseTrace | None:
        if not self.traced:
            return None
        return CaseTrace.of(self.run_id, case.id, trial, "" if variant is None else str(variant))

    def begin(
        self,
        case: Case,
        trial: int,
        variant: int | None,
        scenario: m.Scenario,
        ctx: Mapping[str, Any],
        obs: Observation,
    ) -> Watched | None:
        if not self.watchers and not self.traced:  # nothing watches: nothing to begin
            obs.trace_id = None
            return None
        trace = self.trace(case, trial, variant)
        trace_id = None if trace is None else trace.trace_id
        watched = Watched(case, trial, variant, trace_id, scenario, ctx)
        obs.trace_id = watched.trace_id
        if self.watchers:
            self._open.setdefault((case.id, trial), []).append((watched, obs))
        for watcher in self.watchers:
            watcher.begin(watched)
        return watched

    async def end_case(self, case_id: str, trial: int) -> None:
        """End every watch this case's trial began, all at once (each bounded)."""
        ended = self._open.pop((case_id, trial), None) if self._open else None
        if ended:
            await asyncio.gather(*(self.end(watched, obs) for watched, obs in ended))

    async def end_all(self) -> None:
        """End every watch still open (a load's cases never played), all at once."""
        ended = [pair for pairs in self._open.values() for pair in pairs]
        self._open.clear()
        await asyncio.gather(*(self.end(watched, obs) for watched, obs in ended))

    async def end(self, watched: Watched, obs: Observation) -> None:
        """Every watcher's end, each bounded; a watcher's own fault never reaches the case
        (it would only hide the agent's verdicts)."""
        for watcher in self.watchers:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(END_TIMEOUT):
                    await watcher.end(watched, obs)
