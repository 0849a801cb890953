"""What the reports show of what the agent did on the way: a failing trial's spans as a tree
per turn (name, tool, status, duration, key attributes, events and exceptions) and the
requests stubbed services received; escaped, masked and capped like all agent data, written
and read back through the run log like every report."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.core import Case, CaseResult, CheckResult, Observation, TurnRecord, Verdict
from harness.core.calls import ServiceRequest
from harness.core.spans import Span, SpanEvent, SpanKind, SpanStatus
from harness.core.types import as_data
from harness.otel.context import CaseTrace
from harness.redact import redact
from harness.report.build import build_reports
from harness.report.chain import MAX_REQUESTS, MAX_SPANS, request_lines, trace_evidence
from harness.runlog.frame import read_parquet
from harness.runlog.models import RequirementInfo, RunManifest
from harness.runlog.store import RunLog

TRACE = CaseTrace.of("run", "s#1", 1)
HOSTILE = "<script>alert(1)</script>"
SECRET = "sk-chain-8f2e61c0aa"
MS = 1_000_000


def span(sid: str, parent: str | None, name: str, at: int, **kw: object) -> Span:
    return Span(trace_id=TRACE.trace_id, span_id=sid * 16, parent_id=parent, name=name,
                start_ns=at * MS, end_ns=(at + 12) * MS, service="refund-agent",
                **kw)  # type: ignore[arg-type]  # fmt: skip


def spans() -> list[Span]:
    turn1, turn2 = TRACE.turn_span_id(0), TRACE.turn_span_id(1)
    return [
        span("a", turn1, "invoke_agent", 0, kind=SpanKind.SERVER),
        span("b", "a" * 16, "execute_tool verify_identity", 2,
             attributes={"gen_ai.tool.name": "verify_identity", "api_key": SECRET}),
        span("c", turn2, "invoke_agent", 100, kind=SpanKind.SERVER),
        span("d", "c" * 16, "execute_tool request_compliance_approval", 102,
             status=SpanStatus.ERROR, status_message="503 from compliance",
             attributes={"gen_ai.tool.name": "request_compliance_approval",
                         "gen_ai.tool.call.arguments": '{"order_id": "ORD-7"}'},
             events=(SpanEvent("exception", 110 * MS, {"exception.type": "HTTPError",
                                                       "exception.message": HOSTILE}),)),
        span("e", "c" * 16, HOSTILE, 120, attributes={"gen_ai.tool.name": "issue_refund"}),
        span("f", None, "background_job", 500),  # under no turn
    ]  # fmt: skip


def result() -> CaseResult:
    redact.add(SECRET)
    obs = Observation(session_id="h-1", started_at="2026-01-01T00:00:00+00:00")
    obs.turns = [TurnRecord(index=i, text=f"turn {i}", reply="ok") for i in (1, 2)]
    obs.trace_id, obs.spans, obs.spans_dropped = TRACE.trace_id, spans(), 3
    obs.requests = [
        ServiceRequest(service="compliance", method="POST", path="/v1/approvals",
                       query={"dry": HOSTILE}, status=503, answered_by="scenario",
                       at_ns=105 * MS, duration_ms=50.0, turn=2, body=SECRET),
    ]  # fmt: skip
    checks = [
        CheckResult(check_id="compliance-ok", check_type="span", category="trace",
                    requirements=("R-1",), verdict=Verdict.FAIL, message="never occurred"),
        CheckResult(check_id="polite", check_type="contains", category="output",
                    requirements=("R-1",), verdict=Verdict.PASS),
    ]  # fmt: skip
    return CaseResult(case=Case(id="s#1", scenario="s", index=0, seed=1), trial=1,
                      observation=obs, checks=checks)  # fmt: skip


def written(tmp_path: Path, *results: CaseResult) -> Path:
    manifest = RunManifest(suite="s", seed=3, requirements=[RequirementInfo(id="R-1")])
    log = RunLog.create(tmp_path, manifest)
    for r in results:
        log.append(r)
    log.close()
    return log.dir


def test_a_failing_trial_shows_its_spans_per_turn_and_the_stubs_requests(tmp_path: Path) -> None:
    run = written(tmp_path, result())
    reports = build_reports(run)
    (group,) = reports.view.divergences
    ex = group.examples[0]
    assert ex.trace is not None
    assert [t.turn for t in ex.trace.turns] == ["turn 1", "turn 2", "no turn"]
    one, two, none = ex.trace.turns
    assert one.lines[0].startswith("invoke_agent · unset · 12 ms")
    assert one.lines[1].startswith("  execute_tool verify_identity · unset")  # a child, indented
    compliance = two.lines[1]
    assert compliance.startswith("  execute_tool request_compliance_approval · error (503 from")
    assert 'gen_ai.tool.call.arguments={"order_id": "ORD-7"}' in compliance
    assert two.lines[2].startswith("    ! exception HTTPError: <script>")  # under its span
    assert "tool issue_refund" in two.lines[3]
    assert none.lines == ["background_job · unset · 12 ms"]
    assert ex.trace.notes == ["3 span(s) over the harness's cap were not kept."]
    assert ex.requests == [
        f"turn 2 · compliance POST /v1/approvals?dry={HOSTILE} -> 503 (scenario) in 50 ms"
    ]

    md = reports.markdown.read_text()
    assert "**Spans the agent sent, per turn:**\n\n```text\nturn 1:\n  invoke_agent" in md
    assert "**Requests stubbed services received:**" in md
    assert HOSTILE not in re.sub(r"```text\n.*?\n```", "", md, flags=re.S)  # fenced only
    html = reports.html.read_text()
    assert "spans the agent sent, per turn" in html
    assert "! exception HTTPError: &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    junit = ET.parse(run / "junit.xml").getroot()
    (failure,) = junit.iter("failure")
    assert failure.text is not None
    assert "spans the agent sent:\nturn 1:\n  invoke_agent" in failure.text
    assert "turn 2 · compliance POST /v1/approvals" in failure.text
    for text in (md, html, (run / "junit.xml").read_text(), (run / "cases.jsonl").read_text()):
        assert SECRET not in text  # masked when stored, and masked again when shown


def test_the_frame_keeps_the_trace_and_requests(tmp_path: Path) -> None:
    run = written(tmp_path, result())
    build_reports(run)
    frame = read_parquet(run / "results.parquet")
    assert len(frame) == 2
    trace = frame["trace"].iloc[0]
    assert trace["id"] == TRACE.trace_id and trace["dropped"] == 3
    assert [s["name"] for s in trace["spans"]][:2] == [
        "invoke_agent",
        "execute_tool verify_identity",
    ]
    assert frame["requests"].iloc[0][0]["status"] == 503
    # evidence of the failing check; a passing one's row does not repeat the trace
    assert frame["trace"].iloc[1] == {} and frame["requests"].iloc[1] == []


def test_the_reports_turns_agree_with_the_case_trace() -> None:
    import random

    from harness.report.chain import _by_turn

    rng = random.Random(7)
    for _ in range(200):
        n = rng.randint(1, 30)
        ids = [f"{i + 1:016x}" for i in range(n)]
        turns = [TRACE.turn_span_id(t) for t in range(3)]
        other = CaseTrace.of("run", "other", 1).trace_id
        spans = [
            Span(trace_id=other if rng.random() < 0.1 else TRACE.trace_id, span_id=sid,
                 parent_id=rng.choice([None, "f" * 16, *turns, *ids]), name=sid)
            for sid in ids
        ]  # fmt: skip
        want = {k: [s.span_id for s in v] for k, v in TRACE.by_turn(spans, 3).items()}
        got = _by_turn(TRACE.trace_id, as_data(spans), 3)
        assert {k: [d["span_id"] for d in v] for k, v in got.items()} == want


def test_an_untraced_or_silent_case_says_so() -> None:
    assert trace_evidence({}, 1) is None
    silent = trace_evidence({"id": TRACE.trace_id, "spans": [], "stray": 2}, 1)
    assert silent is not None and silent.turns == []
    assert silent.notes == [
        "The agent sent no spans under this case's trace (2 arrived under other traces)."
    ]


def test_long_lists_and_deep_or_circular_trees_are_cut_with_a_count() -> None:
    turn = TRACE.turn_span_id(0)
    chain = [Span(trace_id=TRACE.trace_id, span_id=f"{i + 1:016x}",
                  parent_id=turn if i == 0 else f"{i:016x}", name=f"s{i}", start_ns=i)
             for i in range(200)]  # fmt: skip
    circle = [
        Span(trace_id=TRACE.trace_id, span_id="1" * 16, parent_id="2" * 16, name="x", start_ns=1),
        Span(trace_id=TRACE.trace_id, span_id="2" * 16, parent_id="1" * 16, name="y", start_ns=2),
    ]
    ev = trace_evidence({"id": TRACE.trace_id, "spans": as_data(chain + circle)}, 1)
    assert ev is not None
    lines = [line for t in ev.turns for line in t.lines]
    assert len(lines) == MAX_SPANS
    assert max(len(line) - len(line.lstrip()) for line in lines) == 16  # depth capped at 8
    assert ev.notes == [f"… and {len(chain) + 2 - MAX_SPANS} more span(s) not shown."]
    # the circle alone is still shown, once each
    ev = trace_evidence({"id": TRACE.trace_id, "spans": as_data(circle)}, 1)
    assert ev is not None and [t.lines for t in ev.turns] == [
        ["x · unset · 0 ms", "  y · unset · 0 ms"]
    ]
    many = [{"service": "s", "method": "GET", "path": "/" + "p" * 5000, "status": 200}] * 100
    shown = request_lines(many)
    assert len(shown) == MAX_REQUESTS + 1 and shown[-1] == "… and 70 more request(s)"
    assert all(len(line) < 500 for line in shown)


def test_replay_prints_the_chain_of_a_failing_case(capsys: object) -> None:
    from harness.cli.evidence import print_result

    print_result(result())
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "spans the agent sent:" in err and "requests stubbed services received:" in err
    assert "! exception HTTPError: <script>alert(1)</script>" in err  # escaped for rich, shown
    assert "turn 2 · compliance POST /v1/approvals" in err
    assert SECRET not in err


def test_a_request_still_being_answered_says_so() -> None:
    from harness.report.chain import request_line

    q = ServiceRequest(
        service="compliance",
        method="POST",
        path="/v1/approvals",
        answered_by="scenario",
        duration_ms=3129.3,
        turn=2,
        pending=True,
    )
    line = request_line(as_data(q))
    assert line == (
        "turn 2 · compliance POST /v1/approvals -> still being answered when the case ended "
        "(scenario) after 3,129 ms"
    )
