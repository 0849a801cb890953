"""The wiring of traces into a run, part by part: whether a suite traces, the `traceparent`
header each adapter's turn carries (the suite's own header wins), the python adapter's
keyword, `{{ otel.endpoint }}` in the agent's templates, and the trace watcher over a real
store (its settle ends on a complete trace, on the exporter's watermark, or when quiet)."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from harness.agents.chat import OpenAIDialogue
from harness.agents.dialogue import HttpDialogue
from harness.agents.protocol import Incoming
from harness.agents.python import PythonAgent
from harness.core import Case, Observation, TurnRecord
from harness.core.spans import Span
from harness.core.watch import Watched
from harness.otel.context import CaseTrace
from harness.otel.store import TraceStore
from harness.run.tracing import TraceWatcher, Watching, once, traces
from harness.session.traces import NoReceiver
from harness.spec.models import PythonAdapter
from harness.spec.models.agents import HttpAdapter, OpenAIAdapter
from harness.spec.suite import load_suite
from harness.spec.template import Template, TemplateError
from tests.unit.test_protocol import drive

ROOT = Path(__file__).resolve().parents[2]
TRACED = ROOT / "tests" / "suites" / "traced"
PARENT = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


def test_a_suite_traces_with_a_span_check_or_a_service_matched_by_traceparent(
    tmp_path: Path,
) -> None:
    assert traces(load_suite(TRACED))
    assert not traces(load_suite(ROOT / "tests" / "suites" / "echo"))
    # no span check, but a stubbed service whose requests belong to a case by traceparent
    suite = tmp_path / "stubbed"
    shutil.copytree(TRACED, suite)
    scenario = suite / "scenarios" / "traced.yaml"
    scenario.write_text(scenario.read_text().split("      - type: span")[0])
    text = (suite / "suite.yaml").read_text()
    service = "  dependencies:\n    svc: {kind: http_service, match: traceparent}\n  agent:"
    (suite / "suite.yaml").write_text(text.replace("  agent:", service, 1))
    (suite / "suite.yaml").write_text(
        (suite / "suite.yaml").read_text().replace("../../agents/", str(ROOT / "tests/agents/"))
    )
    assert traces(load_suite(suite))
    text = (suite / "suite.yaml").read_text()
    (suite / "suite.yaml").write_text(text.replace("match: traceparent", "match: null"))
    assert not traces(load_suite(suite))


def test_the_http_adapters_turn_carries_the_traceparent_unless_the_suite_sets_one() -> None:
    def sent_headers(config: HttpAdapter, ctx: dict[str, Any]) -> dict[str, str]:
        dialogue = HttpDialogue(config, {}, {})
        context = {"turn": {"text": "hi", "index": 1}, "case": {"session_id": "s"}, **ctx}
        _, sent, _ = drive(
            dialogue.send("hi", None, context),
            lambda _: Incoming(200, [], orjson.dumps({"reply": "ok"}), 1.0),
        )
        return sent[0].out.headers

    plain = HttpAdapter(url="http://agent/chat")
    assert sent_headers(plain, {"traceparent": PARENT})["traceparent"] == PARENT
    assert "traceparent" not in sent_headers(plain, {})  # a run that does not trace
    own = HttpAdapter(url="http://agent/chat", headers={"TraceParent": "00-suite-01"})
    headers = sent_headers(own, {"traceparent": PARENT})
    assert headers["TraceParent"] == "00-suite-01" and "traceparent" not in headers


def test_the_openai_adapter_sends_the_turns_traceparent_with_every_completion() -> None:
    config = OpenAIAdapter(base_url="http://gw/v1", model="m")
    dialogue = OpenAIDialogue(config, {}, {}, "http://gw/v1/chat/completions", "")
    answer = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
    ctx = {"tool_results": {}, "case": {"session_id": "s"}, "traceparent": PARENT}
    reply, sent, _ = drive(
        dialogue.send("hi", None, ctx), lambda _: Incoming(200, [], orjson.dumps(answer), 1.0)
    )
    assert reply.text == "ok" and [s.out.headers["traceparent"] for s in sent] == [PARENT]


def test_a_python_callable_that_takes_traceparent_gets_it(tmp_path: Path) -> None:
    (tmp_path / "traced_fn.py").write_text(
        "def traced(message, session_id, traceparent=None):\n"
        "    return f'{message} {traceparent}'\n"
        "def plain(message, session_id):\n"
        "    return message\n"
    )

    async def reply(name: str) -> str | None:
        agent = PythonAgent(PythonAdapter(callable=f"traced_fn:{name}", path=["."]), tmp_path)
        ctx = {"case": {"session_id": "s"}, "traceparent": PARENT}
        return (await agent.send("hi", ctx)).text

    assert asyncio.run(reply("traced")) == f"hi {PARENT}"
    assert asyncio.run(reply("plain")) == "hi"  # not traced, and not broken


def test_otel_endpoint_is_known_to_the_agents_templates_and_an_error_without_a_receiver(
    tmp_path: Path,
) -> None:
    suite = tmp_path / "traced"
    shutil.copytree(TRACED, suite)
    text = (suite / "suite.yaml").read_text()
    text = text.replace("../../agents/", str(ROOT / "tests/agents/"))
    endpoint = '        OTEL_EXPORTER_OTLP_ENDPOINT: "{{ otel.endpoint }}"\n'
    with_endpoint = text.replace("        PORT:", endpoint + "        PORT:", 1)
    (suite / "suite.yaml").write_text(with_endpoint)
    load_suite(suite)  # validates
    (suite / "suite.yaml").write_text(with_endpoint.replace("otel.endpoint", "otel.port"))
    with pytest.raises(Exception, match="otel has only 'endpoint'"):
        load_suite(suite)
    # in a suite that does not trace, refused when it loads, with the fix
    (suite / "suite.yaml").write_text(with_endpoint)
    scenario = suite / "scenarios" / "traced.yaml"
    scenario.write_text(scenario.read_text().split("      - type: span")[0])
    with pytest.raises(Exception, match="add a span check, or a service with match: traceparent"):
        load_suite(suite)
    with pytest.raises(TemplateError, match="no OTLP receiver runs for this suite"):
        Template("{{ otel.endpoint }}").render({"otel": NoReceiver()})  # at run time, still


def span(trace: str, span_id: str, parent: str | None, end_ns: int = 1) -> Span:
    return Span(trace, span_id, parent, "invoke_agent", end_ns=end_ns)


def watched(trace_id: str | None) -> Watched:
    suite = load_suite(TRACED)
    case = Case(id="hello#1", scenario="hello", index=0, seed=1, vars={})
    return Watched(case, 1, None, trace_id, suite.scenarios[0], {})


def test_the_trace_watcher_stores_the_trace_once_complete_and_counts_strays() -> None:
    async def scenario() -> tuple[Observation, float]:
        store = TraceStore()
        trace = CaseTrace.of("run", "hello#1", 1)
        watcher = TraceWatcher(store, quiet=5.0, timeout=10.0)
        w = watched(trace.trace_id)
        watcher.begin(w)
        obs = Observation(session_id="s", turns=[TurnRecord(index=1, text="a", reply="b")])
        store.add([span("f" * 32, "1" * 16, None)])  # another trace's: a stray
        started = time.monotonic()

        async def late() -> None:
            await asyncio.sleep(0.05)
            store.add([span(trace.trace_id, "2" * 16, "3" * 16)])  # a child: not complete
            await asyncio.sleep(0.05)
            store.add([span(trace.trace_id, "3" * 16, trace.turn_span_id(0))])  # its root

        sender = asyncio.create_task(late())
        await watcher.end(w, obs)
        await sender
        return obs, time.monotonic() - started

    obs, took = asyncio.run(scenario())
    assert [s.span_id for s in obs.spans] == ["2" * 16, "3" * 16]
    assert obs.spans_stray == 1 and obs.spans_dropped == 0
    assert took < 4.0  # complete: it did not wait out the quiet 5 s


def test_the_settle_ends_on_the_exporters_watermark_or_when_nothing_arrives() -> None:
    async def scenario() -> tuple[float, float, list[Span]]:
        store = TraceStore()
        mine = "1" * 32
        store.expect(mine)
        after = time.time_ns()

        async def others() -> None:  # an exporter busy with other traces' spans
            for i in range(1, 4):
                await asyncio.sleep(0.05)
                store.add([span("2" * 32, f"{i:016x}", None, end_ns=after + i)])

        sender = asyncio.create_task(others())
        started = time.monotonic()
        got = await store.settle(mine, quiet=5.0, timeout=10.0, roots={"9" * 16}, after_ns=after)
        watermark = time.monotonic() - started
        await sender
        started = time.monotonic()
        await store.settle("3" * 32, quiet=0.2, timeout=10.0, roots={"9" * 16})
        return watermark, time.monotonic() - started, got

    watermark, quiet, got = asyncio.run(scenario())
    assert got == [] and watermark < 4.0  # a span that ended after the case arrived
    assert quiet < 4.0  # nothing at all arrived for the quiet time


def test_watching_ends_every_watch_of_a_case_once_and_traces_each_variant_apart() -> None:
    ended: list[tuple[int | None, str | None]] = []

    class Recorder:
        def begin(self, w: Watched) -> None:
            pass

        async def end(self, w: Watched, obs: Observation) -> None:
            ended.append((w.variant, w.trace_id))

    watching = Watching("run", [Recorder()], traced=True)
    base = watched(None)
    for variant in (None, 1, 2):
        obs = Observation(session_id="s")
        watching.begin(base.case, 1, variant, base.scenario, {}, obs)
        assert obs.trace_id == CaseTrace.of("run", "hello#1", 1, str(variant or "")).trace_id
    asyncio.run(watching.end_case("hello#1", 1))
    asyncio.run(watching.end_case("hello#1", 1))  # once only
    assert sorted(v or 0 for v, _ in ended) == [0, 1, 2] and len({t for _, t in ended}) == 3
    # a load's conversations prepared and never played end with the run
    for case_id in ("hello#2", "hello#3"):
        case = Case(id=case_id, scenario="hello", index=0, seed=1, vars={})
        watching.begin(case, 1, None, base.scenario, {}, Observation(session_id="s"))
    asyncio.run(watching.end_all())
    asyncio.run(watching.end_all())
    assert len(ended) == 5
    calls: list[int] = []
    free = once(lambda: calls.append(1))
    free()
    free()
    assert calls == [1]


def test_the_settle_times_are_the_suites_own(tmp_path: Path) -> None:
    from harness.otel.receiver import TraceReceiver
    from harness.session.traces import trace_watchers

    suite = tmp_path / "traced"
    shutil.copytree(TRACED, suite)
    text = (suite / "suite.yaml").read_text().replace("../../agents/", str(ROOT / "tests/agents/"))
    waits = "environment:\n  traces: {settle: 250ms, timeout: 2s}\n"
    (suite / "suite.yaml").write_text(text.replace("environment:\n", waits, 1))
    (watcher,) = trace_watchers(load_suite(suite), TraceReceiver())
    assert (watcher.quiet, watcher.timeout) == (0.25, 2.0)
    (default,) = trace_watchers(load_suite(TRACED), TraceReceiver())
    assert (default.quiet, default.timeout) == (0.3, 3.0)
    assert trace_watchers(load_suite(TRACED), None) == []


@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_watched_case_frees_its_place_early_only_in_a_concurrent_run(concurrency: int) -> None:
    """The echo suite's in-process agent, watched by a watcher that records when each watch
    begins and ends: at concurrency 1 a case's watch ends before the next case begins; in a
    concurrent run the next cases talk while one settles."""
    from harness.check.state import Targets
    from harness.core.events import ignore
    from harness.run.engine import Engine
    from harness.run.plan import plan

    suite = load_suite(ROOT / "tests" / "suites" / "echo")
    agent = PythonAgent(suite.manifest.environment.agent.python, suite.root)  # type: ignore[arg-type]
    events: list[tuple[str, str]] = []

    class Slow:
        def begin(self, w: Watched) -> None:
            events.append(("begin", w.case.id))

        async def end(self, w: Watched, obs: Observation) -> None:
            await asyncio.sleep(0.2)  # a settle wait
            events.append(("end", w.case.id))

    engine = Engine(
        suite, agent, Targets(), run_id="r", concurrency=concurrency, case_timeout=10,
        emit=ignore, sink=lambda _: None, watchers=[Slow()],
    )  # fmt: skip
    cases = list(plan(suite, 1))[:4]
    assert asyncio.run(engine.run_trials((c, 1) for c in cases)) == 4
    in_flight = peak = 0
    for what, _ in events:
        in_flight += 1 if what == "begin" else -1
        peak = max(peak, in_flight)
    assert peak == 1 if concurrency == 1 else peak > concurrency


def test_a_case_knows_how_many_spans_of_earlier_cases_came_after_they_were_judged() -> None:
    """The hint for a case without spans: spans arriving late (an exporter's batch delay
    longer than the settle time) is not an exporter left unconfigured."""
    from harness.report.chain import trace_evidence

    async def scenario() -> Observation:
        store = TraceStore()
        first, second = CaseTrace.of("run", "hello#1", 1), CaseTrace.of("run", "hello#2", 1)
        watcher = TraceWatcher(store, quiet=0.01, timeout=0.05)
        one = watched(first.trace_id)
        watcher.begin(one)
        await watcher.end(one, Observation(session_id="s"))
        two = watched(second.trace_id)
        watcher.begin(two)
        taken = store.add([span(first.trace_id, "1" * 16, first.turn_span_id(0))])
        assert (taken.late, taken.unexpected, taken.kept) == (1, 0, 0)
        obs = Observation(session_id="s", turns=[TurnRecord(index=1, text="a", reply="b")])
        await watcher.end(two, obs)
        return obs

    obs = asyncio.run(scenario())
    assert obs.spans == [] and obs.spans_late == 1 and obs.spans_stray == 0
    evidence = trace_evidence({"id": obs.trace_id, "spans": [], "late": obs.spans_late}, 1)
    assert evidence is not None
    assert any("OTEL_BSP_SCHEDULE_DELAY" in note for note in evidence.notes), evidence.notes
