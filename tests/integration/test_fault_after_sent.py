"""`after_sent` (our extension to Toxiproxy's model) against a real PostgreSQL and Redis: a
toxic waits on each connection until the client's bytes match, then acts on the answer
(downstream) or on the client's next bytes (upstream); it never acts before; the client's
bytes are matched across sends and only the last 64 KiB are kept."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import psycopg
import pytest
import redis

from harness.faults import Toxic
from tests.faults import ProxyThread, Servers, pg_connect, redis_socket, resp, servers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
__all__ = ["servers"]  # the fixture, imported for pytest

COMMITTED_REFUND = "(?is)insert into refunds.*commit"


@pytest.fixture
def kv(servers: Servers) -> Iterator[ProxyThread]:
    with ProxyThread(servers.redis, seed=3, name="cache") as proxy:
        yield proxy


@pytest.fixture
def db(servers: Servers) -> Iterator[ProxyThread]:
    with ProxyThread(servers.pg, seed=3, name="db") as proxy:
        yield proxy


def direct(servers: Servers) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=servers.redis.port, password=servers.redis.password)


def until(condition: object, what: str, limit: float = 5.0) -> None:
    """Wait for a condition the proxy reaches (a bound on the wait, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.005)


def reply(sock: socket.socket, command: bytes) -> bytes:
    sock.sendall(command)
    return sock.recv(1000)


def test_a_commit_reaches_postgres_and_only_its_answer_is_lost(
    servers: Servers, db: ProxyThread
) -> None:
    with pg_connect(servers, servers.pg.port) as admin:
        admin.execute("create table if not exists refunds (id serial primary key, tag text)")
        admin.execute("delete from refunds")
    db.call(
        db.proxy.add,
        Toxic(kind="reset_peer", stream="downstream", after_sent=COMMITTED_REFUND),
    )
    conn = pg_connect(servers, db.port, autocommit=False)
    assert conn.execute("select count(*) from refunds").fetchone() == (0,)  # inert so far
    conn.execute("insert into refunds (tag) values (%s)", ("once",))  # answered: no commit yet
    with pytest.raises(psycopg.OperationalError):
        conn.commit()  # COMMIT reaches PostgreSQL; its answer is dropped and the link reset
    conn.close()
    assert db.call(db.proxy.stats).resets == 1
    with pg_connect(servers, servers.pg.port) as admin:
        assert admin.execute("select tag from refunds").fetchall() == [("once",)]
    # a new connection starts a new watch: clean until it commits a refund in turn
    with pg_connect(servers, db.port) as again:
        assert again.execute("select count(*) from refunds").fetchone() == (1,)


def test_a_regex_that_never_matches_leaves_the_connection_untouched(
    servers: Servers, kv: ProxyThread
) -> None:
    sock = redis_socket(kv.port, servers.redis.password)
    assert reply(sock, resp("SET", "a", "BEGINMARK")) == b"+OK\r\n"  # before the toxic
    kv.call(kv.proxy.add, Toxic(kind="reset_peer", after_sent="(?s)BEGINMARK.*ENDMARK"))
    assert reply(sock, resp("SET", "b", "ENDMARK")) == b"+OK\r\n"  # only half since added
    for i in range(50):
        assert reply(sock, resp("SET", f"k{i}", "v" * i)) == b"+OK\r\n"
    r = redis.Redis(host="127.0.0.1", port=kv.port, password=servers.redis.password)
    assert r.get("b") == b"ENDMARK"
    r.close()
    sock.close()
    stats = kv.call(kv.proxy.stats)
    assert stats.resets == 0
    assert stats.downstream_in == stats.downstream_out  # not a byte held or dropped


def test_a_match_split_across_two_sends_still_triggers(servers: Servers, kv: ProxyThread) -> None:
    kv.call(kv.proxy.add, Toxic(kind="reset_peer", after_sent="SET.*SPLITKEY"))
    sock = redis_socket(kv.port, servers.redis.password)
    command = resp("SET", "SPLITKEY", "written")
    cut = command.index(b"SPLIT") + 3  # "SPL" | "ITKEY"
    before = kv.call(kv.proxy.stats).upstream_in
    sock.sendall(command[:cut])
    until(lambda: kv.call(kv.proxy.stats).upstream_in == before + cut, "the first half read")
    sock.sendall(command[cut:])
    with pytest.raises(ConnectionResetError):
        sock.recv(100)  # Redis's +OK was the answer to what matched: dropped, then the reset
    sock.close()
    r = direct(servers)
    assert r.get("SPLITKEY") == b"written"
    r.close()


def test_an_upstream_toxic_starts_with_the_clients_next_bytes(
    servers: Servers, kv: ProxyThread
) -> None:
    r = direct(servers)
    r.delete("mark", "after")
    kv.call(kv.proxy.add, Toxic(kind="reset_peer", stream="upstream", after_sent="mark"))
    sock = redis_socket(kv.port, servers.redis.password)
    assert reply(sock, resp("SET", "mark", "1")) == b"+OK\r\n"  # what matched goes through
    assert kv.call(kv.proxy.stats).resets == 0
    sock.sendall(resp("SET", "after", "1"))  # the next bytes: dropped, and the link reset
    with pytest.raises(ConnectionResetError):
        sock.recv(100)
    sock.close()
    assert r.get("mark") == b"1"
    assert r.get("after") is None
    r.close()


@pytest.mark.parametrize(("filler", "resets"), [(60_000, 1), (70_000, 0)])
def test_only_the_last_64_kib_the_client_sent_are_matched(
    servers: Servers, kv: ProxyThread, filler: int, resets: int
) -> None:
    kv.call(kv.proxy.add, Toxic(kind="reset_peer", after_sent="(?s)BEGINMARK.*ENDMARK"))
    sock = redis_socket(kv.port, servers.redis.password)
    assert reply(sock, resp("SET", "a", "BEGINMARK")) == b"+OK\r\n"
    sock.sendall(resp("SET", "b", "x" * filler))
    assert sock.recv(100) == b"+OK\r\n"
    sock.sendall(resp("SET", "c", "ENDMARK"))
    if resets:
        with pytest.raises(ConnectionResetError):
            sock.recv(100)
    else:
        assert sock.recv(100) == b"+OK\r\n"  # BEGINMARK fell out of the 64 KiB kept
    sock.close()
    assert kv.call(kv.proxy.stats).resets == resets


def test_the_direct_path_is_kept_where_no_toxic_watches(servers: Servers, kv: ProxyThread) -> None:
    def direct_paths() -> list[bool]:  # per open connection: each pipe writes straight through
        return [pipe.out is not None for link in kv.proxy._links for pipe in link.pipes]

    sock = redis_socket(kv.port, servers.redis.password)
    assert kv.call(direct_paths) == [True, True]
    kv.call(kv.proxy.add, Toxic(kind="reset_peer", toxicity=0.0, after_sent="x"))
    assert kv.call(direct_paths) == [True, True]  # drawn out: nothing to watch
    kv.call(kv.proxy.add, Toxic(kind="latency", name="later", after_sent="never sent"))
    assert kv.call(direct_paths) == [False, True]  # the client's bytes are read
    assert reply(sock, resp("PING")) == b"+PONG\r\n"
    kv.call(kv.proxy.remove, "later")
    assert kv.call(direct_paths) == [True, True]
    assert reply(sock, resp("PING")) == b"+PONG\r\n"
    sock.close()


def test_times_one_loses_one_commit_answer_and_leaves_the_retry_alone(
    servers: Servers, db: ProxyThread
) -> None:
    """A one-off blip: the first connection whose bytes match is reset, the retry's new
    connection commits the same statement untouched; the sample names only the first."""
    with pg_connect(servers, servers.pg.port) as admin:
        admin.execute("create table if not exists refunds (id serial primary key, tag text)")
        admin.execute("delete from refunds")
    toxic = Toxic(kind="reset_peer", name="blip", after_sent=COMMITTED_REFUND, times=1)
    db.call(db.proxy.add, toxic)
    outcomes = []
    for attempt in ("first", "retry", "third"):
        conn = pg_connect(servers, db.port, autocommit=False)
        conn.execute("insert into refunds (tag) values (%s)", (attempt,))
        try:
            conn.commit()
            outcomes.append("committed")
        except psycopg.OperationalError:
            outcomes.append("lost")
        conn.close()
    assert outcomes == ["lost", "committed", "committed"]
    with pg_connect(servers, servers.pg.port) as admin:
        tags = [r[0] for r in admin.execute("select tag from refunds order by id").fetchall()]
    assert tags == ["first", "retry", "third"]  # the lost answer's commit happened too
    sample = db.call(db.proxy.sample, "blip")
    assert sample is not None and len(sample.affected) == 1 and len(sample.considered) == 3
    assert db.call(db.proxy.stats).resets == 1


def test_an_after_sent_toxic_counts_as_hit_only_where_it_matched(
    servers: Servers, kv: ProxyThread
) -> None:
    kv.call(kv.proxy.add, Toxic(kind="latency", name="slow", after_sent="NEVERSENT"))
    r = redis.Redis(host="127.0.0.1", port=kv.port, password=servers.redis.password)
    assert r.set("a", "1")
    r.close()
    sample = kv.call(kv.proxy.sample, "slow")
    assert sample is not None and sample.considered and sample.affected == ()


def test_times_without_after_sent_hits_the_first_connections_only(
    servers: Servers, kv: ProxyThread
) -> None:
    socks = [redis_socket(kv.port, servers.redis.password) for _ in range(3)]
    until(lambda: kv.call(kv.proxy.stats).open == 3, "three connections open")
    kv.call(kv.proxy.add, Toxic(kind="reset_peer", name="two", times=2))
    answers = []
    for sock in socks:
        try:
            answers.append(reply(sock, resp("PING")))
        except ConnectionResetError:
            answers.append(b"reset")
        sock.close()
    assert answers == [b"reset", b"reset", b"+PONG\r\n"]  # in accept order
    sample = kv.call(kv.proxy.sample, "two")
    assert sample is not None and len(sample.affected) == 2
