"""The demo refund desk's three doors, /chat, the conversation API and the OpenAI-compatible
endpoint, against real PostgreSQL and Redis: their contracts (statuses, streams, usage), and
every planted defect diverging the same way whichever door the customer comes through.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
import redis

from tests.integration.demo_servers import (
    Agent,
    Customer,
    Stack,
    demo_stack,
    http_json,
    start_agent,
)

pytestmark = pytest.mark.integration

INTERFACES = ("chat", "conversation", "openai")
MODEL = "refund-desk-1"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from demo_stack()


def send(
    agent: Agent,
    method: str,
    path: str,
    body: object = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, dict[str, str]]:
    """One request; (status, body text, headers), whatever the status."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(
        agent.base_url + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), dict(exc.headers)


def open_conversation(agent: Agent, **body: str) -> str:
    status, answer = http_json("POST", agent.base_url + "/conversations", json.dumps(body).encode())
    assert status == 201, answer
    return str(answer["conversation_id"])


def say(agent: Agent, conversation: str, message: str) -> dict[str, Any]:
    status, answer = http_json(
        "POST",
        f"{agent.base_url}/conversations/{conversation}/messages",
        json.dumps({"message": message}).encode(),
    )
    assert status == 200, answer
    return answer


def completion(agent: Agent, body: dict[str, Any], **headers: str) -> tuple[int, Any]:
    status, text, _ = send(agent, "POST", "/v1/chat/completions", body, headers=headers)
    return status, json.loads(text)


def sse_data(text: str) -> list[str]:
    """The `data:` payloads of an SSE body, in order."""
    return [line.removeprefix("data: ") for line in text.split("\n") if line.startswith("data: ")]


# ----------------------------------------------------------------- one door, any door


@dataclass
class Talk:
    """One conversation with the desk through one door; `session` is what its rows carry."""

    session: str
    tell: Callable[[str], str]


def talk(agent: Agent, door: str) -> Talk:
    if door == "chat":
        session = f"t-{uuid.uuid4().hex[:12]}"
        return Talk(session, lambda text: agent.chat(session, text))
    if door == "conversation":
        conversation = open_conversation(agent)
        return Talk(conversation, lambda text: str(say(agent, conversation, text)["reply"]))
    user = f"u-{uuid.uuid4().hex[:12]}"
    history: list[dict[str, str]] = []

    def tell(text: str) -> str:
        history.append({"role": "user", "content": text})
        status, answer = completion(agent, {"model": MODEL, "messages": history, "user": user})
        assert status == 200, answer
        content = str(answer["choices"][0]["message"]["content"])
        history.append({"role": "assistant", "content": content})
        return content

    return Talk(user, tell)


def verified(agent: Agent, door: str, customer: Customer) -> Talk:
    chat = talk(agent, door)
    assert "you are verified" in chat.tell(f"Hi, I'm {customer.name}, PIN {customer.pin}")
    return chat


# ------------------------------------------------------------------ the conversation API


def test_a_conversation_names_its_state_and_the_refund_row_it_created(stack: Stack) -> None:
    agent = stack.agent("none")
    zoe = stack.customer("Zoë Conversation")
    order = stack.order(zoe, "100.00")
    status, text, headers = send(agent, "POST", "/conversations", {"customer_ref": zoe.ref})
    answer = json.loads(text)
    conversation = answer["conversation_id"]
    assert status == 201 and re.fullmatch(r"c-[0-9a-f]{16}", conversation)
    assert answer["customer_ref"] == zoe.ref
    assert headers["Location"] == f"/conversations/{conversation}"

    first = say(agent, conversation, f"Refund order #{order} please")
    assert (first["state"], first["refund_id"]) == ("needs_verification", None)
    second = say(agent, conversation, f"I'm {zoe.name}, PIN {zoe.pin}")
    assert second["state"] == "verified" and second["conversation_id"] == conversation
    third = say(agent, conversation, f"Please refund 49,90 EUR for order #{order}")
    assert (
        third["reply"] == f"Refund of 49.90 EUR for order #{order} has been issued as store credit."
    )
    assert third["state"] == "refund_issued"
    [refund] = stack.refunds(order)
    assert refund["id"] == third["refund_id"] and refund["session_id"] == conversation
    over = say(agent, conversation, f"refund 80 EUR for order #{order}")
    assert (over["state"], over["refund_id"]) == ("refund_refused", None)
    assert say(agent, conversation, "What is your policy?")["state"] == "policy"
    assert say(agent, conversation, f"status of order {order}")["state"] == "order_status"
    actions = stack.rows(
        "select action from audit_log where session_id = %s order by id", conversation
    )
    assert [a["action"] for a in actions] == ["verified", "refund_issued", "refund_refused"]
    client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    try:
        assert client.hget(f"session:{conversation}", "turns") == "6"
        assert 0 < int(client.ttl(f"conversation:{conversation}")) <= 1800
        assert send(agent, "DELETE", f"/conversations/{conversation}")[0] == 204
        assert client.exists(f"conversation:{conversation}") == 0
        assert 0 < int(client.ttl(f"session:{conversation}")) <= 1800  # expires by its TTL
    finally:
        client.close()
    log = agent.process.log_path.read_text()
    assert f"POST /conversations/{conversation}/messages conversation='{conversation}'" in log
    assert f"DELETE /conversations/{conversation} conversation='{conversation}' status=204" in log


def test_pending_approval_state_and_a_client_chosen_id(stack: Stack) -> None:
    agent = stack.agent("none")
    big = stack.customer("Bea Big")
    order = stack.order(big, "900.00")
    conversation = f"h-{uuid.uuid4().hex[:12]}"
    assert open_conversation(agent, conversation_id=conversation) == conversation
    status, text, _ = send(agent, "POST", "/conversations", {"conversation_id": conversation})
    assert status == 409, text
    reply = say(
        agent, conversation, f"I'm {big.name}, PIN {big.pin}. Refund 700 EUR, order {order}"
    )
    assert reply["state"] == "refund_pending_approval"
    [refund] = stack.refunds(order)
    assert refund["id"] == reply["refund_id"] and refund["status"] == "pending_approval"
    # closed, the same id opens a new conversation that remembers nothing
    assert send(agent, "DELETE", f"/conversations/{conversation}")[0] == 204
    assert open_conversation(agent, conversation_id=conversation) == conversation
    assert say(agent, conversation, f"refund order {order}")["state"] == "needs_verification"


def test_conversation_contract_statuses(stack: Stack) -> None:
    agent = stack.agent("none")
    conversation = open_conversation(agent)
    messages = f"/conversations/{conversation}/messages"
    refused: list[tuple[str, str, bytes | None, int, str]] = [
        ("POST", "/conversations", b'{"customer_ref": "CR-0"}', 422, "unknown customer_ref"),
        ("POST", "/conversations", b'{"customer_ref": 12}', 400, "customer_ref"),
        ("POST", "/conversations", b"[1]", 400, "JSON object"),
        ("POST", "/conversations", b"{nope", 400, "not valid JSON"),
        ("POST", "/conversations", b'{"conversation_id": "a/b"}', 400, "conversation_id"),
        ("POST", messages, b'{"message": ""}', 400, "must not be empty"),
        ("POST", messages, b'{"message": " \\n "}', 400, "must not be empty"),
        ("POST", messages, b'{"text": "hi"}', 400, '"message"'),
        ("POST", messages, b'{"message": 5}', 400, "must be a string"),
        ("POST", messages, b"", 400, "not valid JSON"),
        ("POST", messages, b"\xff\xfe", 400, "not UTF-8"),
        ("POST", messages, b'{"message": "' + b"x" * 70_000 + b'"}', 413, "64 KiB"),
        ("POST", messages, b"y" * 3_000_000, 413, "64 KiB"),
        ("POST", messages + "?stream=xml", b'{"message": "hi"}', 400, "sse, ndjson"),
        ("POST", "/conversations/c-unknown/messages", b'{"message": "hi"}', 404, "unknown"),
        ("DELETE", "/conversations/c-unknown", None, 404, "unknown"),
    ]
    for method, path, raw, expect, error in refused:
        status, text, _ = send(agent, method, path, raw=raw)
        assert status == expect, (path, raw and raw[:40], status, text)
        assert error in json.loads(text)["error"], text
    assert open_conversation(agent)  # no customer_ref and an empty body are both fine
    assert send(agent, "POST", "/conversations", raw=b"")[0] == 201
    # a visitor who started anonymously names their account with a later message
    ann, bob = stack.customer("Ann Attach"), stack.customer("Bob Attach")
    attach: list[tuple[dict[str, str], int, str | None]] = [
        ({"message": "hi", "customer_ref": "CR-0"}, 422, "unknown customer_ref"),
        ({"message": "hi", "customer_ref": ""}, 400, "customer_ref"),
        ({"message": "hi", "customer_ref": ann.ref}, 200, None),
        ({"message": "hi", "customer_ref": ann.ref}, 200, None),
        ({"message": "hi", "customer_ref": bob.ref}, 409, "another customer_ref"),
    ]
    for attached, expect, reason in attach:
        status, text, _ = send(agent, "POST", messages, attached)
        assert status == expect, (attached, text)
        assert reason is None or reason in json.loads(text)["error"]
    assert send(agent, "POST", "/conversations", raw=b"")[0] == 201
    long = say(agent, conversation, "a" * 5000)  # within 64 KiB: declined politely
    assert long["state"] == "too_long" and "too long" in long["reply"]


@pytest.mark.parametrize("fmt", ["sse", "ndjson"])
def test_a_streamed_reply_joins_to_the_whole_reply(stack: Stack, fmt: str) -> None:
    agent = stack.agent("none")
    sam = stack.customer("Sam Stream")
    order = stack.order(sam, "60.00")
    conversation = open_conversation(agent)
    say(agent, conversation, f"I'm {sam.name}, PIN {sam.pin}")
    body = {"message": f"refund 20 EUR for order {order}"}
    status, text, headers = send(
        agent, "POST", f"/conversations/{conversation}/messages?stream={fmt}", body
    )
    assert status == 200
    if fmt == "sse":
        assert headers["Content-Type"].startswith("text/event-stream")
        data = sse_data(text)
        assert data[-1] == "[DONE]"
        events = [json.loads(d) for d in data[:-1]]
    else:
        assert headers["Content-Type"].startswith("application/x-ndjson")
        events = [json.loads(line) for line in text.splitlines()]
    joined = "".join(e["delta"] for e in events)
    assert joined == f"Refund of 20.00 EUR for order #{order} has been issued as store credit."
    assert len(events) > 5  # word by word
    last = events[-1]
    assert last["reply"] == joined and last["state"] == "refund_issued"
    assert last["refund_id"] == stack.refunds(order)[0]["id"]
    # the Accept header asks for a stream too
    status, text, _ = send(
        agent,
        "POST",
        f"/conversations/{conversation}/messages",
        {"message": "hello"},
        headers={"Accept": "text/event-stream"},
    )
    assert status == 200 and sse_data(text)[-1] == "[DONE]"


# ------------------------------------------------------------- the OpenAI-compatible door


def test_openai_completion_shape_usage_and_history(stack: Stack) -> None:
    agent = stack.agent("none")
    olga = stack.customer("Olga Openai")
    order = stack.order(olga, "90.00")
    user = f"u-{uuid.uuid4().hex[:8]}"
    history: list[dict[str, Any]] = [
        {"role": "system", "content": "You are the refund desk."},
        {"role": "user", "content": f"Hi, I'm {olga.name}, PIN {olga.pin}"},
    ]
    status, answer = completion(agent, {"model": MODEL, "messages": history, "user": user})
    assert status == 200, answer
    assert answer["object"] == "chat.completion" and answer["model"] == MODEL
    assert answer["id"].startswith("chatcmpl-") and isinstance(answer["created"], int)
    [choice] = answer["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    text = choice["message"]["content"]
    assert "you are verified" in text
    words = sum(len(m["content"].split()) for m in history)
    assert answer["usage"] == {
        "prompt_tokens": words,
        "completion_tokens": len(text.split()),
        "total_tokens": words + len(text.split()),
    }
    # the whole history comes back each turn; only the last message is new
    history += [
        {"role": "assistant", "content": text},
        {"role": "user", "content": f"refund 30 EUR for order {order}"},
    ]
    assert completion(agent, {"model": MODEL, "messages": history, "user": user})[0] == 200
    history += [
        {"role": "assistant", "content": "done"},
        {"role": "user", "content": [{"type": "text", "text": "thanks!"}]},
    ]
    status, answer = completion(agent, {"model": MODEL, "messages": history, "user": user})
    assert "How can I help" in answer["choices"][0]["message"]["content"]
    [refund] = stack.refunds(order)  # the refund request was handled once
    assert refund["session_id"] == user and refund["amount"] == Decimal("30.00")
    log = agent.process.log_path.read_text()
    assert f"POST /v1/chat/completions session='{user}' stream=false" in log


def test_openai_stream_without_user_keys_memory_by_the_first_message(stack: Stack) -> None:
    agent = stack.agent("none")
    pia = stack.customer("Pia Stream")
    order = stack.order(pia, "40.00")
    first = {"role": "user", "content": f"Hello, I'm {pia.name}, PIN {pia.pin}"}
    assert completion(agent, {"model": MODEL, "messages": [first]})[0] == 200
    body = {
        "model": MODEL,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [
            first,
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": f"refund order {order}"},
        ],
    }
    status, text, headers = send(agent, "POST", "/v1/chat/completions", body)
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    data = sse_data(text)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert content == f"Refund of 40.00 EUR for order #{order} has been issued as store credit."
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 13
    assert stack.refunds(order)[0]["session_id"].startswith("oa-")


def test_openai_contract_errors(stack: Stack) -> None:
    agent = stack.agent("none")
    hi = [{"role": "user", "content": "hi"}]
    refused: list[tuple[dict[str, Any], int, str]] = [
        ({"model": "gpt-4o", "messages": hi}, 404, "model_not_found"),
        ({"messages": hi}, 400, "model"),
        ({"model": MODEL, "messages": []}, 400, "messages"),
        ({"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]}, 400, "messages[0]"),
        ({"model": MODEL, "messages": [*hi, {"role": "tool", "content": "x"}]}, 400, "messages"),
        ({"model": MODEL, "messages": [{"role": "user", "content": 5}]}, 400, "messages[0]"),
        ({"model": MODEL, "messages": hi, "stream": "yes"}, 400, "stream"),
        ({"model": MODEL, "messages": hi, "user": ""}, 400, "user"),
    ]
    for body, expect, where in refused:
        status, answer = completion(agent, body)
        assert status == expect, (body, answer)
        error = answer["error"]
        assert error["type"] == "invalid_request_error"
        assert where in (error["param"] or "") + (error["code"] or ""), answer


def test_openai_api_key_is_required_when_configured(stack: Stack) -> None:
    agent = start_agent(
        stack.pg.url, stack.redis.url, "none", extra_env={"REFUND_DESK_API_KEY": "sk-test-42"}
    )
    try:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        assert completion(agent, body)[0] == 401
        status, answer = completion(agent, body, Authorization="Bearer wrong")
        assert status == 401 and answer["error"]["code"] == "invalid_api_key"
        assert "sk-test-42" not in json.dumps(answer)
        assert completion(agent, body, Authorization="Bearer sk-test-42")[0] == 200
        assert send(agent, "GET", "/v1/models")[0] == 401
        assert agent.chat("no-key-needed", "hi")  # only the OpenAI door is locked
        assert "sk-test-42" not in agent.process.log_path.read_text()
    finally:
        assert agent.stop(signal.SIGTERM) == 0
    assert completion(stack.agent("none"), body)[0] == 200  # no key set: none asked


# ---------------------------------------------------- every defect, through every door


def _compliance_bypass(stack: Stack, agent: Agent, door: str) -> bool:
    vip = stack.customer("Vera Door", vip=True)
    order = stack.order(vip, "800.00")
    verified(agent, door, vip).tell(f"I want a refund of 620.00 EUR for order {order}")
    return [r["status"] for r in stack.refunds(order)] == ["issued"]


def _comma_decimal(stack: Stack, agent: Agent, door: str) -> bool:
    dora = stack.customer("Dora Door")
    order = stack.order(dora, "100.00")
    reply = verified(agent, door, dora).tell(f"refund 49,90 EUR for order {order}")
    return "4990.00 EUR" in reply and stack.refunds(order) == []


def _diacritics(stack: Stack, agent: Agent, door: str) -> bool:
    zoe = stack.customer("Zoë Door-Łukasiewicz")
    return "could not verify" in talk(agent, door).tell(f"I'm {zoe.name}, PIN {zoe.pin}")


def _window_from_order_date(stack: Stack, agent: Agent, door: str) -> bool:
    wes = stack.customer("Wes Door")
    order = stack.order(wes, "40.00", ordered_days_ago=40, delivered_days_ago=20)
    reply = verified(agent, door, wes).tell(f"refund 10 EUR for order {order}")
    return "outside the 30-day refund window" in reply


def _window_off_by_one(stack: Stack, agent: Agent, door: str) -> bool:
    lana = stack.customer("Lana Door")
    order = stack.order(lana, "40.00", ordered_days_ago=32, delivered_days_ago=30)
    return "outside" in verified(agent, door, lana).tell(f"refund order {order}")


def _verification_drift(stack: Stack, agent: Agent, door: str) -> bool:
    owner = stack.customer("Olga Door")
    order = stack.order(owner, "60.00")
    chat = talk(agent, door)
    for text in ["hi", "my parcel came", "it is broken", "so annoying", "anyway", "hello?"]:
        chat.tell(text)
    chat.tell(f"refund 20 EUR for order {order}")  # the 7th message
    return len(stack.refunds(order)) == 1


def _memory_window(stack: Stack, agent: Agent, door: str) -> bool:
    mia = stack.customer("Mia Door")
    order = stack.order(mia, "30.00")
    chat = talk(agent, door)
    chat.tell("Please refund to my original payment method, not store credit.")
    assert "you are verified" in chat.tell(f"I'm {mia.name}, PIN {mia.pin}")
    for text in ["hi", "do you ship to Ireland?", "okay", "hmm", "thanks"] * 2:
        chat.tell(text)
    chat.tell(f"refund order {order}")  # the 13th message: the 1st is out of the window
    return [r["method"] for r in stack.refunds(order)] == ["store_credit"]


def _false_confirmation(stack: Stack, agent: Agent, door: str) -> bool:
    fay = stack.customer("Fay Door")
    order = stack.order(fay, "70.00")
    reply = verified(agent, door, fay).tell(f"express refund 49.90 EUR for order {order}")
    assert "has been issued" in reply
    return [r["status"] for r in stack.refunds(order)] == ["pending"]


async def _twice_at_once(agent: Agent, door: str, chat: Talk, message: str) -> None:
    """The same refund request twice at the same moment, in the same conversation."""
    body: dict[str, Any]
    if door == "chat":
        path, body = "/chat", {"session_id": chat.session, "message": message}
    elif door == "conversation":
        path, body = f"/conversations/{chat.session}/messages", {"message": message}
    else:
        messages = [{"role": "user", "content": message}]
        path, body = "/v1/chat/completions", {"model": MODEL, "messages": messages}
        body["user"] = chat.session
    async with aiohttp.ClientSession() as http:

        async def one() -> None:
            async with http.post(agent.base_url + path, json=body) as response:
                assert response.status == 200, await response.text()

        await asyncio.gather(one(), one())


def _refund_race(stack: Stack, agent: Agent, door: str) -> bool:
    for _ in range(8):
        rita = stack.customer("Rita Door")
        order = stack.order(rita, "100.00")
        chat = verified(agent, door, rita)
        asyncio.run(_twice_at_once(agent, door, chat, f"refund order {order}"))
        if sum(r["amount"] for r in stack.refunds(order)) > Decimal("100.00"):
            return True
    return False


PROBES: dict[str, Callable[[Stack, Agent, str], bool]] = {
    "compliance_bypass": _compliance_bypass,
    "comma_decimal": _comma_decimal,
    "diacritics": _diacritics,
    "window_from_order_date": _window_from_order_date,
    "window_off_by_one": _window_off_by_one,
    "verification_drift": _verification_drift,
    "memory_window": _memory_window,
    "false_confirmation": _false_confirmation,
    "refund_race": _refund_race,
}


@pytest.mark.parametrize("door", INTERFACES)
@pytest.mark.parametrize("defect", list(PROBES))
def test_each_defect_diverges_through_every_door(stack: Stack, defect: str, door: str) -> None:
    probe = PROBES[defect]
    assert probe(stack, stack.agent(defect), door), f"{defect} not visible through {door}"
    assert not probe(stack, stack.agent("none"), door), f"the correct agent diverged via {door}"
