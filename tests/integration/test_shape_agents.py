"""The test agents that tests/integration/test_agent_shapes.py drives through the harness,
driven here directly: each mode answers as its docstring says and logs what it received, so
a failure there is the harness's, not the test agent's."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.agents.request_log import read
from tests.integration.demo_servers import free_port, wait_until

pytestmark = pytest.mark.integration

AGENTS = Path(__file__).resolve().parents[1] / "agents"


@contextmanager
def running(script: str, tmp_path: Path, **env: str) -> Iterator[tuple[str, Path]]:
    """The agent started on a free port; (base url, its request log)."""
    port, log = free_port(), tmp_path / f"{script}-{env.get('MODE', '')}.jsonl"
    proc = subprocess.Popen(
        [sys.executable, str(AGENTS / script)],
        env={"PORT": str(port), "REQUEST_LOG": str(log), "PATH": "/usr/bin:/bin", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(base + "/health", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    try:
        assert wait_until(lambda: proc.poll() is not None or healthy(), 15), proc.stderr
        yield base, log
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            raise


async def _post(
    http: aiohttp.ClientSession, url: str, body: Any = None, **kwargs: Any
) -> tuple[int, str]:
    async with http.post(url, json=body, **kwargs) as response:
        return response.status, await response.text()


def test_ids_mode_names_the_conversation_in_every_reply(tmp_path: Path) -> None:
    async def drive(base: str) -> tuple[str, list[str]]:
        async with aiohttp.ClientSession() as http:
            status, text = await _post(http, base + "/conversations", {"case": "a"})
            assert status == 201
            conversation = json.loads(text)["conversation_id"]
            replies = []
            for word in ("hello", "again"):
                url = f"{base}/conversations/{conversation}/messages"
                status, text = await _post(http, url, {"message": word})
                assert status == 200
                replies.append(json.loads(text)["reply"])
            assert (await _post(http, f"{base}/conversations/nope/messages", {}))[0] == 404
            async with http.delete(f"{base}/conversations/{conversation}") as response:
                assert response.status == 204
            return conversation, replies

    with running("conversation_agent.py", tmp_path) as (base, log):
        conversation, replies = asyncio.run(drive(base))
        records = read(log)
    assert replies == [f"[{conversation}] you said: hello", f"[{conversation}] you said: again"]
    assert [r["conversation"] for r in records] == [conversation] * 3 + ["nope", conversation]
    assert records[0]["body"] == {"case": "a"} and records[0]["status"] == 201


def test_cookie_mode_keeps_the_session_in_a_cookie(tmp_path: Path) -> None:
    async def drive(base: str) -> list[dict[str, Any]]:
        # aiohttp's default jar keeps no cookie of an IP address such as 127.0.0.1
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            answers = []
            for word in ("one", "two"):
                _, text = await _post(http, base + "/chat", {"message": word})
                answers.append(json.loads(text))
        async with aiohttp.ClientSession() as other:  # a jar of its own: a new session
            answers.append(json.loads((await _post(other, base + "/chat", {"message": "x"}))[1]))
        return answers

    with running("conversation_agent.py", tmp_path, MODE="cookie") as (base, log):
        one, two, other = asyncio.run(drive(base))
        records = read(log)
    assert one["conversation_id"] == two["conversation_id"] != other["conversation_id"]
    assert (one["turn"], two["turn"], other["turn"]) == (1, 2, 1)
    assert "cookie" not in records[0]["headers"]
    assert records[1]["headers"]["cookie"] == f"sid={one['conversation_id']}"


def test_stall_mode_sends_a_few_chunks_then_nothing(tmp_path: Path) -> None:
    async def drive(base: str) -> tuple[bytes, float]:
        async with aiohttp.ClientSession() as http:
            _, text = await _post(http, base + "/conversations")
            url = f"{base}/conversations/{json.loads(text)['conversation_id']}/messages"
            started = time.monotonic()
            got = b""
            async with http.post(url, json={"message": "hello there you"}) as response:
                try:
                    async with asyncio.timeout(1.5):
                        async for chunk in response.content.iter_any():
                            got += chunk
                except TimeoutError:
                    pass
            return got, time.monotonic() - started

    with running("conversation_agent.py", tmp_path, MODE="stall") as (base, log):
        got, waited = asyncio.run(drive(base))
        records = read(log)
    assert got.count(b"data: ") == 3 and b"[DONE]" not in got and waited >= 1.5
    assert records[-1]["path"].endswith("/messages") and records[-1]["status"] == 200


def test_contract_mode_statuses(tmp_path: Path) -> None:
    async def drive(base: str) -> list[int]:
        async with aiohttp.ClientSession() as http:
            statuses = [(await _post(http, base + "/conversations", {"reference": "bad"}))[0]]
            _, text = await _post(http, base + "/conversations", {"reference": "ok"})
            url = f"{base}/conversations/{json.loads(text)['conversation_id']}/messages"
            bodies: list[Any] = [
                {"message": "hi", "reference": "bad"},
                {"message": ""},
                {"message": "x" * 70_000},
                {"message": "boom"},
                {"message": "fine"},
            ]
            for body in bodies:
                statuses.append((await _post(http, url, body))[0])
            return statuses

    with running("conversation_agent.py", tmp_path, MODE="contract") as (base, _):
        assert asyncio.run(drive(base)) == [422, 422, 400, 413, 500, 200]


def test_threads_mode_speaks_the_agent_protocol(tmp_path: Path) -> None:
    async def drive(base: str) -> tuple[str, dict[str, Any], str]:
        async with aiohttp.ClientSession() as http:
            _, text = await _post(http, base + "/threads", {})
            thread = json.loads(text)["thread_id"]

            def run(text: str) -> dict[str, Any]:
                message = {"role": "user", "content": text}
                return {"assistant_id": "agent", "input": {"messages": [message]}}

            _, waited = await _post(http, f"{base}/threads/{thread}/runs/wait", run("hi"))
            _, streamed = await _post(http, f"{base}/threads/{thread}/runs/stream", run("more"))
            return thread, json.loads(waited), streamed

    with running("conversation_agent.py", tmp_path, MODE="threads") as (base, _):
        thread, waited, streamed = asyncio.run(drive(base))
    assert waited["messages"][-1] == {
        "type": "ai",
        "content": f"[{thread}] you said: hi",
        "id": waited["messages"][-1]["id"],
    }
    events = [block.split("\n") for block in streamed.strip().split("\n\n")]
    assert [e[0] for e in events] == ["event: metadata", "event: values", "event: values"]
    final = json.loads(events[-1][1].removeprefix("data: "))
    assert [m["content"] for m in final["messages"]] == [
        "hi",
        f"[{thread}] you said: hi",
        "more",
        f"[{thread}] you said: more",
    ]


def test_ndjson_and_token_modes(tmp_path: Path) -> None:
    async def ndjson(base: str) -> str:
        async with aiohttp.ClientSession() as http:
            _, text = await _post(http, base + "/conversations")
            url = f"{base}/conversations/{json.loads(text)['conversation_id']}/messages"
            _, body = await _post(http, url, {"message": "one two"})
            return "".join(json.loads(line)["token"] for line in body.splitlines())

    async def token(base: str) -> list[int]:
        async with aiohttp.ClientSession() as http:
            statuses = [(await _post(http, base + "/conversations"))[0]]
            _, text = await _post(http, base + "/token", {"client": "t"})
            auth = {"Authorization": f"Bearer {json.loads(text)['access_token']}"}
            status, text = await _post(http, base + "/conversations", headers=auth)
            url = f"{base}/conversations/{json.loads(text)['conversation_id']}/messages"
            statuses += [status, (await _post(http, url, {"message": "hi"}, headers=auth))[0]]
            statuses.append((await _post(http, url, {"message": "hi"}))[0])
            return statuses

    with running("conversation_agent.py", tmp_path, MODE="ndjson") as (base, _):
        assert asyncio.run(ndjson(base)).endswith("] you said: one two")
    with running("conversation_agent.py", tmp_path, MODE="token") as (base, _):
        assert asyncio.run(token(base)) == [401, 201, 200, 401]


@pytest.mark.parametrize("stream", [False, True])
def test_openai_agent_calls_lookup_order_then_quotes_its_result(
    tmp_path: Path, stream: bool
) -> None:
    def joined(text: str) -> dict[str, Any]:
        """The streamed chunks folded into one message, as an OpenAI client folds them."""
        message: dict[str, Any] = {"content": "", "tool_calls": []}
        finish = None
        for line in text.splitlines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choice = json.loads(line.removeprefix("data: "))["choices"][0]
            delta, finish = choice["delta"], choice["finish_reason"] or finish
            message["content"] += delta.get("content") or ""
            for call in delta.get("tool_calls", []):
                if "id" in call:
                    message["tool_calls"].append({**call, "function": dict(call["function"])})
                else:
                    message["tool_calls"][call["index"]]["function"]["arguments"] += call[
                        "function"
                    ]["arguments"]
        return {"message": message, "finish_reason": finish}

    async def drive(base: str) -> tuple[dict[str, Any], dict[str, Any]]:
        history: list[dict[str, Any]] = [{"role": "user", "content": "refund order #42 please"}]
        async with aiohttp.ClientSession() as http:
            url = base + "/v1/chat/completions"
            body = {"model": "m", "messages": history, "stream": stream, "user": "u1"}
            _, text = await _post(http, url, body)
            first = joined(text) if stream else json.loads(text)["choices"][0]
            call = first["message"]["tool_calls"][0]
            history.append({"role": "assistant", "content": None, "tool_calls": [call]})
            result = json.dumps({"order_id": "42", "status": "delivered"})
            history.append({"role": "tool", "tool_call_id": call["id"], "content": result})
            _, text = await _post(http, url, body)
            second = joined(text) if stream else json.loads(text)["choices"][0]
            return first, second

    with running("openai_agent.py", tmp_path) as (base, log):
        first, second = asyncio.run(drive(base))
        records = read(log)
    assert first["finish_reason"] == "tool_calls"
    call = first["message"]["tool_calls"][0]
    assert call["function"]["name"] == "lookup_order"
    assert json.loads(call["function"]["arguments"]) == {"order_id": "42"}
    assert second["finish_reason"] == "stop"
    assert '"status": "delivered"' in second["message"]["content"]
    assert call["id"] in second["message"]["content"]
    assert records[1]["body"]["messages"][-1]["role"] == "tool"
    assert {r["conversation"] for r in records} == {"u1"}
