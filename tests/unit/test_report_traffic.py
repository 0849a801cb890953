"""What a run's reports show of its traffic with the agent: per turn in the evidence (status,
first byte, tokens, tool calls, the reply's other fields; the conversation's captured values
and requests), and over the run (the Traffic section), written and read back through the
run log like every report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from harness.core import (
    Case,
    CaseResult,
    CheckResult,
    Failure,
    FailureKind,
    Observation,
    TurnRecord,
    Verdict,
)
from harness.redact import redact
from harness.report.build import build_reports
from harness.report.markdown import render_markdown
from harness.report.traffic import other_fields, traffic
from harness.report.view import build_view
from harness.runlog.frame import COLUMNS, read_parquet, results_frame
from harness.runlog.models import AgentInfo, RequirementInfo, RunManifest, TrialRecord
from harness.runlog.read import open_run
from harness.runlog.store import RunLog

HOSTILE = "T-<script>alert(1)</script>|`x`"
CALLS = [{"id": "c1", "type": "function",
          "function": {"name": "lookup_order", "arguments": '{"order": 7}'},
          "result": '{"status": "shipped"}'}]  # fmt: skip
USAGE = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}


def check(cid: str, verdict: Verdict) -> CheckResult:
    return CheckResult(check_id=cid, check_type="contains", category="output",
                       requirements=("R-1",), verdict=verdict, message=cid)  # fmt: skip


def first_case() -> CaseResult:
    """Two turns (a streamed reply with tokens and a tool call; an HTTP 503), captured values
    and the requests that opened and closed the conversation; it fails one check of two."""
    obs = Observation(session_id="h-1", started_at="2026-01-01T00:00:00+00:00")
    obs.turns = [
        TurnRecord(index=1, text="hi", reply="Refund issued", latency_ms=100.0, status=200,
                   data={"reply": "Refund issued", "ticket": HOSTILE, "usage": USAGE,
                         "tool_calls": CALLS, "finish_reason": "tool_calls"},
                   first_byte_ms=20.0, usage=USAGE, tool_calls=CALLS,
                   finish_reason="tool_calls"),
        TurnRecord(index=2, text="again", reply=None, latency_ms=300.0, status=503,
                   error=Failure(FailureKind.STATUS, "HTTP 503: down")),
    ]  # fmt: skip
    obs.session = {"conversation_id": "conv-42"}
    obs.calls = [
        {"purpose": "open", "method": "POST", "url": "http://agent/conv", "status": 201,
         "latency_ms": 5.0, "error": None},
        {"purpose": "close", "method": "DELETE", "url": "http://agent/conv/conv-42",
         "status": 500, "latency_ms": 7.0, "error": "HTTP 500: nope"},
    ]  # fmt: skip
    case = Case(id="s#1", scenario="s", index=0, seed=1)
    checks = [check("says-refund", Verdict.FAIL), check("polite", Verdict.PASS)]
    return CaseResult(case=case, trial=1, observation=obs, checks=checks)


def second_case() -> CaseResult:
    """One turn, not streamed, whose usage has no total (prompt + completion count)."""
    obs = Observation(session_id="h-2", started_at="2026-01-01T00:00:01+00:00")
    obs.turns = [TurnRecord(index=1, text="hello", reply="hi", latency_ms=200.0, status=200,
                            usage={"prompt_tokens": 50, "completion_tokens": 10})]  # fmt: skip
    case = Case(id="s#2", scenario="s", index=1, seed=2)
    return CaseResult(case=case, trial=1, observation=obs, checks=[check("polite", Verdict.PASS)])


def manifest(prices: dict[str, dict[str, Any]] | None = None) -> RunManifest:
    return RunManifest(suite="s", seed=3, requirements=[RequirementInfo(id="R-1")],
                       agent=AgentInfo(interface="openai", model="m-1", prices=prices))  # fmt: skip


def written(tmp_path: Path, results: list[CaseResult], prices: Any = None) -> Path:
    """A run folder written by the run log's own writer, with the run-wide sweep."""
    log = RunLog.create(tmp_path, manifest(prices))
    for result in results:
        log.append(result)
    log.append_sweep(1, [CheckResult(check_id="inv", check_type="sql", category="invariant",
                                     requirements=("R-1",), verdict=Verdict.PASS)])  # fmt: skip
    log.close()
    return log.dir


PRICED = {"m-1": {"input": 0.5, "output": 1.5, "currency": "EUR"}}


def test_the_frame_keeps_session_and_calls_and_old_parquet_files_still_read(tmp_path: Path) -> None:
    run = written(tmp_path, [first_case(), second_case()])
    build_reports(run)
    frame = read_parquet(run / "results.parquet")
    first = frame[frame["case_id"] == "s#1"]
    assert len(first) == 2 and all(s == {"conversation_id": "conv-42"} for s in first["session"])
    assert [c["purpose"] for c in first["calls"].iloc[0]] == ["open", "close"]
    sweep = frame[frame["case_id"] == "(run)"]
    assert list(sweep["session"]) == [{}] and list(sweep["calls"]) == [[]]
    # a results.parquet written before the columns existed
    old = tmp_path / "old.parquet"
    pq.write_table(pq.read_table(run / "results.parquet").drop(["session", "calls"]), old)
    again = read_parquet(old)
    assert list(again.columns) == COLUMNS
    assert list(again["session"]) == [{}] * len(frame) and list(again["calls"]) == [[]] * len(frame)


def test_the_evidence_shows_what_came_with_each_reply(tmp_path: Path) -> None:
    run = written(tmp_path, [first_case(), second_case()], PRICED)
    reports = build_reports(run)
    (group,) = reports.view.divergences
    ex = group.examples[0]
    one, two = ex.turns
    assert one["status"] is None and two["status"] == 503  # 200 is no news
    assert one["first_byte_ms"] == 20.0 and two["first_byte_ms"] is None
    assert one["tool_calls"] == ['lookup_order({"order": 7}) -> {"status": "shipped"}']
    assert one["usage"] == USAGE
    # the reply's other fields: not its text, not the tool calls or tokens shown apart
    assert one["fields"] is not None and '"ticket"' in one["fields"]
    assert '"finish_reason": "tool_calls"' in one["fields"]
    assert "Refund issued" not in one["fields"] and '"usage"' not in one["fields"]
    assert ex.session == {"conversation_id": "conv-42"}
    assert [(c["purpose"], c["status"]) for c in ex.calls] == [("open", 201), ("close", 500)]

    md = reports.markdown.read_text()
    assert "HTTP status `503`" in md and "HTTP status `200`" not in md
    assert "First byte after 20 ms of 100 ms" in md
    assert "prompt\\_tokens `100`, completion\\_tokens `20`, total\\_tokens `120`" in md
    assert 'Tool calls:\n\n```text\nlookup_order({"order": 7}) -> {"status": "shipped"}\n```' in md
    assert "Other fields of the reply:\n\n```json\n{" in md
    assert "**Captured in the conversation:** conversation\\_id=`conv-42`" in md
    assert "- open `POST http://agent/conv`: HTTP `201` after 5 ms" in md
    assert (
        "- close `DELETE http://agent/conv/conv-42`: HTTP `500` after 7 ms; failed: HTTP 500: nope"
        in md
    )
    assert md.count("Refund issued") == 1  # shown once, as the reply

    html = reports.html.read_text()
    assert "HTTP status 503" in html and "first byte after 20 ms" in html
    assert "tokens: prompt_tokens 100, completion_tokens 20, total_tokens 120" in html
    assert "lookup_order({&#34;order&#34;: 7})" in html
    assert "other fields of the reply" in html and "T-&lt;script&gt;alert(1)" in html
    assert "<script>alert" not in html
    assert "conversation_id=<code>conv-42</code>" in html
    assert "close <code>DELETE http://agent/conv/conv-42</code>: HTTP <code>500</code>" in html


def test_the_evidence_masks_secrets_in_the_reply_fields() -> None:
    secret = "sk-traffic-4c1d9e77aa"
    redact.add(secret)
    result = first_case()
    result.observation.turns[0].data = {"reply": "Refund issued", "key": secret}
    record = TrialRecord(key="s#1@1", case=result.case, trial=1,
                         observation=result.observation, checks=result.checks)  # fmt: skip
    view = build_view(results_frame([record], manifest()), manifest())
    fields = view.divergences[0].examples[0].turns[0]["fields"]
    assert fields is not None and '"key"' in fields and secret not in fields


def test_other_fields_drop_the_reply_wherever_it_sits() -> None:
    nested = {"id": "x", "choices": [{"message": {"role": "assistant", "content": "hi"}}]}
    assert other_fields({"reply": "hi", "data": nested}) == {
        "id": "x",
        "choices": [{"message": {"role": "assistant"}}],
    }
    assert other_fields({"reply": "hi", "data": "hi"}) is None  # a raw body: nothing else
    assert other_fields({"reply": "hi", "data": {"reply": "hi"}}) is None
    openai = {"content": "hi", "tool_calls": [], "finish_reason": "stop", "usage": USAGE}
    turn = {"reply": "hi", "data": openai, "usage": USAGE, "tool_calls": None}
    assert other_fields(turn) == {"finish_reason": "stop"}
    # the shallowest value reading as the reply goes; a deeper one saying the same stays
    assert other_fields({"reply": "ok", "data": {"a": {"b": "ok"}, "c": "ok"}}) == {
        "a": {"b": "ok"}
    }


def test_other_fields_leave_out_an_echo_of_the_session_id_but_not_another_id() -> None:
    echoed = {"reply": "hi", "data": {"reply": "hi", "session_id": "h-1", "state": "open"}}
    assert other_fields(echoed, "h-1") == {"state": "open"}
    assert other_fields({"reply": "hi", "data": {"reply": "hi", "sid": "h-1"}}, "h-1") is None
    other = {"reply": "hi", "data": {"reply": "hi", "session_id": "h-2"}}  # not the one sent
    assert other_fields(other, "h-1") == {"session_id": "h-2"}
    assert other_fields(echoed) == {"session_id": "h-1", "state": "open"}  # no id known
    # the reply's removal leaves no empty object the agent never sent; its own empty one stays
    nested = {"reply": "hi", "data": {"speech": {"text": "hi"}, "meta": {}, "n": 1}}
    assert other_fields(nested) == {"meta": {}, "n": 1}


def test_the_traffic_section_counts_each_conversation_once(tmp_path: Path) -> None:
    run = written(tmp_path, [first_case(), second_case()], PRICED)
    reports = build_reports(run)
    t = reports.view.traffic
    assert t is not None
    assert (t.conversations, t.turns) == (2, 3)  # s#1 has two check rows; the sweep no turns
    assert (t.latency_p50, t.latency_p95) == (200.0, 290.0)  # of 100, 200, 300 ms
    assert (t.first_byte_turns, t.first_byte_p50, t.first_byte_p95) == (1, 20.0, 20.0)
    assert t.tokens == {"prompt_tokens": 150, "completion_tokens": 30, "total_tokens": 180}
    assert t.per_conversation == 90.0
    assert t.cost is not None and abs(t.cost - (0.15 * 0.5 + 0.03 * 1.5)) < 1e-12

    md = reports.markdown.read_text()
    start = md.index("## Traffic")
    assert md.index("## Requirements") < start < md.index("One trial per case")
    section = md[start : md.index("## Divergences")]
    assert "- 2 conversation(s), 3 turn(s); reply latency p50 200 ms, p95 290 ms." in section
    assert "Time to first byte p50 20 ms, p95 20 ms, over the 1 turn(s)" in section
    assert "Tokens: 150 prompt, 30 completion, 180 total; 90.0 per conversation" in section
    assert "Cost: 0.12 EUR for model `m-1` at 0.5 per 1,000 prompt tokens" in section

    html = reports.html.read_text()
    assert '<h2 id="traffic">Traffic</h2>' in html
    assert "Cost: 0.12 EUR for model m-1" in html


def test_without_a_price_or_tokens_the_section_says_so(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    md = build_reports(written(tmp_path / "a", [second_case()])).markdown.read_text()
    assert "No price was given for model `m-1`, so the cost is not known." in md
    assert "Time to first byte" not in md  # no turn recorded one
    quiet = second_case()
    quiet.observation.turns[0].usage = None
    (tmp_path / "b").mkdir()
    md = build_reports(written(tmp_path / "b", [quiet], PRICED)).markdown.read_text()
    assert "## Traffic" in md and "Tokens:" not in md and "Cost:" not in md


def test_no_turn_no_traffic_section(tmp_path: Path) -> None:
    run = written(tmp_path, [])
    folder = open_run(run)
    frame = results_frame(folder.records(), folder.manifest)
    assert traffic(frame, folder.manifest) is None
    view = build_view(frame, folder.manifest)
    assert view.traffic is None and "## Traffic" not in render_markdown(view)
    assert "Traffic</h2>" not in build_reports(run).html.read_text()


def test_a_frame_with_blank_evidence_has_no_traffic() -> None:
    """Frames built by other readers (trend, tests) may hold blanks, not lists."""
    frame = pd.DataFrame([dict.fromkeys(COLUMNS, "") | {"case_id": "c", "trial": 1}])
    assert traffic(frame, manifest()) is None
