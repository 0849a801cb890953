"""Agents as they are really exposed (issue 11), driven through the harness as a user drives
it: conversation APIs with captured ids, cookies, tokens, LangGraph-style threads, streamed
replies (SSE, NDJSON), expected 4xx statuses and OpenAI-compatible endpoints with client-side
tools. What the harness sent is judged from the test agents' own request logs
(tests/agents/request_log.py), never from the harness's account of it.

The suite format is /work/shared_issue11_design.md; the test agents are
tests/agents/conversation_agent.py and tests/agents/openai_agent.py (driven directly, without
the harness, by tests/integration/test_shape_agents.py).
"""

from __future__ import annotations

import itertools
import json
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from tests.agents.request_log import read
from tests.helpers import ROOT, environ, harness, only_run, read_manifest, trial_records

pytestmark = pytest.mark.integration

PORT = "{{ agent.port }}"
BASE = f"http://127.0.0.1:{PORT}"

SPEC = {
    "title": "Shapes",
    "version": "1",
    "requirements": [
        {"id": "T-001", "title": "Echoes", "severity": "major", "text": "It echoes."},
        {"id": "T-002", "title": "Contract", "severity": "major", "text": "Statuses as agreed."},
    ],
}


# ----------------------------------------------------------------------------- suites


def agent_process(script: str, log: Path, **env: str) -> dict[str, Any]:
    return {
        "command": ["{{ python }}", str(ROOT / "tests" / "agents" / script)],
        "env": {"PORT": PORT, "REQUEST_LOG": str(log), **env},
        "health": {"url": f"{BASE}/health", "timeout": 15},
        "stop_timeout": 2,
    }


def write_suite(
    root: Path,
    agent: dict[str, Any],
    scenarios: list[dict[str, Any]],
    *,
    concurrency: int = 4,
    case_timeout: float = 30,
) -> Path:
    """A suite folder with this agent section and these scenarios (plain data, dumped)."""
    (root / "scenarios").mkdir(parents=True)
    suite = {
        "name": "shapes",
        "defaults": {"seed": 1, "concurrency": concurrency, "case_timeout": case_timeout},
        "environment": {"agent": agent},
    }
    dump = {"sort_keys": False, "allow_unicode": True}
    (root / "suite.yaml").write_text(yaml.safe_dump(suite, **dump))  # type: ignore[call-overload]
    (root / "spec.yaml").write_text(yaml.safe_dump(SPEC, **dump))  # type: ignore[call-overload]
    text = yaml.safe_dump({"scenarios": scenarios}, **dump)  # type: ignore[call-overload]
    (root / "scenarios" / "s.yaml").write_text(text)
    return root


def run(suite: Path, reports: Path, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    return harness(
        "run", str(suite), "--reports-dir", str(reports), "--no-progress", *extra,
        env=environ(**env), timeout=300,
    )  # fmt: skip


def checks_by_case(reports: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in trial_records(only_run(reports)):
        out[record["case"]["id"]] += record["checks"]
    return out


def echo_scenario(repeat: int = 4, turns: int = 3) -> dict[str, Any]:
    """Each turn names its case, so the agent's log ties every request to the case it is of."""
    return {
        "id": "echo",
        "title": "Echo",
        "repeat": repeat,
        "turns": [f"case {{{{ case.id }}}} turn {i}" for i in range(1, turns + 1)],
        "checks": [
            {"type": "contains", "requirements": ["T-001"], "turn": "all", "value": "you said"}
        ],
    }


def conversations_by_id(agent: dict[str, Any] | None = None) -> dict[str, Any]:
    """The http section for conversation_agent.py's id modes: open, capture, message, close
    (a streamed reply's text is where `stream.delta` says, so it names no `reply`)."""
    http = {
        "open": {
            "method": "POST",
            "url": f"{BASE}/conversations",
            "body": {"case": "{{ case.id }}"},
            "expect_status": 201,
            "capture": {"conversation_id": "conversation_id"},
        },
        "method": "POST",
        "url": f"{BASE}/conversations/{{{{ session.conversation_id }}}}/messages",
        "body": {"message": "{{ turn.text }}"},
        "reply": "reply",
        "close": {
            "method": "DELETE",
            "url": f"{BASE}/conversations/{{{{ session.conversation_id }}}}",
        },
        "timeout": 10,
        **(agent or {}),
    }
    if "stream" in http:
        del http["reply"]
    return http


def case_of(record: dict[str, Any]) -> str | None:
    """The case a logged request belongs to, from what the harness put in it."""
    body = record["body"]
    if isinstance(body, dict):
        if "case" in body:
            return str(body["case"])
        text = str(body.get("message", ""))
        if text.startswith("case "):
            return text.split()[1]
    return None


# -------------------------------------------------------------- sessions with an id


def test_the_id_captured_at_open_is_used_by_every_later_request(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    agent = {
        "process": agent_process("conversation_agent.py", log, MODE="ids", DELAY="0.2"),
        "http": conversations_by_id(),
    }
    suite = write_suite(tmp_path / "suite", agent, [echo_scenario()])
    proc = run(suite, tmp_path / "reports")
    assert proc.returncode == 0, proc.stderr
    records = read(log)
    opened = {case_of(r): r["conversation"] for r in records if r["path"] == "/conversations"}
    assert len(opened) == 4 and None not in opened
    for case, conversation in opened.items():
        later = [r for r in records if r["conversation"] == conversation and r["method"] != "POST"]
        messages = [r for r in records if r["path"].endswith("/messages") and case_of(r) == case]
        assert len(messages) == 3
        assert {r["path"] for r in messages} == {f"/conversations/{conversation}/messages"}
        assert all(r["status"] == 200 for r in messages)
        assert [r["method"] for r in later] == ["DELETE"]  # closed on the way out, once
        assert later[0]["seq"] > max(r["seq"] for r in messages)
    for record in trial_records(only_run(tmp_path / "reports")):
        conversation = opened[record["case"]["id"]]
        assert all(f"[{conversation}]" in t["reply"] for t in record["observation"]["turns"])


def test_two_concurrent_cases_never_share_a_session(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    agent = {
        "process": agent_process("conversation_agent.py", log, MODE="ids", DELAY="0.3"),
        "http": conversations_by_id(),
    }
    suite = write_suite(tmp_path / "suite", agent, [echo_scenario(repeat=6)], concurrency=3)
    proc = run(suite, tmp_path / "reports")
    assert proc.returncode == 0, proc.stderr
    sessions: dict[str, set[str]] = defaultdict(set)
    spans: dict[str, list[float]] = defaultdict(list)
    for r in read(log):
        if r["path"].endswith("/messages"):
            sessions[str(case_of(r))].add(r["conversation"])
            spans[str(case_of(r))].append(r["time"])
    assert len(sessions) == 6
    assert all(len(s) == 1 for s in sessions.values()), sessions  # one session per case
    assert len(set().union(*sessions.values())) == 6  # and none shared
    windows = sorted((min(t), max(t)) for t in spans.values())
    assert any(b[0] < a[1] for a, b in itertools.pairwise(windows)), (
        "the cases never overlapped: nothing was tested"
    )


@pytest.mark.parametrize("how", ["login", "first_message"])
def test_a_cookie_agent_keeps_its_session(tmp_path: Path, how: str) -> None:
    log = tmp_path / "requests.jsonl"
    http: dict[str, Any] = {
        "url": f"{BASE}/chat",
        "body": {"message": "{{ turn.text }}"},
        "reply": "reply",
        "cookies": True,
        "timeout": 10,
    }
    if how == "login":
        http["login"] = {"url": f"{BASE}/login", "body": {"case": "{{ case.id }}"}}
    agent = {
        "process": agent_process("conversation_agent.py", log, MODE="cookie", DELAY="0.1"),
        "http": http,
    }
    suite = write_suite(tmp_path / "suite", agent, [echo_scenario(repeat=4, turns=3)])
    proc = run(suite, tmp_path / "reports")
    assert proc.returncode == 0, proc.stderr
    records = read(log)
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_case[str(case_of(r))].append(r)
    assert len(by_case) == 4
    for case, requests in by_case.items():
        sessions = {r["conversation"] for r in requests}
        assert len(sessions) == 1, (case, sessions)  # the login's, or the first message's
        [session] = sessions
        chats = [r for r in requests if r["path"] == "/chat"]
        assert len(chats) == 3
        carried = [r["headers"].get("cookie") for r in chats]
        expect_first = f"sid={session}" if how == "login" else None
        assert carried == [expect_first, f"sid={session}", f"sid={session}"]
    assert len({r["conversation"] for r in records}) == 4
    for record in trial_records(only_run(tmp_path / "reports")):
        replies = [t["reply"] for t in record["observation"]["turns"]]
        assert len({reply.split("]")[0] for reply in replies}) == 1


def test_a_token_from_login_is_sent_with_every_request_of_its_case(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    http = conversations_by_id(
        {"headers": {"Authorization": "Bearer {{ session.token }}"}},
    )
    http["login"] = {
        "url": f"{BASE}/token",
        "body": {"case": "{{ case.id }}"},
        "expect_status": [200],
        "capture": {"token": "access_token"},
    }
    http["open"]["headers"] = {"Authorization": "Bearer {{ session.token }}"}
    http["close"]["headers"] = {"Authorization": "Bearer {{ session.token }}"}
    # the token in a URL too, where no credential pattern would find it
    http["close"]["url"] += "?seen={{ session.token }}"
    agent = {"process": agent_process("conversation_agent.py", log, MODE="token"), "http": http}
    suite = write_suite(tmp_path / "suite", agent, [echo_scenario(repeat=3, turns=2)])
    proc = run(suite, tmp_path / "reports")
    assert proc.returncode == 0, proc.stderr
    records = read(log)
    issued = {case_of(r): r["conversation"] for r in records if r["path"] == "/token"}
    opened = {case_of(r): r for r in records if r["path"] == "/conversations"}
    assert len(issued) == 3 and set(opened) == set(issued)
    for case, token in issued.items():
        conversation = opened[case]["conversation"]
        mine = [r for r in records if r["conversation"] == conversation]
        assert {r["headers"].get("authorization") for r in mine} == {f"Bearer {token}"}
        assert {r["status"] for r in mine} <= {200, 201, 204}
    # a secret-named value the agent handed out is masked wherever the run folder repeats it
    (folder,) = [d for d in (tmp_path / "reports").iterdir() if d.is_dir()]
    written = b"".join(f.read_bytes() for f in folder.rglob("*") if f.is_file())
    assert b"?seen=" in written
    assert not [t for t in issued.values() if t.encode() in written]


# ---------------------------------------------------------------------------- streams


@pytest.mark.parametrize(
    ("timeout", "idle_timeout", "limit"),
    [(2.0, 10.0, 2.0), (30.0, 1.0, 1.0)],  # the whole stream's limit, then the gap's
)
def test_a_stalled_stream_is_an_error_within_its_timeout(
    tmp_path: Path, timeout: float, idle_timeout: float, limit: float
) -> None:
    log = tmp_path / "requests.jsonl"
    http = conversations_by_id(
        {
            "timeout": timeout,
            "stream": {
                "format": "sse",
                "mode": "join",
                "delta": "delta",
                "idle_timeout": idle_timeout,
            },
        }
    )
    agent = {"process": agent_process("conversation_agent.py", log, MODE="stall"), "http": http}
    suite = write_suite(tmp_path / "suite", agent, [echo_scenario(repeat=2, turns=1)])
    proc = run(suite, tmp_path / "reports")
    assert proc.returncode == 1, proc.stderr
    for record in trial_records(only_run(tmp_path / "reports")):
        assert {c["verdict"] for c in record["checks"]} == {"error"}
        assert "timeout" in str(record["observation"]["error"]).lower()
        [turn] = record["observation"]["turns"]
        assert limit * 1000 <= turn["latency_ms"] <= limit * 1100, turn  # timeout + 10%
        # the evidence keeps what did arrive: the status, the first byte, the text so far
        assert turn["status"] == 200 and 0 < turn["first_byte_ms"] < limit * 1000, turn
        assert "received so far" in turn["error"]["message"], turn
        if idle_timeout < timeout:  # a stall counts the agent's three events, not the reads
            assert " after 3 event(s) (" in turn["error"]["message"], turn
    assert sum(r["path"].endswith("/messages") for r in read(log)) == 2  # not retried


def test_an_ndjson_stream_is_joined_into_the_reply(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    http = conversations_by_id({"stream": {"format": "ndjson", "mode": "join", "delta": "token"}})
    agent = {"process": agent_process("conversation_agent.py", log, MODE="ndjson"), "http": http}
    scenario = echo_scenario(repeat=2, turns=2)
    scenario["checks"].append(
        {
            "type": "regex",
            "requirements": ["T-001"],
            "pattern": "^\\[c-[0-9]+-[0-9a-f]+\\] you said: case \\S+ turn 2$",
        }
    )
    suite = write_suite(tmp_path / "suite", agent, [scenario])
    proc = run(suite, tmp_path / "reports")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("gzip", ["0", "1", "members", "cut"])
def test_an_sse_stream_is_read_whole_by_run_and_by_load(tmp_path: Path, gzip: str) -> None:
    """Plain, or gzip whatever the request accepts with its header sent alone (it inflates to
    nothing: no end of the stream), its events 0.1 s apart, the idle timeout 0.6 s, each
    turn's stream longer; `harness load` reads the same stream (its adapter, sent to the load
    generator, was refused there with the `reply` its default had; a compressed stream waited
    there for a newline byte in the compressed bytes, and stalled). Each event a gzip member
    of its own is read in both; gzip data that never ends (the stream's end is the reply's:
    `done: null`) is an error in both (load passed it)."""
    log = tmp_path / "requests.jsonl"
    stream = {"format": "sse", "delta": "delta", "idle_timeout": 0.6}
    if gzip == "cut":
        stream["done"] = None
    http = conversations_by_id({"stream": stream})
    process = agent_process("conversation_agent.py", log, MODE="sse", GZIP=gzip, GAP="0.1")
    scenario = echo_scenario(repeat=2, turns=2)
    pattern = "^\\[c-[0-9]+-[0-9a-f]+\\] you said: case \\S+ turn 2$"
    scenario["checks"].append({"type": "regex", "requirements": ["T-001"], "pattern": pattern})
    suite = write_suite(tmp_path / "suite", {"process": process, "http": http}, [scenario])
    proc = run(suite, tmp_path / "reports")
    cut = "the reply's gzip body is cut short"
    if gzip == "cut":
        assert proc.returncode == 1 and cut in proc.stderr, proc.stdout + proc.stderr
    else:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "no divergence from the spec (4 checks passed)" in proc.stderr, proc.stderr
    profile = "load:\n  profiles:\n    quick: {shape: stages, stages: [{duration: 3s, users: 2}]}\n"
    (suite / "suite.yaml").write_text((suite / "suite.yaml").read_text() + profile)
    reports = tmp_path / "load"
    done = harness("load", str(suite), "--profile", "quick", "--no-progress",
                   "--reports-dir", str(reports), timeout=240)  # fmt: skip
    counts = read_manifest(only_run(reports, done.stderr))["load"]["counts"]
    if gzip == "cut":
        assert done.returncode == 1 and counts["passed"] == 0, (counts, done.stderr)
        assert cut in (only_run(reports, done.stderr) / "cases.jsonl").read_text()
    else:
        assert done.returncode == 0, done.stdout + done.stderr
        assert counts["judged"] > 0 and counts["passed"] == counts["judged"], counts


@pytest.mark.parametrize(
    ("mode", "stream", "said"),
    [
        # the agent ends the response after three words: no `data: [DONE]`
        ("cut", {"format": "sse", "delta": "delta"}, "before its end marker '[DONE]' after 3"),
        # every line has `token`; the suite says `tokn`: every reply read as empty before
        ("ndjson", {"format": "ndjson", "delta": "tokn"}, "has 'tokn' (did you mean 'token'?)"),
    ],
    ids=["cut-short", "misspelt-delta"],
)
def test_a_stream_that_is_no_whole_reply_is_an_error_not_a_pass(
    tmp_path: Path, mode: str, stream: dict[str, Any], said: str
) -> None:
    """A stream cut short, or a `delta` no event has, is a malformed reply: an error verdict
    with what did arrive, never an empty (or partial) reply a `not_contains` passes."""
    log = tmp_path / "requests.jsonl"
    http = conversations_by_id({"stream": stream})
    agent = {"process": agent_process("conversation_agent.py", log, MODE=mode), "http": http}
    scenario = echo_scenario(repeat=2, turns=1)
    scenario["checks"].append(
        {"type": "not_contains", "requirements": ["T-001"], "value": "refused"}
    )
    suite = write_suite(tmp_path / "suite", agent, [scenario])
    proc = run(suite, tmp_path / "reports")
    assert proc.returncode == 1, proc.stderr
    for record in trial_records(only_run(tmp_path / "reports")):
        assert [c["verdict"] for c in record["checks"]] == ["error", "error"], record["checks"]
        error = record["observation"]["error"]
        assert error["kind"] == "malformed" and said in error["message"], error
    if mode == "cut":  # `done: null`: the end of the response is the end of the reply
        http["stream"]["done"] = None
        suite = write_suite(tmp_path / "suite2", agent, [scenario])
        proc = run(suite, tmp_path / "reports2")
        assert "malformed" not in proc.stdout + proc.stderr
        for record in trial_records(only_run(tmp_path / "reports2")):
            assert record["observation"]["turns"][0]["reply"].startswith("[c-"), record


@pytest.mark.parametrize("stream", [False, True])
def test_langgraph_threads_keep_one_thread_per_case(tmp_path: Path, stream: bool) -> None:
    log = tmp_path / "requests.jsonl"
    run_path = "runs/stream" if stream else "runs/wait"
    http: dict[str, Any] = {
        "open": {
            "url": f"{BASE}/threads",
            "body": {"metadata": {"case": "{{ case.id }}"}},
            "expect_status": 200,
            "capture": {"thread_id": "thread_id"},
        },
        "url": f"{BASE}/threads/{{{{ session.thread_id }}}}/{run_path}",
        "body": {
            "assistant_id": "agent",
            "input": {"messages": [{"role": "user", "content": "{{ turn.text }}"}]},
        },
        "reply": "messages[-1].content",
        "timeout": 10,
    }
    if stream:
        del http["reply"]
        http["body"]["stream_mode"] = "values"
        http["stream"] = {
            "format": "sse",
            "mode": "last",
            "delta": "messages[-1].content",
            "event": "values",
            "done": None,
        }
    agent = {"process": agent_process("conversation_agent.py", log, MODE="threads"), "http": http}
    suite = write_suite(tmp_path / "suite", agent, [echo_scenario(repeat=3, turns=2)])
    proc = run(suite, tmp_path / "reports")
    assert proc.returncode == 0, proc.stderr
    records = read(log)
    threads = {
        r["body"]["metadata"]["case"]: r["conversation"] for r in records if r["path"] == "/threads"
    }
    assert len(threads) == 3
    for record in trial_records(only_run(tmp_path / "reports")):
        thread = threads[record["case"]["id"]]
        turns = record["observation"]["turns"]
        assert [t["reply"] for t in turns] == [
            f"[{thread}] you said: case {record['case']['id']} turn {i}" for i in (1, 2)
        ]


# ---------------------------------------------------------------- statuses as contract


def test_an_expected_422_passes_and_an_unexpected_500_is_an_error(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    agent = {
        "process": agent_process("conversation_agent.py", log, MODE="contract"),
        "http": conversations_by_id(),
    }
    contract = {
        "id": "contract",
        "title": "Refusals as agreed",
        "turns": [
            {"raw": '{"message": "hi", "reference": "bad"}', "expect_status": 422},
            {"say": "", "expect_status": 400},
            {"body_bytes": 3000000, "expect_status": 413},
            {"no_body": True, "expect_status": [400]},
            "still here",
        ],
        "checks": [
            {
                "type": "contains",
                "requirements": ["T-002"],
                "turn": 1,
                "field": "error",
                "value": "unknown reference",
            },
            {
                "type": "contains",
                "requirements": ["T-002"],
                "turn": 2,
                "field": "error",
                "value": "empty",
            },
            {"type": "contains", "requirements": ["T-001"], "value": "you said: still here"},
        ],
    }
    boom = {
        "id": "boom",
        "title": "A 500 nobody agreed to",
        "turns": ["hello", "boom now"],
        "checks": [
            {"type": "contains", "requirements": ["T-001"], "turn": "all", "value": "you said"}
        ],
    }
    unagreed = {
        "id": "unagreed-422",
        "title": "A 422 the turn does not accept",
        "turns": [{"raw": '{"message": "hi", "reference": "bad"}'}],
        "checks": [{"type": "contains", "requirements": ["T-002"], "value": "unknown reference"}],
    }
    suite = write_suite(tmp_path / "suite", agent, [contract, boom, unagreed])
    proc = run(suite, tmp_path / "reports")
    assert proc.returncode == 1, proc.stderr
    checks = checks_by_case(tmp_path / "reports")
    assert {c["verdict"] for c in checks["contract"]} == {"pass"}, checks["contract"]
    assert {c["verdict"] for c in checks["boom"]} == {"error"}
    assert all("HTTP 500" in c["message"] for c in checks["boom"])
    assert {c["verdict"] for c in checks["unagreed-422"]} == {"error"}  # never a pass
    assert all("422" in c["message"] for c in checks["unagreed-422"])
    statuses = [r["status"] for r in read(log) if r["path"].endswith("/messages")]
    assert sorted(statuses) == sorted([422, 400, 413, 400, 200, 200, 500, 422])


# ------------------------------------------------------------------ OpenAI-compatible


def openai_agent(
    log: Path, *, stream: bool = False, mode: str = "tools", **extra: Any
) -> dict[str, Any]:
    return {
        "process": agent_process("openai_agent.py", log, MODE=mode),
        "openai": {
            "base_url": f"{BASE}/v1",
            "model": "shape-1",
            "stream": stream,
            "timeout": 10,
            **extra,
        },
    }


def refund_with_tools(repeat: int = 2) -> dict[str, Any]:
    return {
        "id": "refund-tools",
        "title": "A refund looks the order up with a client-side tool",
        "repeat": repeat,
        "vars": {"order": {"integer": [100, 999]}},
        "tool_results": {
            "lookup_order": {"order_id": "{{ vars.order }}", "status": "delivered"},
        },
        "turns": ["Please refund order #{{ vars.order }}"],
        "checks": [
            {"type": "contains", "requirements": ["T-001"], "value": "lookup_order said"},
            {"type": "contains", "requirements": ["T-001"], "value": "delivered"},
        ],
    }


@pytest.mark.parametrize("stream", [False, True])
def test_openai_tool_results_are_sent_back_and_the_conversation_ends_at_stop(
    tmp_path: Path, stream: bool
) -> None:
    log = tmp_path / "requests.jsonl"
    agent = openai_agent(log, stream=stream)
    suite = write_suite(tmp_path / "suite", agent, [refund_with_tools()])
    proc = run(suite, tmp_path / "reports")
    assert proc.returncode == 0, proc.stderr
    records = read(log)
    by_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_user[str(r["conversation"])].append(r)
    assert len(by_user) == 2  # `user` defaults to the case's session id: one per case
    for requests in by_user.values():
        assert len(requests) == 2  # asked, then asked again with the tool's result
        first, second = (r["body"]["messages"] for r in requests)
        assert [m["role"] for m in first][-1] == "user"
        assert [m["role"] for m in second][-3:] == ["user", "assistant", "tool"]
        call = second[-2]["tool_calls"][0]
        assert call["function"]["name"] == "lookup_order"
        order = first[-1]["content"].split("#")[1]
        assert second[-1]["tool_call_id"] == call["id"]
        result = json.loads(second[-1]["content"])  # the declared mapping, rendered, as JSON
        assert (str(result["order_id"]), result["status"]) == (order, "delivered")
        assert all(r["body"]["stream"] is stream for r in requests if "stream" in r["body"])
    for record in trial_records(only_run(tmp_path / "reports")):
        [turn] = record["observation"]["turns"]
        assert "lookup_order said" in turn["reply"] and "delivered" in turn["reply"]


def test_openai_tool_rounds_stop_at_max_tool_rounds(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    agent = openai_agent(log, mode="loop", max_tool_rounds=3)
    suite = write_suite(tmp_path / "suite", agent, [refund_with_tools(repeat=1)])
    proc = run(suite, tmp_path / "reports")
    assert proc.returncode == 1, proc.stderr
    assert len(read(log)) == 1 + 3  # the question, then three rounds of tool results
    [checks] = checks_by_case(tmp_path / "reports").values()
    assert "pass" not in {c["verdict"] for c in checks}


# ------------------------------------------------------------ the demo through its doors


def failing_requirements(run_dir: Path) -> set[str]:
    df = pd.read_parquet(run_dir / "results.parquet")
    bad = df[df["verdict"] != "pass"]
    return {r for cell in bad["requirements"] for r in cell.split(",")}


@pytest.fixture(scope="module")
def demo_failing(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    reports = tmp_path_factory.mktemp("chat")
    proc = run(ROOT / "scenarios" / "refund_desk", reports, REFUND_DESK_DEFECTS="all")
    assert proc.returncode == 1, proc.stderr
    return failing_requirements(only_run(reports))


@pytest.mark.parametrize("suite", ["refund_desk_sessions", "refund_desk_openai"])
def test_demo_suites_of_other_doors_report_what_the_chat_suite_reports(
    tmp_path: Path, suite: str, demo_failing: set[str]
) -> None:
    proc = run(ROOT / "scenarios" / suite, tmp_path / "on", REFUND_DESK_DEFECTS="all")
    assert proc.returncode == 1, proc.stderr
    run_dir = only_run(tmp_path / "on")
    assert failing_requirements(run_dir) == demo_failing
    df = pd.read_parquet(run_dir / "results.parquet")
    assert "error" not in set(df["verdict"]), df[df["verdict"] == "error"]["message"].head()
    proc = run(ROOT / "scenarios" / suite, tmp_path / "off", REFUND_DESK_DEFECTS="none")
    assert proc.returncode == 0, proc.stderr
    assert "no divergence from the spec" in proc.stderr
