"""The refund desk's fault defects against a real PostgreSQL through the harness's fault proxy
(`LinkProxy`), the agent a real process whose DATABASE_URL points at the proxy.

- retry_duplicates: the connection is reset after PostgreSQL committed the refund, so only
  its answer is lost. To put the reset exactly there, the test holds the commit: a deferred
  constraint trigger (installed by this test only) waits at COMMIT for an advisory lock the
  test holds; once the agent's backend waits there, the test adds `reset_peer` downstream and
  lets the commit go, so the commit's answer is what the toxic drops. With the defect the
  agent writes the refund again (two rows); without it the retry finds the refund by its
  request key (one row, and the reply says it was issued).
- false_success_on_timeout: the link is a black hole (`timeout`) during the refund turn. With
  the defect the agent says the refund was issued with no row written; without it the reply
  says it could not complete it, and once the fault is over the agent refunds again.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from harness.deps.base import Endpoint
from harness.faults import Toxic
from tests.faults import ProxyThread
from tests.integration.demo_servers import (
    Agent,
    Customer,
    Stack,
    demo_stack,
    http_json,
    start_agent,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

HOLD_KEY = 4242  # the advisory lock the commit of a refund waits for while the test holds it
HOLD_COMMIT = f"""
create function test_hold_commit() returns trigger language plpgsql as $$
begin
    perform pg_advisory_xact_lock_shared({HOLD_KEY});
    return null;
end $$;
create constraint trigger refunds_hold_commit after insert on refunds
    deferrable initially deferred for each row execute function test_hold_commit();
"""


@dataclass
class Faulty:
    """The demo stack with a fault proxy in front of PostgreSQL for the agents."""

    stack: Stack
    db: ProxyThread
    agents: dict[str, Agent]

    def agent(self, defects: str) -> Agent:
        if defects not in self.agents:
            url = urlsplit(self.stack.pg.url)
            proxied = url._replace(netloc=f"{url.username}@127.0.0.1:{self.db.port}")
            self.agents[defects] = start_agent(urlunsplit(proxied), self.stack.redis.url, defects)
        return self.agents[defects]

    def add(self, toxic: Toxic) -> None:
        self.db.call(self.db.proxy.add, toxic)

    def remove(self, name: str) -> None:
        self.db.call(self.db.proxy.remove, name)

    def resets(self) -> int:
        return self.db.call(self.db.proxy.stats).resets


@pytest.fixture(scope="module")
def faulty() -> Iterator[Faulty]:
    for stack in demo_stack():
        with stack.pg.connect() as conn:
            conn.execute(HOLD_COMMIT)
        url = urlsplit(stack.pg.url)
        endpoint = Endpoint(kind="postgres", host="127.0.0.1", port=int(url.port or 5432))
        with ProxyThread(endpoint, seed=15, name="db") as db:
            faulty = Faulty(stack, db, {})
            try:
                yield faulty
            finally:
                for agent in faulty.agents.values():
                    agent.stop()


def verified(faulty: Faulty, agent: Agent, total: str) -> tuple[str, int]:
    """A new customer with a delivered order, verified in a new session."""
    surname = "".join(chr(97 + int(c, 16)) for c in uuid.uuid4().hex[:8]).title()  # letters only
    customer: Customer = faulty.stack.customer(f"Fault {surname}")
    order = faulty.stack.order(customer, total)
    session = f"faults-{uuid.uuid4().hex[:12]}"
    reply = agent.chat(session, f"Hi, I am {customer.name}, PIN {customer.pin}")
    assert "could not verify" not in reply, reply
    return session, order


class Turn(threading.Thread):
    """A chat turn sent in the background, so the test can act while the agent works."""

    def __init__(self, agent: Agent, session: str, message: str) -> None:
        super().__init__(daemon=True)
        self.agent, self.session, self.message = agent, session, message
        self.status = 0
        self.body: dict[str, object] = {}
        self.seconds = 0.0

    def run(self) -> None:
        started = time.monotonic()
        payload = json.dumps({"session_id": self.session, "message": self.message})
        self.status, self.body = self.agent.post_raw("/chat", payload.encode())
        self.seconds = time.monotonic() - started

    def reply(self) -> str:
        self.join(60)
        assert not self.is_alive(), "the turn never got an answer"
        assert self.status == 200, (self.status, self.body)
        return str(self.body["reply"])


def waiting_at_commit(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
        "and wait_event = 'advisory' and pid <> pg_backend_pid()"
    ).fetchone()
    return bool(row and row[0])


def refund_with_lost_commit_answer(faulty: Faulty, agent: Agent) -> tuple[str, int]:
    """Ask for a refund; reset the link exactly when PostgreSQL has committed it."""
    session, order = verified(faulty, agent, "80.00")
    resets = faulty.resets()
    with faulty.stack.pg.connect() as hold:
        hold.execute("select pg_advisory_lock(%s)", (HOLD_KEY,))
        turn = Turn(agent, session, f"Please refund 30.00 EUR for order #{order}.")
        turn.start()
        assert wait_until(lambda: waiting_at_commit(hold), 20), "the refund never reached COMMIT"
        faulty.add(Toxic(kind="reset_peer", name="lost_answer"))
        hold.execute("select pg_advisory_unlock(%s)", (HOLD_KEY,))
        try:  # the commit's answer is the first byte the toxic sees: it resets the connection
            assert wait_until(lambda: faulty.resets() > resets, 20, interval=0.005)
        finally:
            faulty.remove("lost_answer")
    return turn.reply(), order


def test_a_reset_after_the_commit_is_retried_with_the_request_key(faulty: Faulty) -> None:
    agent = faulty.agent("none")
    reply, order = refund_with_lost_commit_answer(faulty, agent)
    rows = faulty.stack.refunds(order)
    assert [(str(r["amount"]), r["status"]) for r in rows] == [("30.00", "issued")]
    assert rows[0]["request_key"]  # the key the retry found it by
    assert f"30.00 EUR for order #{order} has been issued" in reply
    actions = faulty.stack.rows(
        "select action from audit_log where order_id = %s and action like 'refund_%%'", order
    )
    assert actions == [{"action": "refund_issued"}]  # the audit row committed with the refund
    assert "connection lost" in agent.process.log_path.read_text()  # it did retry


def test_retry_duplicates_writes_the_refund_twice(faulty: Faulty) -> None:
    agent = faulty.agent("retry_duplicates")
    reply, order = refund_with_lost_commit_answer(faulty, agent)
    rows = faulty.stack.refunds(order)
    assert [(str(r["amount"]), r["status"]) for r in rows] == [("30.00", "issued")] * 2
    assert all(r["request_key"] is None for r in rows)
    assert f"30.00 EUR for order #{order} has been issued" in reply  # one refund, it says


def refund_in_a_black_hole(faulty: Faulty, agent: Agent) -> tuple[Turn, int, str]:
    session, order = verified(faulty, agent, "120.00")
    faulty.add(Toxic(kind="timeout", name="black_hole"))  # every answer dropped, never closed
    try:
        turn = Turn(agent, session, f"Please refund 45.50 EUR for order #{order}.")
        turn.start()
        turn.join(60)  # the reply comes while the link is still a black hole
    finally:
        faulty.remove("black_hole")  # its connections are closed: the pool replaces them
    return turn, order, session


def test_a_timeout_is_answered_honestly_and_the_desk_recovers(faulty: Faulty) -> None:
    agent = faulty.agent("none")
    turn, order, session = refund_in_a_black_hole(faulty, agent)
    reply = turn.reply()
    assert "could not complete" in reply and "has been issued" not in reply, reply
    assert faulty.stack.refunds(order) == []
    assert turn.seconds < 15  # the deadline (2 s) ended it, not the client's 30 s
    # the fault is over: the same conversation gets its refund
    again = agent.chat(session, f"Please refund 45.50 EUR for order #{order}.")
    assert f"45.50 EUR for order #{order} has been issued" in again
    assert [r["status"] for r in faulty.stack.refunds(order)] == ["issued"]


def test_false_success_on_timeout_claims_a_refund_with_no_row(faulty: Faulty) -> None:
    agent = faulty.agent("false_success_on_timeout")
    turn, order, _ = refund_in_a_black_hole(faulty, agent)
    reply = turn.reply()
    assert re.search(rf"45\.50 EUR for order #{order} has been issued", reply), reply
    assert faulty.stack.refunds(order) == []


def test_a_link_reset_for_the_whole_turn_writes_nothing_and_claims_nothing(
    faulty: Faulty,
) -> None:
    agent = faulty.agent("none")
    session, order = verified(faulty, agent, "60.00")
    faulty.add(Toxic(kind="reset_peer", name="reset_all"))
    try:
        message = f"Refund 20.00 EUR for order #{order}"
        payload = json.dumps({"session_id": session, "message": message})
        status, body = http_json("POST", agent.base_url + "/chat", payload.encode())
    finally:
        faulty.remove("reset_all")
    assert status in (200, 503), (status, body)
    assert "has been issued" not in str(body.get("reply", "")), body
    assert faulty.stack.refunds(order) == []
