"""The session's trace receiver: started only when the run traces (`run/tracing.traces`),
stopped with the environment's other parts, its address given to the agent (the standard
OTLP variables for one the harness starts, `{{ otel.endpoint }}` for one it does not)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from harness.core.events import Emit, Note
from harness.otel.context import otlp_environment
from harness.run.tracing import TraceWatcher, traces
from harness.runlog.models import TracesInfo
from harness.spec.suite import Suite
from harness.spec.template import TemplateError

if TYPE_CHECKING:  # a run that traces imports it (start_receiver)
    from harness.otel.receiver import TraceReceiver


class NoReceiver(Mapping[str, str]):
    """`{{ otel.* }}` in a suite that does not trace: rendering it is the suite's mistake,
    named (never an empty address that an SDK would quietly fail to export to)."""

    def __getitem__(self, key: str) -> str:
        raise TemplateError(
            f"otel.{key}: no OTLP receiver runs for this suite (it starts with a span check, "
            "or a service with match: traceparent)"
        )

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


async def start_receiver(suite: Suite, stack: AsyncExitStack) -> TraceReceiver | None:
    """A receiver on loopback when the run traces, stopped when `stack` closes."""
    if not traces(suite):
        return None
    from harness.otel.receiver import TraceReceiver

    return await stack.enter_async_context(TraceReceiver())


def otel_context(receiver: TraceReceiver | None) -> Mapping[str, Any]:
    """What `{{ otel.* }}` reads: the receiver's base URL as `endpoint`."""
    return NoReceiver() if receiver is None else {"endpoint": receiver.endpoint}


def agent_environment(receiver: TraceReceiver | None) -> dict[str, str]:
    """The OTLP variables for an agent the harness starts (its suite's own env wins)."""
    return {} if receiver is None else otlp_environment(receiver.endpoint)


def announce(receiver: TraceReceiver | None, started: bool, emit: Emit) -> None:
    """The run header's line about traces."""
    if receiver is None:
        return
    given = "OTEL_* set for the agent" if started else "{{ otel.endpoint }} for the agent"
    emit(Note(f"traces: OTLP receiver at {receiver.endpoint} ({given})"))


LATE = (
    "{n} span(s) arrived after their case was judged (the case was judged without them): "
    "lower the agent's OTEL_BSP_SCHEDULE_DELAY (the harness sets 100 ms for an agent it "
    "starts; the SDKs' default is 5000) or raise environment.traces.settle (and its timeout) "
    "above the agent's batch delay"
)


#: how long the end of a run waits for late spans when cases got none from an agent the
#: harness did not start (the SDKs' default batch delay is 5 s)
LATE_WAIT = 6.0


async def wait_late(receiver: TraceReceiver | None, started: bool, emit: Emit) -> None:
    """At a run's end (its cases judged, not cut short): when an agent the harness did not
    start sent no spans for some cases, a bounded wait for spans that come late, so the
    warning can say why (`conclude`) instead of leaving "no spans" unexplained."""
    if receiver is None or started:
        return
    store = receiver.store
    if store.late or not store.silent:
        return
    emit(Note(f"traces: {store.silent} case(s) got no spans; waiting up to {LATE_WAIT:g} s "
              "for late ones (an exporter's batch delay)"))  # fmt: skip
    await store.wait_late(LATE_WAIT)


def conclude(receiver: TraceReceiver | None, emit: Emit) -> TracesInfo | None:
    """At the run's end, while the receiver still listens: what it received, for the
    manifest, and a warning when spans came after their case was judged."""
    if receiver is None:
        return None
    store = receiver.store
    if store.late:
        emit(Note(LATE.format(n=store.late), "warning"))
    return TracesInfo(
        endpoint=receiver.endpoint, received=store.received, late=store.late,
        stray=store.unexpected,
    )  # fmt: skip


def trace_watchers(suite: Suite, receiver: TraceReceiver | None) -> list[TraceWatcher]:
    """The trace watcher, waiting as `environment.traces` says."""
    if receiver is None:
        return []
    wait = suite.manifest.environment.traces
    return [TraceWatcher(receiver.store, wait.settle, wait.timeout)]
