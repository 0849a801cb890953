"""Trace checks (`span`) and call checks (`call`) as pure oracles: observations built by hand
from `Span` and `ServiceRequest` values (data, not mocks), judged through the registry."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import TypeAdapter

from harness.check.registry import Judging, kind_of
from harness.check.state import Targets
from harness.core import Category, CheckResult, Observation, TurnRecord, Verdict
from harness.core.calls import ServiceRequest
from harness.core.spans import Span, SpanEvent, SpanStatus
from harness.otel.context import CaseTrace
from harness.spec import models as m

TRACE = CaseTrace.of("run", "case-1", 1)
CHECK: TypeAdapter[Any] = TypeAdapter(m.Check)
CTX = {"vars": {"amount": 900}, "order": {"id": "ORD-7"}, "params": {"limit": 500}}
MS = 1_000_000


class Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"{self.n:016x}"


def tool(
    name: str,
    at: int,
    turn: int | None = 1,
    status: SpanStatus = SpanStatus.OK,
    *,
    ids: Ids,
    parent: str | None = None,
    **attributes: Any,
) -> Span:
    """A tool execution span of the GenAI conventions, under the turn's parent (1-based)."""
    if parent is None and turn is not None:
        parent = TRACE.turn_span_id(turn - 1)
    return Span(
        trace_id=TRACE.trace_id,
        span_id=ids(),
        parent_id=parent,
        name=f"execute_tool {name}",
        start_ns=at * MS,
        end_ns=(at + 5) * MS,
        status=status,
        status_message="compliance unavailable" if status is SpanStatus.ERROR else "",
        attributes={"gen_ai.tool.name": name, **attributes},
        service="refund-agent",
    )


def request(
    path: str, at: int, *, method: str = "POST", status: int = 200, turn: int | None = 1, **kw: Any
) -> ServiceRequest:
    return ServiceRequest(
        service="compliance",
        method=method,
        path=path,
        status=status,
        at_ns=at * MS,
        turn=turn,
        answered_by="route",
        **kw,
    )


def observe(
    spans: list[Span] = (),  # type: ignore[assignment]
    requests: list[ServiceRequest] = (),  # type: ignore[assignment]
    turns: int = 1,
    traced: bool = True,
    **kw: Any,
) -> Observation:
    obs = Observation(
        session_id="s",
        turns=[TurnRecord(index=i, text=f"t{i}", reply="ok") for i in range(turns)],
        trace_id=TRACE.trace_id if traced else None,
        spans=list(spans),
        requests=list(requests),
    )
    for key, value in kw.items():
        setattr(obs, key, value)
    return obs


def judge(check: dict[str, Any], obs: Observation, ctx: dict[str, Any] = CTX) -> CheckResult:
    parsed = CHECK.validate_python({"requirements": ["RD-002"], **check})
    judging = Judging(
        suite=None,  # type: ignore[arg-type]  (these judges read no suite)
        replies=obs.replies,
        context=ctx,
        targets=Targets(),
        cache={},
        observation=obs,
    )
    return asyncio.run(kind_of(parsed).judge(parsed, f"{check['type']}-1", judging))


def refund_chain(ids: Ids, *, compliance_status: SpanStatus = SpanStatus.OK) -> list[Span]:
    return [
        tool("verify_identity", 10, ids=ids),
        tool(
            "request_compliance_approval",
            20,
            status=compliance_status,
            ids=ids,
            **{"gen_ai.tool.call.arguments": '{"order_id": "ORD-7", "amount": 900}'},
        ),
        tool("issue_refund", 30, ids=ids, **{"refund.amount": 900}),
    ]


def test_the_kinds_are_registered_with_their_categories() -> None:
    assert kind_of("span").category is Category.TRACE
    assert kind_of("call").category is Category.CALL


def test_the_compliance_step_ran_succeeded_and_came_before_the_refund() -> None:
    check = {
        "type": "span",
        "tool": "request_compliance_approval",
        "attributes": {"gen_ai.tool.call.arguments": {"contains": "{{ order.id }}"}},
        "status": "ok",
        "count": 1,
        "before": {"span": {"tool": "issue_refund"}},
    }
    result = judge(check, observe(refund_chain(Ids())))
    assert result.verdict is Verdict.PASS, result.message
    assert result.category == "trace"
    assert result.found["counted"] == 1
    assert result.expected["attributes"] == {"gen_ai.tool.call.arguments": {"contains": "ORD-7"}}


def test_a_skipped_step_fails_and_shows_what_the_agent_did_instead() -> None:
    ids = Ids()
    spans = [tool("verify_identity", 10, ids=ids), tool("issue_refund", 30, ids=ids)]
    result = judge({"type": "span", "tool": "request_compliance_approval"}, observe(spans))
    assert result.verdict is Verdict.FAIL
    assert result.message == "the span (tool request_compliance_approval) never occurred"
    seen = result.found["spans"]
    assert len(seen) == 2
    assert "execute_tool issue_refund" in seen[1] and "turn 1" in seen[1]


def test_a_step_that_failed_is_not_counted_and_the_evidence_says_why() -> None:
    spans = refund_chain(Ids(), compliance_status=SpanStatus.ERROR)
    result = judge(
        {"type": "span", "tool": "request_compliance_approval", "status": "ok"}, observe(spans)
    )
    assert result.verdict is Verdict.FAIL
    assert "never occurred" in result.message
    assert "status error: compliance unavailable" in result.message
    # not_error and any take it
    assert (
        judge(
            {"type": "span", "tool": "request_compliance_approval", "status": "error"},
            observe(spans),
        ).verdict
        is Verdict.PASS
    )
    assert (
        judge({"type": "span", "tool": "request_compliance_approval"}, observe(spans)).verdict
        is Verdict.PASS
    )
    no_error = {"type": "span", "tool": "request_compliance_approval", "status": "not_error"}
    assert judge(no_error, observe(spans)).verdict is Verdict.FAIL


def test_the_wrong_order_fails_naming_both_steps() -> None:
    ids = Ids()
    spans = [tool("issue_refund", 10, ids=ids), tool("request_compliance_approval", 20, ids=ids)]
    check = {
        "type": "span",
        "tool": "request_compliance_approval",
        "before": {"span": {"tool": "issue_refund"}},
    }
    result = judge(check, observe(spans))
    assert result.verdict is Verdict.FAIL
    assert "must start before the first span (tool issue_refund)" in result.message
    # after: the mirror image passes; and after a step that never occurred fails
    after = {**check, "before": None, "after": {"span": {"tool": "issue_refund"}}}
    assert judge(after, observe(spans)).verdict is Verdict.PASS
    never = {**check, "before": None, "after": {"span": {"tool": "escalate"}}}
    result = judge(never, observe(spans))
    assert result.verdict is Verdict.FAIL
    assert "which never occurred" in result.message
    # before is judged only when both occur
    alone = {**check, "before": {"span": {"tool": "escalate"}}}
    assert judge(alone, observe(spans)).verdict is Verdict.PASS


def test_attributes_are_rendered_for_the_case_and_matched() -> None:
    spans = refund_chain(Ids())

    def check(attrs: dict[str, Any]) -> Verdict:
        return judge(
            {"type": "span", "tool": "issue_refund", "attributes": attrs}, observe(spans)
        ).verdict

    assert check({"refund.amount": "{{ vars.amount }}"}) is Verdict.PASS
    assert check({"refund.amount": 900}) is Verdict.PASS
    assert check({"refund.amount": "900.00"}) is Verdict.PASS  # by meaning, as state checks
    assert check({"refund.amount": 901}) is Verdict.FAIL
    assert check({"refund.amount": {"regex": "^9\\d\\d$"}}) is Verdict.PASS
    assert check({"refund.amount": {"exists": True}}) is Verdict.PASS
    assert check({"refund.reason": {"exists": False}}) is Verdict.PASS
    assert check({"refund.reason": {"exists": True}}) is Verdict.FAIL
    assert check({"refund.reason": "goodwill"}) is Verdict.FAIL
    result = judge(
        {"type": "span", "tool": "issue_refund", "attributes": {"refund.amount": 901}},
        observe(spans),
    )
    assert "attribute refund.amount: '900', not '901'" in result.message


def test_selectors_by_name_regex_and_service() -> None:
    spans = refund_chain(Ids())
    assert (
        judge({"type": "span", "name": "execute_tool issue_refund"}, observe(spans)).verdict
        is Verdict.PASS
    )
    assert (
        judge({"type": "span", "name_regex": "^execute_tool ", "count": 3}, observe(spans)).verdict
        is Verdict.PASS
    )
    result = judge(
        {"type": "span", "name_regex": "^execute_tool ", "count": {"max": 2}}, observe(spans)
    )
    assert result.verdict is Verdict.FAIL
    assert (
        result.message == "the span (name /^execute_tool /) occurred 3 time(s), expected at most 2"
    )
    assert (
        judge(
            {"type": "span", "service": "refund-agent", "count": {"min": 3, "max": 3}},
            observe(spans),
        ).verdict
        is Verdict.PASS
    )
    assert judge({"type": "span", "service": "other-agent"}, observe(spans)).verdict is Verdict.FAIL


def test_absent_fails_when_the_forbidden_step_occurred() -> None:
    spans = refund_chain(Ids())
    result = judge({"type": "span", "tool": "issue_refund", "absent": True}, observe(spans))
    assert result.verdict is Verdict.FAIL
    assert result.message == "the span (tool issue_refund) occurred 1 time(s); it must never occur"
    assert (
        judge({"type": "span", "tool": "delete_account", "absent": True}, observe(spans)).verdict
        is Verdict.PASS
    )


def test_turns_come_from_ancestry_and_unattributed_spans_count_for_any_only() -> None:
    ids = Ids()
    root = tool("invoke_agent", 100, turn=2, ids=ids)
    spans = [
        tool("verify_identity", 10, turn=1, ids=ids),
        root,
        tool(
            "issue_refund", 110, turn=None, parent=root.span_id, ids=ids
        ),  # a grandchild of turn 2
        tool("request_compliance_approval", 120, turn=None, ids=ids),  # a root of its own
    ]
    obs = observe(spans, turns=2)
    assert (
        judge({"type": "span", "tool": "issue_refund", "turn": "last"}, obs).verdict is Verdict.PASS
    )
    assert judge({"type": "span", "tool": "issue_refund", "turn": 2}, obs).verdict is Verdict.PASS
    result = judge({"type": "span", "tool": "issue_refund", "turn": 1}, obs)
    assert result.verdict is Verdict.FAIL and result.turn == 1
    compliance = {"type": "span", "tool": "request_compliance_approval"}
    assert judge(compliance, obs).verdict is Verdict.PASS
    assert judge({**compliance, "turn": "last"}, obs).verdict is Verdict.FAIL
    assert any("no turn" in line for line in judge(compliance, obs).found["spans"])
    result = judge({**compliance, "turn": 3}, obs)
    assert result.verdict is Verdict.ERROR and "turn 3 does not exist" in result.message


def test_an_agent_that_sent_no_spans_is_an_error_never_a_pass() -> None:
    absent = {"type": "span", "tool": "issue_refund", "absent": True}
    result = judge(absent, observe([]))
    assert result.verdict is Verdict.ERROR
    assert (
        "OTEL_EXPORTER_OTLP_ENDPOINT" in result.message and "{{ otel.endpoint }}" in result.message
    )
    result = judge(absent, observe([], spans_stray=4))
    assert result.verdict is Verdict.ERROR
    assert "4 span(s) arrived under other traces" in result.message
    assert "traceparent" in result.message
    result = judge(absent, observe(refund_chain(Ids()), traced=False))
    assert result.verdict is Verdict.ERROR and "did not trace" in result.message
    # earlier cases' spans came after they were judged: late, not an unconfigured exporter
    result = judge(absent, observe([], spans_late=3))
    assert result.verdict is Verdict.ERROR
    assert "3 span(s) of earlier cases arrived after" in result.message
    assert "OTEL_BSP_SCHEDULE_DELAY" in result.message
    assert "is its OpenTelemetry exporter configured" not in result.message


def test_a_call_with_its_body_and_answer() -> None:
    approvals = request(
        "/v1/approvals",
        25,
        json={"order_id": "ORD-7", "customer": {"tier": "gold"}},
        body='{"order_id": "ORD-7", "customer": {"tier": "gold"}}',
        headers={"Content-Type": "application/json"},
        query={"dry_run": "0"},
    )
    obs = observe(refund_chain(Ids()), [approvals])
    base = {"type": "call", "service": "compliance", "method": "post", "path": "/v1/approvals"}
    result = judge({**base, "body": {"order_id": "{{ order.id }}", "customer.tier": "gold"}}, obs)
    assert result.verdict is Verdict.PASS, result.message
    assert result.category == "call"
    assert judge({**base, "body": "ORD-7"}, obs).verdict is Verdict.PASS
    assert (
        judge({**base, "headers": {"content-type": {"contains": "json"}}}, obs).verdict
        is Verdict.PASS
    )
    assert judge({**base, "query": {"dry_run": "0"}}, obs).verdict is Verdict.PASS
    assert (
        judge({**base, "answered": 200, "before": {"span": {"tool": "issue_refund"}}}, obs).verdict
        is Verdict.PASS
    )
    result = judge({**base, "body": {"order_id": "ORD-8"}}, obs)
    assert result.verdict is Verdict.FAIL
    assert "body order_id: 'ORD-7', not 'ORD-8'" in result.message
    assert result.found["requests"] == ["turn 1 · compliance POST /v1/approvals -> 200 (route)"]
    result = judge({**base, "answered": 503}, obs)
    assert result.verdict is Verdict.FAIL and "answered 200, not 503" in result.message
    assert judge({**base, "path": "/v1/other"}, obs).verdict is Verdict.FAIL
    assert (
        judge({"type": "call", "service": "compliance", "path_regex": "^/v1/"}, obs).verdict
        is Verdict.PASS
    )


def test_calls_order_against_spans_and_other_calls() -> None:
    ids = Ids()
    spans = [tool("issue_refund", 10, ids=ids)]
    late = request("/v1/approvals", 40)
    screen = request("/v1/screen/1", 5, method="GET")
    obs = observe(spans, [screen, late])
    approvals = {"type": "call", "service": "compliance", "path": "/v1/approvals"}
    result = judge({**approvals, "before": {"span": {"tool": "issue_refund"}}}, obs)
    assert result.verdict is Verdict.FAIL
    assert "must start before the first span (tool issue_refund)" in result.message
    screened = {
        **approvals,
        "after": {"call": {"service": "compliance", "path_regex": "^/v1/screen/"}},
    }
    assert judge(screened, obs).verdict is Verdict.PASS
    # a span check ordered against a call
    refund = {
        "type": "span",
        "tool": "issue_refund",
        "after": {"call": {"service": "compliance", "path": "/v1/approvals"}},
    }
    assert judge(refund, obs).verdict is Verdict.FAIL


def test_a_call_ordered_against_spans_needs_the_trace() -> None:
    obs = observe([], [request("/v1/approvals", 5)])
    approvals = {"type": "call", "service": "compliance", "path": "/v1/approvals"}
    assert judge(approvals, obs).verdict is Verdict.PASS  # no span needed
    result = judge({**approvals, "before": {"span": {"tool": "issue_refund"}}}, obs)
    assert result.verdict is Verdict.ERROR
    assert "the agent sent no spans" in result.message


def test_a_call_never_made_or_made_too_often() -> None:
    obs = observe([], [request("/v1/approvals", 5), request("/v1/approvals", 9, status=503)])
    approvals = {"type": "call", "service": "compliance", "path": "/v1/approvals"}
    assert judge({**approvals, "absent": True}, obs).verdict is Verdict.FAIL
    assert judge({**approvals, "count": 2}, obs).verdict is Verdict.PASS
    assert judge({**approvals, "count": 1, "answered": 503}, obs).verdict is Verdict.PASS
    other = {"type": "call", "service": "fraud", "path": "/v1/approvals"}
    result = judge(other, obs)
    assert result.verdict is Verdict.FAIL
    assert result.message == "the call to fraud (/v1/approvals) never occurred"
    assert judge({**other, "absent": True}, observe()).verdict is Verdict.PASS


def test_evidence_is_capped() -> None:
    ids = Ids()
    spans = [tool(f"t{i}", i, ids=ids) for i in range(100)]
    result = judge({"type": "span", "tool": "missing"}, observe(spans))
    assert len(result.found["spans"]) == 31
    assert result.found["spans"][-1] == "… and 70 more"
    long = tool("x" * 5000, 1, ids=ids)
    label = judge({"type": "span", "tool": "missing"}, observe([long])).found["spans"][0]
    assert len(label) < 1000


def test_exceptions_show_in_a_span_s_line() -> None:
    ids = Ids()
    failed = tool("request_compliance_approval", 1, status=SpanStatus.ERROR, ids=ids)
    failed = Span(
        **{
            **{f: getattr(failed, f) for f in failed.__slots__},
            "events": (SpanEvent("exception", 2 * MS, {"exception.type": "Timeout"}),),
        }  # type: ignore[attr-defined]
    )
    result = judge({"type": "span", "tool": "issue_refund"}, observe([failed]))
    assert "1 exception(s)" in result.found["spans"][0]


def test_a_short_span_keeps_a_decimal() -> None:
    from harness.check.steps import milliseconds

    assert [milliseconds(x) for x in (0.0, 0.4, 9.96, 12.4, 1234.0)] == [
        "0 ms", "0.4 ms", "10.0 ms", "12 ms", "1,234 ms"
    ]  # fmt: skip


def test_requests_of_no_case_make_an_absence_or_a_count_an_error_never_a_pass() -> None:
    """The agent does not propagate traceparent: its requests land as of no case, so a
    call check cannot say it was not made (or made once): an error naming why."""
    stray = {"requests_stray": {"compliance": 2}}
    for check, found in (
        ({"absent": True}, []),
        ({"count": 1}, [request("/v1/approvals", 10)]),
        ({}, []),  # at least once: "never occurred" is not known either
        ({"after": {"call": {"service": "compliance", "path": "/v1/other"}}},
         [request("/v1/approvals", 10)]),
    ):  # fmt: skip
        result = judge({"type": "call", "service": "compliance", "path": "/v1/approvals",
                        **check}, observe(requests=found, **stray))  # fmt: skip
        assert result.verdict is Verdict.ERROR, (check, result.message)
        want = "2 request(s) to compliance while this case ran carried no traceparent"
        assert want in result.message
    # too many of its own is a fail whatever else came; at least once and found: a pass
    twice = [request("/v1/approvals", 10), request("/v1/approvals", 20)]
    too_many = judge({"type": "call", "service": "compliance", "count": 1},
                     observe(requests=twice, **stray))  # fmt: skip
    assert too_many.verdict is Verdict.FAIL
    found = judge({"type": "call", "service": "compliance"}, observe(requests=twice, **stray))
    assert found.verdict is Verdict.PASS
    # strays to another service change nothing
    other = judge({"type": "call", "service": "compliance", "absent": True},
                  observe(requests_stray={"fraud": 3}))  # fmt: skip
    assert other.verdict is Verdict.PASS


def test_spans_over_the_cap_make_an_absence_or_a_count_an_error() -> None:
    ids = Ids()
    obs = observe(refund_chain(ids), spans_dropped=5)
    absent = judge({"type": "span", "tool": "forbidden", "absent": True}, obs)
    assert absent.verdict is Verdict.ERROR and "5 span(s) over the harness's cap" in (
        absent.message
    )
    missing = judge({"type": "span", "tool": "forbidden"}, obs)
    assert missing.verdict is Verdict.ERROR and missing.message.startswith(
        "the span (tool forbidden) never occurred, but this cannot be judged"
    )
    assert judge({"type": "span", "tool": "issue_refund"}, obs).verdict is Verdict.PASS


def test_an_order_names_a_call_by_its_answer_too() -> None:
    """`after: {call: {..., answered: 200}}`: the other step is selected as a call check
    selects it, its answer included (a 503 screen is not the screen the claim must follow)."""
    failed = request("/v1/screen/1", 5, method="GET", status=503)
    filed = request("/v1/approvals", 9)
    cleared = request("/v1/screen/1", 12, method="GET", status=200)
    check = {
        "type": "call",
        "service": "compliance",
        "path": "/v1/approvals",
        "after": {"call": {"service": "compliance", "path_regex": "^/v1/screen/",
                           "answered": 200}},
    }  # fmt: skip
    result = judge(check, observe([], [failed, filed, cleared]))
    assert result.verdict is Verdict.FAIL
    assert "after the first call to compliance (/^/v1/screen//) answered 200" in result.message
    early = request("/v1/screen/1", 7, method="GET", status=200)
    assert judge(check, observe([], [failed, early, filed])).verdict is Verdict.PASS
    never = judge(check, observe([], [failed, filed]))
    assert never.verdict is Verdict.FAIL and never.message.endswith("which never occurred")


def test_span_names_no_span_had_are_named_for_the_scenarios_played_alone() -> None:
    from pathlib import Path

    from harness.check.chain import unseen_span_names
    from harness.spec.suite import load_suite

    suite = load_suite(Path(__file__).resolve().parents[1] / "suites" / "traced")
    assert unseen_span_names(suite, {"invoke_agent"}, set(), {"hello"}) == []
    [note] = unseen_span_names(suite, {"invoke_agnt"}, set(), {"hello"})
    assert note.startswith(
        "scenario hello, check span-2: no span of this run had name 'invoke_agent' (did you "
        "mean 'invoke_agnt'?)"
    ), note
    assert unseen_span_names(suite, {"other"}, set(), set()) == []  # hello not played
