"""Stubbed third-party services over real sockets: routes, sequences counted per case,
latency, templates, the default, a scenario's routes for its own case only, attribution (by
traceparent, by each kind of match rule, and the only case of a run of concurrency 1), and
what a hostile request leaves in the log (capped, masked)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from harness.core.types import Case, DependencyInfo, Observation, TurnRecord
from harness.core.watch import Watched
from harness.deps.stubbed import StubDependency
from harness.otel.context import CaseTrace
from harness.redact import redact
from harness.spec import models as m
from harness.stubs.service import StubService
from harness.stubs.watcher import StubWatcher

CHECKS = [{"type": "contains", "requirements": ["T-001"], "value": "x"}]


def dependency(**fields: Any) -> m.HttpServiceDependency:
    return m.HttpServiceDependency.model_validate({"kind": "http_service", **fields})


def scenario(services: dict[str, Any] | None = None, sid: str = "s") -> m.Scenario:
    return m.Scenario.model_validate(
        {"id": sid, "title": "t", "turns": ["hi"], "checks": CHECKS, "services": services or {}}
    )


def watched(
    case_id: str,
    *,
    sc: m.Scenario | None = None,
    trace: bool = False,
    vars: dict[str, Any] | None = None,
) -> Watched:
    case = Case(id=case_id, scenario="s", index=0, seed=1, vars=vars or {})
    trace_id = CaseTrace.of("run-1", case_id, 1).trace_id if trace else None
    ctx = {"vars": case.vars, "case": {"id": case_id}, "params": {}}
    return Watched(case, 1, None, trace_id, sc or scenario(), ctx)


@pytest.fixture
def stub() -> Iterator[Any]:
    made: list[StubService] = []

    def make(concurrency: int = 2, params: dict[str, Any] | None = None, **fields: Any) -> Any:
        service = StubService("compliance", dependency(**fields), params or {})
        service.start()
        made.append(service)
        return service, StubWatcher([service], concurrency=concurrency)

    yield make
    for service in made:
        service.stop()


async def ended(watcher: StubWatcher, w: Watched, turns: list[TurnRecord] | None = None) -> Any:
    obs = Observation(session_id="x", turns=turns or [])
    await watcher.end(w, obs)
    return obs.requests


def end(watcher: StubWatcher, w: Watched, turns: list[TurnRecord] | None = None) -> Any:
    return asyncio.run(ended(watcher, w, turns))


APPROVALS = {
    "method": "POST",
    "path": "/v1/approvals",
    "respond": {
        "status": 200,
        "json": {
            "decision": "approved",
            "reference": "APR-{{ request.json.order_id }}",
            "limit": "{{ params.limit }}",
        },
        "headers": {"X-Ref": "{{ request.headers.x_request_id }}"},
    },
}
SCREEN = {
    "method": "GET",
    "path_regex": "^/v1/screen/",
    "sequence": [{"status": 503, "times": 2}, {"status": 200, "json": {"result": "clear"}}],
}
BY_ORDER = {"json": "order_id", "value": "{{ vars.order_id }}"}


def test_routes_templates_and_the_default(stub: Any) -> None:
    service, _ = stub(routes=[APPROVALS], params={"limit": 500})
    with httpx.Client(base_url=service.url, headers={"X-Request-Id": "r7"}) as http:
        ok = http.post("/v1/approvals", json={"order_id": "A-1"})
        assert ok.status_code == 200
        assert ok.json() == {"decision": "approved", "reference": "APR-A-1", "limit": 500}
        assert ok.headers["x-ref"] == "r7"
        wrong_method = http.get("/v1/approvals")
        assert (wrong_method.status_code, wrong_method.json()) == (404, {"error": "no route"})
        # a template the request cannot fill is a 500 that says why, never a dead server
        broken = http.post("/v1/approvals", content=b"not json")
        assert broken.status_code == 500 and "request.json" in broken.json()["error"]
        assert http.post("/v1/approvals", json={"order_id": "A-2"}).status_code == 200
    log = list(service.registry.unattributed)
    assert [(r.status, r.answered_by) for r in log] == [
        (200, "route"), (404, "default"), (500, "route"), (200, "route")
    ]  # fmt: skip
    assert service.registry.unattributed_total == 4 and service.template_errors == 1
    assert log[0].json == {"order_id": "A-1"} and log[0].method == "POST"
    assert log[0].at_ns <= log[1].at_ns <= log[3].at_ns


def test_a_sequence_is_counted_per_case(stub: Any) -> None:
    service, watcher = stub(routes=[SCREEN], match={"path_regex": "^/v1/screen/([^/]+)",
                                                     "value": "{{ vars.order_id }}"})  # fmt: skip
    a = watched("a", vars={"order_id": "A"})
    b = watched("b", vars={"order_id": "B"})
    watcher.begin(a)
    watcher.begin(b)
    with httpx.Client(base_url=service.url) as http:
        statuses = [http.get(f"/v1/screen/{who}").status_code for who in "AABBAB"]
    # each case sees 503 twice, then 200 (and 200 repeats), whatever the other does
    assert statuses == [503, 503, 503, 503, 200, 200]
    got_a, got_b = end(watcher, a), end(watcher, b)
    assert [r.status for r in got_a] == [503, 503, 200]
    assert [r.status for r in got_b] == [503, 503, 200]
    assert {r.attributed for r in got_a + got_b} == {"match"}
    # a new conversation of the same case starts its counters afresh
    watcher.begin(a)
    with httpx.Client(base_url=service.url) as http:
        assert http.get("/v1/screen/A").status_code == 503
    end(watcher, a)


def test_latency_delays_only_its_route(stub: Any) -> None:
    slow = {"path": "/slow", "respond": {"status": 200, "latency": "300ms"}}
    service, _ = stub(routes=[slow, {"path": "/fast", "respond": {"status": 204}}])
    finished: list[str] = []

    def get(path: str) -> None:
        with httpx.Client(base_url=service.url, timeout=10) as http:
            http.get(path)
        finished.append(path)

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(get, "/slow")
        arrived(service)  # the slow one is in its wait: the fast one goes after it
        pool.submit(get, "/fast").result()
        first.result()
    assert finished == ["/fast", "/slow"]
    by_path = {r.path: r for r in service.registry.unattributed}
    assert by_path["/slow"].duration_ms >= 300
    assert by_path["/fast"].duration_ms < by_path["/slow"].duration_ms
    assert by_path["/slow"].at_ns < by_path["/fast"].at_ns


def arrived(service: StubService, timeout: float = 10) -> None:
    """Until a request is being answered (polled: no timing is asserted)."""
    deadline = time.monotonic() + timeout
    while service.in_flight == 0:
        assert time.monotonic() < deadline, "the request never reached the stub"
        time.sleep(0.002)


def test_scenario_routes_answer_their_case_only(stub: Any) -> None:
    service, watcher = stub(routes=[APPROVALS], match=BY_ORDER, params={"limit": 1})
    refused = scenario({"compliance": [{"method": "POST", "path": "/v1/approvals",
                                        "respond": {"status": 503}}]})  # fmt: skip
    a = watched("a", sc=refused, vars={"order_id": "A"})
    b = watched("b", vars={"order_id": "B"})
    watcher.begin(a)
    watcher.begin(b)
    with httpx.Client(base_url=service.url, headers={"X-Request-Id": "r"}) as http:
        assert http.post("/v1/approvals", json={"order_id": "A"}).status_code == 503
        assert http.post("/v1/approvals", json={"order_id": "B"}).status_code == 200
        # a request of no case in flight gets the suite's answer too
        assert http.post("/v1/approvals", json={"order_id": "Z"}).status_code == 200
    [got_a], [got_b] = end(watcher, a), end(watcher, b)
    assert (got_a.status, got_a.answered_by) == (503, "scenario")
    assert (got_b.status, got_b.answered_by) == (200, "route")
    assert [r.json for r in service.registry.unattributed] == [{"order_id": "Z"}]


def test_attribution_by_traceparent_and_turns(stub: Any) -> None:
    service, watcher = stub(routes=[SCREEN], match="traceparent")
    a, b = watched("a", trace=True), watched("b", trace=True)
    watcher.begin(a)
    watcher.begin(b)
    trace_a = CaseTrace.of("run-1", "a", 1)
    before = time.time_ns()
    turns = [TurnRecord(index=1, text="x", sent_ns=before), TurnRecord(index=2, text="y")]
    with httpx.Client(base_url=service.url) as http:

        def send(order: int, trace: CaseTrace | None = None, turn: int = 1) -> None:
            headers = {"traceparent": trace.traceparent(turn)} if trace else {}
            http.post("/v1/screen/", json={"order_id": order}, headers=headers)

        send(1, trace_a, 1)
        turns[1].sent_ns = time.time_ns()
        send(2, trace_a, 2)
        send(3, CaseTrace.of("run-1", "b", 1))  # another case's trace
        send(4, CaseTrace.of("other", "a", 1))  # a trace of no case
        send(5)  # none at all
    got_a = end(watcher, a, turns)
    assert [(r.json, r.turn, r.attributed) for r in got_a] == [
        ({"order_id": 1}, 1, "traceparent"), ({"order_id": 2}, 2, "traceparent")
    ]  # fmt: skip
    assert got_a[0].trace_id == trace_a.trace_id
    assert got_a[1].parent_id == trace_a.turn_span_id(2)
    assert [r.json for r in end(watcher, b)] == [{"order_id": 3}]
    assert service.registry.unattributed_total == 2


@pytest.mark.parametrize(
    ("rule", "send"),
    [
        ({"json": "order.id", "value": "{{ vars.order_id }}"},
         lambda http, v: http.post("/v1/x", json={"order": {"id": v}})),
        ({"query": "ref", "value": "{{ vars.order_id }}"},
         lambda http, v: http.get("/v1/x", params={"ref": v})),
        ({"header": "X-Order", "value": "{{ vars.order_id }}"},
         lambda http, v: http.get("/v1/x", headers={"x-order": v})),
        ({"path_regex": "/orders/([^/]+)/", "value": "{{ vars.order_id }}"},
         lambda http, v: http.get(f"/v1/orders/{v}/screen")),
    ],
    ids=["json", "query", "header", "path_regex"],
)  # fmt: skip
def test_attribution_by_each_match_rule(stub: Any, rule: dict[str, str], send: Any) -> None:
    service, watcher = stub(match=rule)
    a = watched("a", vars={"order_id": "R-1"})
    b = watched("b", vars={"order_id": "R-2"})
    watcher.begin(a)
    watcher.begin(b)
    with httpx.Client(base_url=service.url) as http:
        send(http, "R-2")
        send(http, "R-1")
        send(http, "R-3")  # nobody's
    [got_a], [got_b] = end(watcher, a), end(watcher, b)
    assert got_a.attributed == got_b.attributed == "match"
    assert got_a.at_ns > got_b.at_ns
    assert service.registry.unattributed_total == 1


def test_only_the_case_in_flight_at_concurrency_one(stub: Any) -> None:
    service, watcher = stub(concurrency=1, routes=[SCREEN])
    a = watched("a")
    watcher.begin(a)
    with httpx.Client(base_url=service.url) as http:
        assert http.get("/v1/screen/x").status_code == 503
    [got] = end(watcher, a)
    assert got.attributed == "only"
    # between cases nothing is in flight: nobody's
    with httpx.Client(base_url=service.url) as http:
        http.get("/v1/screen/x")
    assert service.registry.unattributed_total == 1

    other, concurrent = stub(concurrency=2, routes=[SCREEN])
    b = watched("b")
    concurrent.begin(b)
    with httpx.Client(base_url=other.url) as http:
        http.get("/v1/screen/x")
    assert end(concurrent, b) == [] and other.registry.unattributed_total == 1


def test_a_hostile_request_is_capped_and_masked(stub: Any) -> None:
    service, _ = stub(routes=[{"path": "/echo", "respond": {"status": 200}}])
    redact.add("hunter2-the-password")
    big = b'{"pad": "' + b"x" * 200_000 + b'"}'
    with httpx.Client(base_url=service.url, timeout=30) as http:
        secret = http.post(
            "/echo?api_key=sk-abcdefghijklmnopqrstuvwx&q=ok",
            content=b'{"note": "hunter2-the-password"}',
            headers={"Authorization": "Bearer abcdefghijklmnop", "X-Note": "y" * 5000},
        )
        large = http.post("/echo", content=big)
        huge = http.post("/echo", content=b"z" * (3 * 1024 * 1024))
        deep = http.post("/echo", content=b"[" * 5000 + b"]" * 5000)
    assert (secret.status_code, large.status_code, huge.status_code) == (200, 200, 413)
    assert deep.status_code == 200 and service.faults == 0
    first, second, third, fourth = service.registry.unattributed
    assert fourth.json is None and fourth.body.startswith("[[[")  # too deep to keep as JSON
    assert first.headers["Authorization"] == "***"
    assert first.query == {"api_key": "***", "q": "ok"}
    assert len(first.headers["X-Note"]) < 1100
    assert "hunter2" not in first.body and first.json == {"note": "***"}
    assert len(second.body) < 64 * 1024 + 100 and second.json is None
    assert (third.status, third.answered_by) == (413, "limit")
    assert len(third.body) < 1024 * 1024 + 100
    # the server answers on after all of it
    with httpx.Client(base_url=service.url) as http:
        assert http.get("/echo").status_code == 200


def test_stop_closes_the_port_at_once_even_mid_latency(stub: Any) -> None:
    service, _ = stub(routes=[{"path": "/slow", "respond": {"status": 200, "latency": 600}}])
    port = service.port
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(httpx.get, f"{service.url}/slow", timeout=30)
        arrived(service)
        began = time.perf_counter()
        service.stop()
        stopped = time.perf_counter() - began
        pending.result()  # answered once the wait is cut short
    assert stopped < 5
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass


def test_a_number_matches_by_its_value_and_a_shared_value_matches_nobody(stub: Any) -> None:
    service, watcher = stub(match={"json": "amount", "value": "{{ vars.amount }}"})
    a = watched("a", vars={"amount": "1500.00"})
    b = watched("b", vars={"amount": "20"})
    c = watched("c", vars={"amount": "20.0"})  # the same amount as b: neither gets it
    for w in (a, b, c):
        watcher.begin(w)
    with httpx.Client(base_url=service.url) as http:
        http.post("/x", json={"amount": 1500})
        http.post("/x", json={"amount": 20})
        http.post("/x", json={"amount": "1e999999999"})  # text, never expanded
    assert [r.json for r in end(watcher, a)] == [{"amount": 1500}]
    assert end(watcher, b) == [] and end(watcher, c) == []
    assert service.registry.unattributed_total == 2


def test_a_fault_in_an_answer_is_a_500_and_the_stub_answers_on(stub: Any) -> None:
    # a header value rendered from the request with a line break cannot be sent: 500
    route = {"path": "/h", "respond": {"status": 200, "headers": {"X-Echo": "{{ request.body }}"}}}
    service, _ = stub(routes=[route])
    with httpx.Client(base_url=service.url) as http:
        assert http.post("/h", content=b"a\r\nSet-Cookie: x=1").status_code == 500
        assert http.post("/h", content=b"plain").headers["x-echo"] == "plain"
    assert service.faults == 1


def test_many_cases_at_once_each_get_exactly_their_own(stub: Any) -> None:
    """Cases in flight together, their requests interleaved from many threads: each case
    gets exactly its own, by traceparent and by its match value alike."""
    service, watcher = stub(match={"query": "case", "value": "{{ case.id }}"}, routes=[SCREEN])
    cases = [watched(f"c{i}", trace=i % 2 == 0) for i in range(24)]
    for w in cases:
        watcher.begin(w)

    def calls(w: Watched) -> None:
        trace = CaseTrace.of("run-1", w.case.id, 1)
        with httpx.Client(base_url=service.url, timeout=30) as http:
            for turn in range(1, 5):
                if w.trace_id:  # this one's agent propagates the trace; the others carry the id
                    http.get("/v1/screen/x", headers={"traceparent": trace.traceparent(turn)})
                else:
                    http.get("/v1/screen/x", params={"case": w.case.id})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(calls, cases))
    for w in cases:
        got = end(watcher, w)
        assert [r.status for r in got] == [503, 503, 200, 200], w.case.id
        how = "traceparent" if w.trace_id else "match"
        assert {r.attributed for r in got} == {how}
        if w.trace_id:
            assert {r.trace_id for r in got} == {w.trace_id}
        else:
            assert {r.query["case"] for r in got} == {w.case.id}
    assert service.registry.unattributed_total == 0


def test_a_request_slower_than_its_case_stays_the_cases(stub: Any) -> None:
    """A request is the case's from the moment it arrives: a case that ends while its
    request is still being answered (a route slower than the agent's own timeout) gets it,
    marked so, with the answer under way; never a request "of no case"."""
    slow = {"method": "POST", "path": "/v1/approvals", "respond": {"status": 200,
                                                                   "latency": "30s"}}  # fmt: skip
    late = scenario({"compliance": [slow]})
    service, watcher = stub(match="traceparent", routes=[APPROVALS])
    a = watched("a", sc=late, trace=True)
    watcher.begin(a)
    trace = CaseTrace.of("run-1", "a", 1)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            httpx.post, f"{service.url}/v1/approvals", json={"order_id": "A"},
            headers={"traceparent": trace.traceparent(1)}, timeout=60,
        )  # fmt: skip
        arrived(service)
        turns = [TurnRecord(index=1, text="x", sent_ns=1)]
        [got] = end(watcher, a, turns)  # the case ends while its answer waits out its latency
        service.stop()  # the wait cut short
        pending.result()
    assert (got.pending, got.status, got.answered_by) == (True, 0, "scenario")
    assert (got.attributed, got.turn, got.json) == ("traceparent", 1, {"order_id": "A"})
    assert got.duration_ms >= 0
    assert service.registry.unattributed_total == 0 and service.registry.unattributed == []


def test_requests_of_no_case_are_counted_for_the_cases_in_flight(stub: Any) -> None:
    ok = {"method": "POST", "path": "/v1/approvals", "respond": {"status": 200}}
    service, watcher = stub(match="traceparent", routes=[ok])
    with httpx.Client(base_url=service.url) as http:
        http.post("/v1/approvals", json={"order_id": "before"})  # no case in flight yet
        a, b = watched("a", trace=True), watched("b", trace=True)
        watcher.begin(a)
        http.post("/v1/approvals", json={"order_id": "A"})  # no traceparent: nobody's
        watcher.begin(b)
        http.post(
            "/v1/approvals",
            json={"order_id": "B"},
            headers={"traceparent": CaseTrace.of("run-1", "b", 1).traceparent(1)},
        )
        http.post("/v1/approvals", json={"order_id": "?"})
    obs_a = Observation(session_id="x")
    asyncio.run(watcher.end(a, obs_a))
    obs_b = Observation(session_id="x")
    asyncio.run(watcher.end(b, obs_b))
    assert (obs_a.requests, obs_a.requests_stray) == ([], {"compliance": 2})
    assert ([r.json for r in obs_b.requests], obs_b.requests_stray) == (
        [{"order_id": "B"}], {"compliance": 1}
    )  # fmt: skip
    assert [r.status for r in service.registry.unattributed] == [200, 200, 200]


def test_a_duplicate_pair_sharing_a_match_value_gets_a_real_answer(stub: Any) -> None:
    """Twins of a load run hold the same values: a request carrying their value belongs to
    neither, but is answered with their values (never a 500 over `vars.*`)."""
    route = {"method": "POST", "path": "/api/claims",
             "respond": {"status": 201, "json": {"claim": "{{ vars.claim_ref }}"}}}  # fmt: skip
    rule = {"header": "X-Claim-Ref", "value": "{{ vars.claim_ref }}"}
    service, watcher = stub(match=rule, routes=[route])
    first = watched("a", vars={"claim_ref": "CLM-1"})
    twin = watched("a+dup", vars={"claim_ref": "CLM-1"})
    other = watched("b", vars={"claim_ref": "CLM-2"})
    for w in (first, twin, other):
        watcher.begin(w)
    with httpx.Client(base_url=service.url, headers={"X-Claim-Ref": "CLM-1"}) as http:
        answers = [http.post("/api/claims", json={}) for _ in range(2)]
    assert [(a.status_code, a.json()) for a in answers] == [(201, {"claim": "CLM-1"})] * 2
    # neither twin's, and no other case's: only the pair cannot judge a call check by them
    for w, stray in ((first, {"compliance": 2}), (twin, {"compliance": 2}), (other, {})):
        obs = Observation(session_id="x")
        asyncio.run(watcher.end(w, obs))
        assert (obs.requests, obs.requests_stray) == ([], stray), w.case.id
    assert service.template_errors == 0
    assert service.registry.unattributed_total == service.registry.shared_total == 2
    assert [r.attributed for r in service.registry.unattributed] == ["", ""]
    info = DependencyInfo(name="compliance", kind="http_service", provider="embedded")
    note = StubDependency("compliance", service, info).note()
    assert note is not None and "belonged to no case" not in note.text
    assert "2 request(s) carried a `match:` value two cases in flight shared" in note.text
