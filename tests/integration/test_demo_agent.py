"""The demo refund desk against real PostgreSQL and Redis, through HTTP and SQL.

For every planted defect: the correct agent (REFUND_DESK_DEFECTS=none) does what the spec
says and the agent with only that defect switched on diverges, visibly in the database.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import unicodedata
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Literal

import aiohttp
import pytest
import redis

from fixtures.refund_desk.defects import KNOWN_DEFECTS
from tests.integration.demo_servers import (
    REPO_ROOT,
    Agent,
    Customer,
    Stack,
    agent_env,
    demo_stack,
    start_agent,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from demo_stack()


def new_session() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def verified_session(agent: Agent, customer: Customer) -> str:
    session = new_session()
    reply = agent.chat(session, f"Hi, I'm {customer.name}, PIN {customer.pin}")
    assert "you are verified" in reply, reply
    return session


# ------------------------------------------------------------------ process and HTTP


def test_unknown_defect_exits_2_naming_the_known_ones() -> None:
    env = agent_env("postgresql://nowhere", "redis://nowhere", 1, "compliance_bypass,typo")
    done = subprocess.run(
        [sys.executable, "-m", "fixtures.refund_desk.agent"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "typo" in done.stderr and "refund_race" in done.stderr


def test_script_form_defaults_to_all_defects_and_stops_on_sigint(stack: Stack) -> None:
    agent = start_agent(stack.pg.url, stack.redis.url, None, as_script=True)
    try:
        status, body = agent.get("/health")
        assert status == 200 and body["status"] == "ok"
        assert body["defects"] == list(KNOWN_DEFECTS)
    finally:
        assert agent.stop(signal.SIGINT) == 0


def test_health_and_clean_exit_on_sigterm(stack: Stack) -> None:
    agent = start_agent(stack.pg.url, stack.redis.url, "none")
    try:
        assert agent.get("/health") == (200, {"status": "ok", "defects": []})
    finally:
        assert agent.stop(signal.SIGTERM) == 0


def test_bad_requests_get_400(stack: Stack) -> None:
    agent = stack.agent("none")
    bodies = [
        b"{not json",
        b"\xff\xfe garbage",
        b"[1, 2]",
        b'{"message": "hi"}',
        b'{"session_id": "s"}',
        b'{"session_id": "", "message": "hi"}',
        b'{"session_id": 12, "message": "hi"}',
        b'{"session_id": "s", "message": 42}',
        b'{"session_id": "bad\\u0000id", "message": "hi"}',
    ]
    for body in bodies:
        status, answer = agent.post_raw("/chat", body)
        assert status == 400, (body, status, answer)
        assert "error" in answer


def test_hostile_text_never_gets_a_500(stack: Stack) -> None:
    agent = stack.agent("none")
    messages = [
        "",
        "   ",
        "💥🔥" * 500,
        "a" * 100_000,
        "9" * 5000 + " EUR refund order 1",
        "'; DROP TABLE refunds; --",
        "I'm Robert'); DROP TABLE customers;--, PIN 1234",
        "refund order 99999999999999999999999 please",
        "refund order #9223372036854775808 99999999999999999999 EUR",
        "refund 1e309 EUR for order 1",
        "refund 1.2.3,4 EUR for order 1",
        "nul \x00 byte, PIN 0000, I am \x00",
        "مرحبا، أريد استرداد الطلب ١٢٣",
        unicodedata.normalize("NFD", "Ich bin Zoë Müller, PIN 99999, refund"),
        "status where is how long policy return refund express #",
        "\u202e\u200b\u2028",
    ]
    hal = stack.customer("Hal Hostile")
    order = stack.order(hal, "10.00")
    messages += [f"refund 1e309 EUR for order {order}", f"refund -5 EUR for order {order}"]
    messages += [f"refund 0,00 EUR for order {order}", f"refund 5 USD for order {order}"]
    for session in (new_session(), verified_session(agent, hal)):
        for message in messages:
            reply = agent.chat(session, message)
            assert reply.strip(), message[:40]
    status, body = agent.post_raw("/chat", b'{"session_id": "h1", "message": "\\ud800 refund"}')
    assert status == 200 and isinstance(body["reply"], str)
    assert stack.rows("select count(*) as n from refunds where order_id = %s", order)[0]["n"] <= 1
    assert "Traceback" not in agent.process.log_path.read_text()  # nothing was swallowed


# --------------------------------------------------------------- correct behaviour


def test_identification_across_two_messages_then_refund(stack: Stack) -> None:
    agent = stack.agent("none")
    zoe = stack.customer("Zoë Müller")
    order = stack.order(zoe, "100.00")
    session = new_session()
    assert "PIN" in agent.chat(session, "Hello, my name is Zoë Müller")
    assert "you are verified" in agent.chat(session, f"my PIN is {zoe.pin}")
    reply = agent.chat(session, f"Please refund 49.90 EUR for order #{order}")
    assert reply == f"Refund of 49.90 EUR for order #{order} has been issued as store credit."
    [refund] = stack.refunds(order)
    assert refund["status"] == "issued" and refund["amount"] == Decimal("49.90")
    assert refund["issued_at"] is not None and refund["session_id"] == session
    actions = [row["action"] for row in stack.audit(session)]
    assert actions == ["verified", "refund_issued"]

    other = new_session()  # PIN first, then the name; and one wrong attempt
    assert "full name" in agent.chat(other, f"PIN: {zoe.pin}")
    assert "could not verify" in agent.chat(other, "I am Zoe Muller")  # no diacritics: no match
    assert [row["action"] for row in stack.audit(other)] == ["verification_failed"]

    walter = stack.customer("Dipl.-Ing. Walter Oderwald B.A.")  # titles carry periods
    reply = agent.chat(new_session(), f"Hi, this is {walter.name}, my PIN is {walter.pin}.")
    assert reply == f"Thank you, {walter.name}, you are verified. How can I help?"

    client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    try:
        ttl = client.ttl(f"session:{session}")
        assert 0 < int(ttl) <= 1800
        assert client.hget(f"session:{session}", "turns") == "3"
    finally:
        client.close()


def test_refund_rules_and_other_intents(stack: Stack) -> None:
    agent = stack.agent("none")
    ann = stack.customer("Ann Lee")
    mine = stack.order(ann, "80.00")
    shipped = stack.order(ann, "30.00", status="shipped", delivered_days_ago=None)
    not_mine = stack.order(stack.customer("Bob Stone"), "50.00")
    anon = new_session()
    assert "full name and PIN" in agent.chat(anon, f"refund order {mine}")  # RD-001
    assert "full name and PIN" in agent.chat(anon, f"what is the status of order {mine}")
    assert stack.refunds(mine) == []

    session = verified_session(agent, ann)
    assert agent.chat(session, f"status of order {mine}") == f"Order #{mine} is delivered."
    assert agent.chat(session, f"refund order {not_mine}") == (
        f"I cannot find order #{not_mine} on your account."
    )
    assert "not been delivered" in agent.chat(session, f"refund order #{shipped}")
    reply = agent.chat(session, f"refund 80,01 EUR for order no. {mine}")
    assert "exceeds the refundable amount of 80.00 EUR" in reply
    assert agent.chat(session, f"refund order {mine}") == (
        f"Refund of 80.00 EUR for order #{mine} has been issued as store credit."
    )
    assert "30 days" in agent.chat(session, "What is your refund policy?")
    assert "How can I help" in agent.chat(session, "thanks!")
    actions = [(row["action"], row["order_id"]) for row in stack.audit(session)]
    assert actions == [
        ("verified", None),
        ("refund_refused", shipped),
        ("refund_refused", mine),
        ("refund_issued", mine),
    ]


def test_rate_limit_refuses_the_sixth_request(stack: Stack) -> None:
    agent = stack.agent("none")
    cal = stack.customer("Cal Rivers")
    order = stack.order(cal, "100.00")
    session = verified_session(agent, cal)
    for _ in range(5):
        assert "has been issued" in agent.chat(session, f"refund 1 EUR for order {order}")
    assert "too many refund requests" in agent.chat(session, f"refund 1 EUR for order {order}")
    assert len(stack.refunds(order)) == 5
    client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    try:
        assert client.get(f"ratelimit:refunds:{cal.id}") == "6"
        assert 0 < int(client.ttl(f"ratelimit:refunds:{cal.id}")) <= 3600
    finally:
        client.close()


# ------------------------------------------------------------------ planted defects


def test_compliance_bypass(stack: Stack) -> None:
    for defects, expect_bypass in (("none", False), ("compliance_bypass", True)):
        agent = stack.agent(defects)
        vip = stack.customer("Vera Important", vip=True)
        order = stack.order(vip, "800.00")
        session = verified_session(agent, vip)
        reply = agent.chat(session, f"I want a refund of 620.00 EUR for order {order}")
        [refund] = stack.refunds(order)
        if expect_bypass:
            assert "has been issued" in reply
            assert refund["status"] == "issued" and stack.approvals(order) == []
        else:
            assert (
                reply == f"Your refund of 620.00 EUR for order #{order} is pending compliance "
                "approval; once approved it will be paid as store credit."
            )
            assert refund["status"] == "pending_approval" and refund["issued_at"] is None
            [approval] = stack.approvals(order)
            assert approval["status"] == "requested"
    # Ordinary customers still go through compliance with the defect on.
    agent = stack.agent("compliance_bypass")
    plain = stack.customer("Paul Plain")
    order = stack.order(plain, "800.00")
    assert "pending compliance approval" in agent.chat(
        verified_session(agent, plain), f"refund 620 EUR for order {order}"
    )


def test_comma_decimal(stack: Stack) -> None:
    for defects in ("none", "comma_decimal"):
        agent = stack.agent(defects)
        dora = stack.customer("Dora Komma")
        order = stack.order(dora, "100.00")
        reply = agent.chat(verified_session(agent, dora), f"refund 49,90 EUR for order {order}")
        refunds = stack.refunds(order)
        if defects == "none":
            assert (
                reply == f"Refund of 49.90 EUR for order #{order} has been issued as store credit."
            )
            assert [r["amount"] for r in refunds] == [Decimal("49.90")]
        else:
            assert "4990.00 EUR" in reply and refunds == []
    agent = stack.agent("none")
    big = stack.customer("Dora Gross")
    order = stack.order(big, "2000.00")
    session = verified_session(agent, big)
    assert "1234.50 EUR" in agent.chat(session, f"refund 1.234,50 EUR for order {order}")
    assert [r["amount"] for r in stack.refunds(order)] == [Decimal("1234.50")]


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_diacritics(stack: Stack, form: Literal["NFC", "NFD"]) -> None:
    name = "Zoë Müller-Łukasiewicz"
    for defects in ("none", "diacritics"):
        agent = stack.agent(defects)
        zoe = stack.customer(name)
        typed = unicodedata.normalize(form, f"I'm {name.upper()}, PIN {zoe.pin}")
        reply = agent.chat(new_session(), typed)
        if defects == "none":
            assert "you are verified" in reply
        else:
            assert "could not verify" in reply
    agent = stack.agent("diacritics")  # plain ASCII names still work with the defect on
    john = stack.customer("John O'Neil-Smith")
    assert "you are verified" in agent.chat(
        new_session(), f"this is John O'Neil-Smith, PIN {john.pin}"
    )


def test_window_from_order_date(stack: Stack) -> None:
    for defects in ("none", "window_from_order_date"):
        agent = stack.agent(defects)
        wes = stack.customer("Wes Late")
        order = stack.order(wes, "40.00", ordered_days_ago=40, delivered_days_ago=20)
        reply = agent.chat(verified_session(agent, wes), f"refund 10 EUR for order {order}")
        if defects == "none":
            assert "has been issued" in reply and len(stack.refunds(order)) == 1
        else:
            assert "outside the 30-day refund window" in reply and stack.refunds(order) == []
    agent = stack.agent("none")  # the 30th day after delivery is in, the 31st out
    edge = stack.customer("Eddie Edge")
    day30 = stack.order(edge, "40.00", ordered_days_ago=35, delivered_days_ago=30)
    day31 = stack.order(edge, "40.00", ordered_days_ago=35, delivered_days_ago=31)
    session = verified_session(agent, edge)
    assert "has been issued" in agent.chat(session, f"refund order {day30}")
    assert "outside the 30-day refund window" in agent.chat(session, f"refund order {day31}")
    assert stack.refunds(day31) == []
    assert stack.audit(session)[-1]["action"] == "refund_refused"


def test_window_off_by_one(stack: Stack) -> None:
    for defects in ("none", "window_off_by_one"):
        agent = stack.agent(defects)
        last = stack.customer("Lana Lastday")
        day30 = stack.order(last, "40.00", ordered_days_ago=32, delivered_days_ago=30)
        day29 = stack.order(last, "40.00", ordered_days_ago=32, delivered_days_ago=29)
        session = verified_session(agent, last)
        assert "has been issued" in agent.chat(session, f"refund order {day29}")
        reply = agent.chat(session, f"refund order {day30}")
        if defects == "none":
            assert "has been issued" in reply and len(stack.refunds(day30)) == 1
        else:
            assert "outside the 30-day refund window" in reply and stack.refunds(day30) == []


def test_verification_drift(stack: Stack) -> None:
    small_talk = ["hi", "my parcel came", "it is broken", "so annoying", "anyway", "hello?"]
    for defects in ("none", "verification_drift"):
        agent = stack.agent(defects)
        owner = stack.customer("Olga Owner")
        order = stack.order(owner, "60.00")
        session = new_session()
        assert "full name and PIN" in agent.chat(session, f"refund order {order}")  # turn 1
        for text in small_talk[1:]:  # turns 2..6
            agent.chat(session, text)
        reply = agent.chat(session, f"refund 20 EUR for order {order}")  # turn 7
        if defects == "none":
            assert "full name and PIN" in reply and stack.refunds(order) == []
        else:
            assert "has been issued" in reply and len(stack.refunds(order)) == 1


FILLER = ["hello?", "do you ship to Ireland?", "okay", "is there a mobile app?", "hmm", "thanks"]


def _method_after(
    stack: Stack, agent: Agent, customer: Customer, order: int, filler: int
) -> tuple[str, str]:
    """The preference at message 1, verification at 2, `filler` messages, the refund at
    filler + 3: the method on the refund row, and the session."""
    session = new_session()
    noted = agent.chat(session, "Whatever happens, refund to my original card, not store credit.")
    assert noted.startswith("Noted: your refund will go back to your original payment method.")
    assert "you are verified" in agent.chat(session, f"I'm {customer.name}, PIN {customer.pin}")
    for i in range(filler):
        agent.chat(session, FILLER[i % len(FILLER)])
    reply = agent.chat(session, f"Please refund order #{order}")
    [refund] = stack.refunds(order)
    where = "to your original payment method" if refund["method"] == "original_payment" else ""
    assert (where or "as store credit") in reply, reply
    return str(refund["method"]), session


def test_memory_window(stack: Stack) -> None:
    """Both agents keep a context window of the last 24 messages (both sides) in Redis; only
    with memory_window is the refund method read back from it, so a preference stated at
    message 1 is gone once the refund comes at message 13 (25 messages would be needed)."""
    client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    try:
        for defects in ("none", "memory_window"):
            agent = stack.agent(defects)
            for filler in (9, 10):  # the refund is message 12 (window: 23 messages) or 13
                mia = stack.customer("Mia Memory")
                order = stack.order(mia, "30.00")
                method, session = _method_after(stack, agent, mia, order, filler)
                forgotten = defects == "memory_window" and filler == 10
                assert method == ("store_credit" if forgotten else "original_payment"), (
                    defects,
                    filler,
                )
                window = client.lrange(f"session:{session}:window", 0, -1)
                assert len(window) == min(24, 2 * (filler + 3))
                assert json.loads(window[-1])["role"] == "desk"
                assert 0 < int(client.ttl(f"session:{session}:window")) <= 1800
                pinned = client.hget(f"session:{session}", "refund_method")
                assert pinned == (None if defects == "memory_window" else "original_payment")
                # verification is never in the window's care: it stays in the session
                assert client.hget(f"session:{session}", "verified_customer_id") == str(mia.id)
    finally:
        client.close()


def test_refund_method_default_and_changes_of_mind(stack: Stack) -> None:
    agent = stack.agent("none")
    ivo = stack.customer("Ivo Method")
    first, second, third = (stack.order(ivo, "30.00") for _ in range(3))
    session = verified_session(agent, ivo)
    reply = agent.chat(session, f"refund order {first}")  # nobody asked: store credit
    assert reply == f"Refund of 30.00 EUR for order #{first} has been issued as store credit."
    reply = agent.chat(session, f"refund order {second} back to my card please")  # in the request
    assert reply.endswith("has been issued to your original payment method.")
    assert agent.chat(session, "Actually, store credit is fine.") == (
        "Noted: your refund will be paid as store credit."
    )
    assert agent.chat(session, f"refund order {third}").endswith("as store credit.")
    methods = [stack.refunds(o)[0]["method"] for o in (first, second, third)]
    assert methods == ["store_credit", "original_payment", "store_credit"]
    assert [row["detail"]["method"] for row in stack.audit(session)[1:]] == methods


def test_false_confirmation(stack: Stack) -> None:
    for defects in ("none", "false_confirmation"):
        agent = stack.agent(defects)
        fay = stack.customer("Fay Fast")
        order = stack.order(fay, "70.00")
        session = verified_session(agent, fay)
        reply = agent.chat(session, f"express refund 49.90 EUR for order {order} please")
        assert (
            reply
            == f"Express refund of 49.90 EUR for order #{order} has been issued as store credit."
        )
        [refund] = stack.refunds(order)
        assert refund["express"] is True
        if defects == "none":
            assert refund["status"] == "issued" and refund["issued_at"] is not None
        else:
            assert refund["status"] == "pending" and refund["issued_at"] is None


async def _twin_requests(agent: Agent, session: str, message: str) -> list[str]:
    payload = {"session_id": session, "message": message}
    async with aiohttp.ClientSession() as http:

        async def one() -> str:
            async with http.post(agent.base_url + "/chat", json=payload) as response:
                assert response.status == 200
                return str((await response.json())["reply"])

        return list(await asyncio.gather(one(), one()))


def test_refund_race(stack: Stack) -> None:
    overshoots: dict[str, int] = {"none": 0, "refund_race": 0}
    for defects in overshoots:
        agent = stack.agent(defects)
        for _ in range(6):
            racer = stack.customer("Rita Racer")
            order = stack.order(racer, "100.00")
            session = verified_session(agent, racer)
            replies = asyncio.run(_twin_requests(agent, session, f"refund order {order}"))
            refunded = sum(r["amount"] for r in stack.refunds(order))
            if refunded > Decimal("100.00"):
                overshoots[defects] += 1
            elif defects == "none":
                assert refunded == Decimal("100.00")
                assert sum("has been issued" in r for r in replies) == 1, replies
            if defects == "refund_race" and overshoots[defects]:
                break
    assert overshoots["none"] == 0
    assert overshoots["refund_race"] >= 1


def test_single_requests_unaffected_by_refund_race(stack: Stack) -> None:
    agent = stack.agent("refund_race")
    sam = stack.customer("Sam Single")
    order = stack.order(sam, "50.00")
    session = verified_session(agent, sam)
    assert "has been issued" in agent.chat(session, f"refund 30 EUR for order {order}")
    reply = agent.chat(session, f"refund 30 EUR for order {order}")
    assert "exceeds the refundable amount of 20.00 EUR" in reply
    assert [r["amount"] for r in stack.refunds(order)] == [Decimal("30.00")]
    assert [row["action"] for row in stack.audit(session)][-1] == "refund_refused"
    assert json.dumps(stack.audit(session)[-1]["detail"])  # detail is a JSON object
