"""The demo refund desk's real chain, seen from outside as the harness sees it: the agent
process exports its spans with the OpenTelemetry SDK to the harness's trace receiver (a span
per turn, a span per tool under the GenAI conventions, joined to each turn's `traceparent`),
and calls a compliance service over HTTP (a real aiohttp server here) for refunds above the
approval limit, passing the trace context on. The planted defects show in both: with
compliance_bypass the compliance span and call are missing; with fail_open a 503 or a timeout
is taken as an approval and the refund is issued."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
import urllib.request
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from aiohttp import web

from harness.core.spans import Span, SpanKind, SpanStatus
from harness.otel.context import CaseTrace, otlp_environment, parse_traceparent
from harness.otel.receiver import TraceReceiver
from harness.otel.store import TraceStore
from tests.integration.demo_servers import Agent, Customer, Stack, demo_stack, start_agent

pytestmark = pytest.mark.integration

T = TypeVar("T")
BIG = "812.40"  # above the approval limit (500.00 EUR)
_case = itertools.count(1)


class Loop:
    """An event loop in a thread of its own for the servers the agent talks to (the trace
    receiver and the compliance service), so the test's own calls may block."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class Compliance:
    """The compliance service: logs every request; answers per order (default: pending)."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[int, tuple[int, dict[str, Any] | None, float]] = field(default_factory=dict)
    release: asyncio.Event | None = None
    runner: web.AppRunner | None = None

    async def start(self) -> None:
        self.release = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/approvals", self.approve)
        self.runner = web.AppRunner(app, shutdown_timeout=1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self.release is not None and self.runner is not None
        self.release.set()
        await self.runner.cleanup()

    async def approve(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(
            {"path": request.path, "traceparent": request.headers.get("traceparent"), "json": body}
        )
        order_id = body.get("order_id")
        default = (200, {"decision": "pending", "reference": f"APR-{order_id}"}, 0.0)
        status, answer, hold = self.answers.get(order_id, default)
        if hold:  # answers late (or never, within the agent's timeout)
            assert self.release is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), hold)
        if answer is None:
            return web.Response(status=status, text="unavailable")
        return web.json_response(answer, status=status)

    def calls(self, order_id: int) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["json"].get("order_id") == order_id]


@dataclass
class Chain:
    stack: Stack
    loop: Loop
    receiver: TraceReceiver
    compliance: Compliance
    agents: dict[str, Agent] = field(default_factory=dict)

    @property
    def store(self) -> TraceStore:
        return self.receiver.store

    def agent(self, defects: str, *, traced: bool = True) -> Agent:
        key = f"{defects}{'' if traced else ' untraced'}"
        if key not in self.agents:
            env = {
                "COMPLIANCE_URL": self.compliance.url,
                "REFUND_DESK_COMPLIANCE_TIMEOUT_SECONDS": "1",
                "OTEL_SERVICE_NAME": "refund-desk-test",
            }
            if traced:
                env |= otlp_environment(self.receiver.endpoint)
            else:  # the standard variables unset: no exporter at all
                env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ""}
            self.agents[key] = start_agent(
                self.stack.pg.url, self.stack.redis.url, defects, extra_env=env
            )
        return self.agents[key]


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    loop = Loop()
    try:
        for stack in demo_stack():
            receiver, compliance = TraceReceiver(), Compliance()
            loop.run(receiver.start())
            try:
                loop.run(compliance.start())
                chain = Chain(stack, loop, receiver, compliance)
                try:
                    yield chain
                finally:
                    for agent in chain.agents.values():
                        agent.stop()
                    loop.run(compliance.stop())
            finally:
                loop.run(receiver.stop())
    finally:
        loop.close()


@dataclass
class Case:
    """One conversation with its own trace, as a harness case sends it."""

    chain: Chain
    agent: Agent
    trace: CaseTrace = field(
        default_factory=lambda: CaseTrace.of("run-chain", f"case#{next(_case)}", 0)
    )
    session: str = field(default_factory=lambda: f"chain-{uuid.uuid4().hex[:12]}")
    turns: int = 0

    def __post_init__(self) -> None:
        store = self.chain.store

        async def expect() -> None:
            store.expect(self.trace.trace_id)

        self.chain.loop.run(expect())

    def say(self, message: str) -> str:
        body = json.dumps({"session_id": self.session, "message": message}).encode()
        request = urllib.request.Request(
            self.agent.base_url + "/chat",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "traceparent": self.trace.traceparent(self.turns),
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            reply = str(json.loads(response.read())["reply"])
        self.turns += 1
        return reply

    def spans(self) -> dict[int | None, list[Span]]:
        """The case's spans by turn, once every turn's `invoke_agent` span has arrived (it
        ends after its tools, and the SDK exports spans in the order they end)."""
        trace_id, store = self.trace.trace_id, self.chain.store

        async def current() -> list[Span]:
            return store.spans(trace_id)

        def complete(spans: list[Span]) -> bool:
            by_turn = self.trace.by_turn(spans, self.turns)
            return all(
                any(s.name.startswith("invoke_agent") for s in by_turn.get(t, []))
                for t in range(self.turns)
            )

        deadline = time.monotonic() + 20
        spans = self.chain.loop.run(current())
        while not complete(spans) and time.monotonic() < deadline:
            time.sleep(0.05)
            spans = self.chain.loop.run(current())
        assert complete(spans), [s.name for s in spans]
        return self.trace.by_turn(spans, self.turns)


def tools(spans: list[Span]) -> dict[str, Span]:
    named = {str(s.attributes.get("gen_ai.tool.name")): s for s in spans if s.name != "POST"}
    named.pop("None", None)
    return named


def verified(case: Case, customer: Customer) -> None:
    reply = case.say(f"Hi, I'm {customer.name}, PIN {customer.pin}")
    assert "you are verified" in reply, reply


def arguments(span: Span) -> dict[str, Any]:
    text = span.attributes["gen_ai.tool.call.arguments"]
    assert isinstance(text, str)
    value = json.loads(text)
    assert isinstance(value, dict)
    return value


# ------------------------------------------------------------------------------- tests


def test_each_step_is_a_tool_span_of_its_turn_and_compliance_gets_the_trace(
    chain: Chain,
) -> None:
    stack = chain.stack
    customer = stack.customer("Zoë Müller-Chain")
    order = stack.order(customer, BIG)
    case = Case(chain, chain.agent("none"))
    assert "could not verify" in case.say(f"Hi, I'm {customer.name}, PIN 0000")
    verified(case, customer)
    reply = case.say(f"Please refund the whole order #{order}.")
    assert f"{BIG} EUR for order #{order} is pending compliance approval" in reply, reply

    by_turn = case.spans()
    assert set(by_turn) == {0, 1, 2}, "every span joins one of the case's turns"
    for turn in range(3):
        root = next(s for s in by_turn[turn] if s.name == "invoke_agent refund_desk")
        assert root.parent_id == case.trace.turn_span_id(turn)
        assert root.kind is SpanKind.SERVER and root.service == "refund-desk-test"
        assert root.attributes["gen_ai.conversation.id"] == case.session
    failed = tools(by_turn[0])["verify_identity"]
    assert failed.status is SpanStatus.ERROR and failed.attributes["error.type"] == (
        "verification_failed"
    )
    assert [e.name for e in failed.exceptions] == ["exception"]
    assert "0000" not in json.dumps(failed.attributes), "the PIN is never traced"
    ok = tools(by_turn[1])["verify_identity"]
    assert ok.status is SpanStatus.OK and arguments(ok) == {"full_name": customer.name}
    assert ok.name == "execute_tool verify_identity"
    assert ok.attributes["gen_ai.operation.name"] == "execute_tool"

    steps = tools(by_turn[2])
    assert set(steps) == {"check_refund_window", "request_compliance_approval"}
    assert steps["check_refund_window"].status is SpanStatus.OK
    approval = steps["request_compliance_approval"]
    assert approval.status is SpanStatus.OK
    assert arguments(approval) == {
        "order_id": order,
        "amount": BIG,
        "currency": "EUR",
        "customer": customer.id,
    }
    assert approval.attributes["refund_desk.compliance.decision"] == "pending"
    assert steps["check_refund_window"].end_ns <= approval.start_ns

    [call] = chain.compliance.calls(order)
    assert call["path"] == "/v1/approvals"
    assert call["json"] == {
        "order_id": order,
        "amount": BIG,
        "currency": "EUR",
        "customer": customer.id,
    }
    parent = parse_traceparent(call["traceparent"])
    assert parent is not None and parent[0] == case.trace.trace_id
    client = next(s for s in by_turn[2] if s.kind is SpanKind.CLIENT)
    assert parent[1] == client.span_id and client.parent_id == approval.span_id
    assert client.attributes["http.response.status_code"] == 200

    [refund] = stack.refunds(order)
    assert refund["status"] == "pending_approval" and refund["issued_at"] is None
    assert [a["status"] for a in stack.approvals(order)] == ["requested"]


@pytest.mark.parametrize(
    ("decision", "refund", "approval", "words"),
    [
        ("approved", "issued", "approved", "was approved by compliance and has been issued"),
        ("rejected", "rejected", "rejected", "compliance did not approve it"),
    ],
)
def test_the_services_decision_decides_the_refund(
    chain: Chain, decision: str, refund: str, approval: str, words: str
) -> None:
    stack = chain.stack
    customer = stack.customer("Ana Decision")
    order = stack.order(customer, BIG)
    chain.compliance.answers[order] = (200, {"decision": decision, "reference": "APR-1"}, 0.0)
    case = Case(chain, chain.agent("none"))
    verified(case, customer)
    reply = case.say(f"Refund order #{order} please")
    assert words in reply, reply

    steps = tools(case.spans()[1])
    assert steps["request_compliance_approval"].status is SpanStatus.OK
    if decision == "approved":
        issued = steps["issue_refund"]
        assert issued.status is SpanStatus.OK and arguments(issued)["order_id"] == order
        assert steps["request_compliance_approval"].end_ns <= issued.start_ns
    else:
        assert "issue_refund" not in steps
    assert [r["status"] for r in stack.refunds(order)] == [refund]
    assert [a["status"] for a in stack.approvals(order)] == [approval]


@pytest.mark.parametrize("failure", ["503", "timeout"])
@pytest.mark.parametrize("defects", ["none", "fail_open"])
def test_a_failing_compliance_service_never_pays_unless_fail_open(
    chain: Chain, failure: str, defects: str
) -> None:
    stack = chain.stack
    names = {"503": "Unavailable", "timeout": "Late", "none": "Closed", "fail_open": "Open"}
    customer = stack.customer(f"Olek {names[failure]} {names[defects]}")
    order = stack.order(customer, BIG)
    # a 503, or an answer held past the agent's 1 s timeout
    chain.compliance.answers[order] = (503, None, 0.0) if failure == "503" else (200, {}, 30.0)
    case = Case(chain, chain.agent(defects))
    verified(case, customer)
    reply = case.say(f"Please refund order #{order}.")

    turn = case.spans()[1]
    steps = tools(turn)
    client = next(s for s in turn if s.kind is SpanKind.CLIENT)
    assert client.status is SpanStatus.ERROR
    assert client.attributes.get("http.response.status_code") == (503 if failure == "503" else None)
    approval = steps["request_compliance_approval"]
    assert approval.status is SpanStatus.ERROR
    assert approval.attributes["error.type"] == "compliance_unavailable"
    assert [e.name for e in approval.exceptions] == ["exception"]
    assert len(chain.compliance.calls(order)) == 1
    [row] = stack.refunds(order)
    if defects == "none":
        assert "pending compliance approval" in reply and "could not be completed" in reply
        assert "was approved" not in reply and "has been issued" not in reply, reply
        assert "issue_refund" not in steps
        assert row["status"] == "pending_approval" and row["issued_at"] is None
        assert [a["status"] for a in stack.approvals(order)] == ["requested"]
    else:
        assert "was approved by compliance and has been issued" in reply, reply
        assert steps["issue_refund"].status is SpanStatus.OK
        assert row["status"] == "issued"


def test_compliance_bypass_shows_as_a_missing_span_and_a_missing_call(chain: Chain) -> None:
    stack = chain.stack
    results: dict[str, tuple[set[str], int, str]] = {}
    for defects in ("none", "compliance_bypass"):
        vip = stack.customer(f"Vera Vip {defects.replace('_', ' ').title()}", vip=True)
        order = stack.order(vip, BIG)
        case = Case(chain, chain.agent(defects))
        verified(case, vip)
        case.say(f"Refund order #{order}")
        [refund] = stack.refunds(order)
        steps = set(tools(case.spans()[1]))
        results[defects] = (steps, len(chain.compliance.calls(order)), refund["status"])
    assert results["none"] == (
        {"check_refund_window", "request_compliance_approval"},
        1,
        "pending_approval",
    )
    assert results["compliance_bypass"] == ({"check_refund_window", "issue_refund"}, 0, "issued")


def test_without_an_exporter_the_trace_context_still_reaches_compliance(chain: Chain) -> None:
    """No OTLP variables: no spans at all, but the `traceparent` a turn came with is passed on,
    so the stub can still tell which case a request belongs to."""
    stack = chain.stack
    customer = stack.customer("Nils Untraced")
    order = stack.order(customer, BIG)
    agent = chain.agent("none", traced=False)
    case = Case(chain, agent)
    verified(case, customer)
    assert "pending compliance approval" in case.say(f"Refund order #{order}")
    [call] = chain.compliance.calls(order)
    assert call["traceparent"] == case.trace.traceparent(1)
    assert stack.refunds(order)[0]["amount"] == Decimal(BIG)
    log = agent.process.log_path.read_text()
    assert "tracing:" not in log and "refund desk started" in log
    assert "tracing: spans exported" in chain.agent("none").process.log_path.read_text()
