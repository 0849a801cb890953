"""Trace context per case and turn, spans attributed by ancestry, the OTLP environment, and
the store: expected traces only, caps, resent spans, the bounded settle wait."""

from __future__ import annotations

import asyncio
import time

from hypothesis import given
from hypothesis import strategies as st

from harness.core.spans import Span
from harness.otel.context import CaseTrace, otlp_environment, parse_traceparent
from harness.otel.decode import Limits, is_hex_id
from harness.otel.store import TraceStore


def span(trace: str, span_id: str, parent: str | None, start: int = 0) -> Span:
    return Span(trace, span_id, parent, f"s{span_id[-2:]}", start_ns=start)


def test_a_case_trace_is_derived_and_distinct_per_run_case_trial_and_variant() -> None:
    a = CaseTrace.of("run1", "refund#1", 0)
    assert a == CaseTrace.of("run1", "refund#1", 0)
    others = {
        CaseTrace.of("run2", "refund#1", 0),
        CaseTrace.of("run1", "refund#2", 0),
        CaseTrace.of("run1", "refund#1", 1),
        CaseTrace.of("run1", "refund#1", 0, "persona"),
    }
    assert a not in others and len(others) == 4
    assert is_hex_id(a.trace_id, 32)
    assert len({a.turn_span_id(t) for t in range(50)}) == 50


@given(st.text(max_size=20), st.text(max_size=20), st.integers(0, 100), st.integers(0, 100))
def test_every_traceparent_sent_is_valid_and_reads_back(
    run: str, case: str, trial: int, turn: int
) -> None:
    trace = CaseTrace.of(run, case, trial)
    value = trace.traceparent(turn)
    assert parse_traceparent(value) == (trace.trace_id, trace.turn_span_id(turn))
    assert value.endswith("-01")  # sampled: a parent-based sampler records the agent's spans


def test_traceparents_that_are_not_valid_are_refused() -> None:
    good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert parse_traceparent(good) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    assert parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
    for bad in (
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "",
    ):
        assert parse_traceparent(bad) is None, bad


def test_spans_are_attributed_to_their_turn_through_their_ancestors() -> None:
    case = CaseTrace.of("run", "case", 0)
    t = case.trace_id
    spans = [
        span(t, "a" * 16, case.turn_span_id(0)),  # the agent's root span of turn 0
        span(t, "b" * 16, "a" * 16),  # a tool under it
        span(t, "c" * 16, "b" * 16),  # an HTTP call under the tool
        span(t, "d" * 16, case.turn_span_id(1)),
        span(t, "e" * 16, None),  # a root of the agent's own: no turn
        span(t, "f" * 16, "9" * 16),  # its parent never arrived
        span(t, "1" * 16, "2" * 16),  # a circle of parents: the agent is hostile
        span(t, "2" * 16, "1" * 16),
        span(CaseTrace.of("run", "other", 0).trace_id, "3" * 16, case.turn_span_id(0)),
    ]
    by_turn = case.by_turn(spans, turns=2)
    assert [s.span_id[0] for s in by_turn[0]] == ["a", "b", "c"]
    assert [s.span_id[0] for s in by_turn[1]] == ["d"]
    assert [s.span_id[0] for s in by_turn[None]] == ["e", "f", "1", "2", "3"]


def test_the_otlp_environment_points_an_sdk_at_the_receiver() -> None:
    env = otlp_environment("http://127.0.0.1:4318/")
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"
    assert env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == "http://127.0.0.1:4318/v1/traces"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert env["OTEL_TRACES_EXPORTER"] == "otlp"
    assert int(env["OTEL_BSP_SCHEDULE_DELAY"]) <= 200


def test_the_store_keeps_expected_traces_once_each_and_capped() -> None:
    store = TraceStore(Limits(spans_per_trace=3))
    mine, other = "1" * 32, "2" * 32
    store.expect(mine)
    taken = store.add([span(mine, f"{i:016x}", None, start=10 - i) for i in range(5)])
    assert (taken.kept, taken.over_cap, taken.unexpected) == (3, 2, 0)
    again = store.add([span(mine, f"{0:016x}", None), span(other, "a" * 16, None)])
    assert (again.kept, again.unexpected) == (0, 1)  # resent: kept once
    assert [s.start_ns for s in store.spans(mine)] == [8, 9, 10]
    assert store.spans(other) == [] and store.unexpected == 1
    assert store.dropped(mine) == 2
    assert len(store.forget(mine)) == 3
    late = store.add([span(mine, "b" * 16, None)])  # concluded: no longer kept, counted late
    assert (late.kept, late.unexpected, late.late) == (0, 0, 1)


def test_settle_waits_for_late_spans_and_is_bounded() -> None:
    async def scenario() -> tuple[int, int, float]:
        store = TraceStore()
        trace = "1" * 32
        store.expect(trace)

        async def late() -> None:
            for i in range(3):
                await asyncio.sleep(0.05)
                store.add([span(trace, f"{i + 1:016x}", None)])

        sender = asyncio.create_task(late())
        got = await store.settle(trace, quiet=1.0, timeout=10)
        await sender
        # an agent that never stops sending is cut off at the timeout
        endless = "2" * 32
        store.expect(endless)
        stop = asyncio.Event()

        async def flood() -> None:
            i = 0
            while not stop.is_set():
                i += 1
                store.add([span(endless, f"{i:016x}", None)])
                await asyncio.sleep(0.01)

        flooder = asyncio.create_task(flood())
        started = time.monotonic()
        flooded = await store.settle(endless, quiet=0.1, timeout=0.3)
        elapsed = time.monotonic() - started
        stop.set()
        await flooder
        return len(got), len(flooded), elapsed

    late_count, flooded, elapsed = asyncio.run(scenario())
    assert late_count == 3  # every late span, none missed by a settle that returned early
    assert flooded > 0 and elapsed < 2  # bounded: returned, well before a 2 s margin
