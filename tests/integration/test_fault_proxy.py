"""Each toxic of the fault proxy against a real PostgreSQL and a real Redis, measured from
the client's side: the added latency (a lower bound only), the reset, the refusal, the
silence, the bytes and chunks; toxicity over many connections, replayed from the seed; toxics
added and removed while a connection is open."""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
import redis

from harness.errors import ConfigError
from harness.faults import Toxic
from tests.faults import (
    ProxyThread,
    Servers,
    pg_connect,
    read_chunks,
    redis_socket,
    resp,
    round_trip,
    servers,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
__all__ = ["servers"]  # the fixture, imported for pytest

VALUE = b"v" * 1000  # a Redis value whose reply is 1000 + 9 bytes: $1000\r\n...\r\n
REPLY = b"$1000\r\n" + VALUE + b"\r\n"


@pytest.fixture
def kv(servers: Servers) -> Iterator[ProxyThread]:
    r = redis.Redis(host="127.0.0.1", port=servers.redis.port, password=servers.redis.password)
    r.set("k", VALUE)
    r.close()
    with ProxyThread(servers.redis, seed=7, name="cache") as proxy:
        yield proxy


@pytest.fixture
def db(servers: Servers) -> Iterator[ProxyThread]:
    with ProxyThread(servers.pg, seed=7, name="db") as proxy:
        yield proxy


def redis_client(servers: Servers, port: int, timeout: float = 5.0) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        password=servers.redis.password,
        socket_timeout=timeout,
    )


def test_a_clean_link_carries_postgres_and_redis_and_counts(
    servers: Servers, db: ProxyThread, kv: ProxyThread
) -> None:
    with pg_connect(servers, db.port) as conn:
        assert conn.execute("select 40 + 2").fetchone() == (42,)
    r = redis_client(servers, kv.port)
    assert r.get("k") == VALUE
    r.close()
    for proxy in (db, kv):
        stats = proxy.call(proxy.proxy.stats)
        assert stats.connections >= 1 and stats.failed == 0 and stats.resets == 0
        assert stats.upstream_in == stats.upstream_out > 0
        assert stats.downstream_in == stats.downstream_out > 0
    assert kv.call(kv.proxy.stats).downstream_out >= len(REPLY)


@pytest.mark.parametrize("stream", ["upstream", "downstream"])
def test_latency_adds_at_least_its_delay_to_a_round_trip(
    servers: Servers, db: ProxyThread, kv: ProxyThread, stream: str
) -> None:
    r = redis_client(servers, kv.port)
    r.ping()
    kv.call(kv.proxy.add, Toxic(kind="latency", stream=stream, attributes={"latency": 200}))
    assert round_trip(r.ping) >= 0.2  # the same open connection feels it
    r.close()
    db.call(
        db.proxy.add,
        Toxic(kind="latency", stream=stream, attributes={"latency": 150, "jitter": 50}),
    )
    with pg_connect(servers, db.port) as conn:
        assert round_trip(lambda: conn.execute("select 1").fetchone()) >= 0.1  # 150 - 50


def test_a_latency_removed_mid_request_lets_the_reply_through(
    servers: Servers, kv: ProxyThread
) -> None:
    r = redis_client(servers, kv.port, timeout=3.0)
    r.ping()
    kv.call(kv.proxy.add, Toxic(kind="latency", attributes={"latency": 30_000}))
    timer = threading.Timer(0.3, kv.call, (kv.proxy.remove, "latency_downstream"))
    timer.start()
    assert r.get("k") == VALUE  # long before 30 s: within the client's own 3 s timeout
    timer.join()
    assert r.get("k") == VALUE
    r.close()


def test_bandwidth_holds_the_reply_to_its_rate(servers: Servers, kv: ProxyThread) -> None:
    big = b"b" * 100_000
    redis_client(servers, kv.port).set("big", big)
    kv.call(kv.proxy.add, Toxic(kind="bandwidth", attributes={"rate": 200}))  # KB/s
    sock = redis_socket(kv.port, servers.redis.password)
    started = time.perf_counter()
    sock.sendall(resp("GET", "big"))
    sizes, data = read_chunks(sock, len(big) + 10)
    elapsed = time.perf_counter() - started
    sock.close()
    assert data == b"$100000\r\n" + big + b"\r\n"
    assert elapsed >= len(data) / 200_000  # 0.5 s at 200 KB/s
    assert len(sizes) >= 4  # sent in 100 ms steps of 20 KB, not at once


def test_slicer_cuts_the_reply_into_small_chunks(
    servers: Servers, db: ProxyThread, kv: ProxyThread
) -> None:
    kv.call(
        kv.proxy.add,
        Toxic(
            kind="slicer",
            attributes={"average_size": 100, "size_variation": 20, "delay": 20_000},
        ),
    )
    sock = redis_socket(kv.port, servers.redis.password)  # AUTH's reply is 5 bytes: one slice
    sock.sendall(resp("GET", "k"))
    sizes, data = read_chunks(sock, len(REPLY))
    sock.close()
    assert data == REPLY
    assert len(sizes) >= 5, sizes  # about 16 slices 20 ms apart (1 recv without the toxic)
    assert min(sizes) <= 120
    db.call(db.proxy.add, Toxic(kind="slicer", attributes={"average_size": 3}))
    with pg_connect(servers, db.port) as conn:  # the protocol survives being sliced
        assert conn.execute("select repeat('x', 500)").fetchone() == ("x" * 500,)


def test_limit_data_closes_after_exactly_that_many_bytes(
    servers: Servers, db: ProxyThread, kv: ProxyThread
) -> None:
    kv.call(kv.proxy.add, Toxic(kind="limit_data", attributes={"bytes": 300}))
    sock = redis_socket(kv.port, None)
    sock.sendall(resp("AUTH", servers.redis.password or "") + resp("GET", "k"))
    _, data = read_chunks(sock, 10_000)
    assert len(data) == 300 and data.startswith(b"+OK\r\n$1000\r\n")
    assert sock.recv(100) == b""  # closed, not merely silent
    sock.close()
    assert kv.call(kv.proxy.stats).downstream_out == 300
    db.call(db.proxy.add, Toxic(kind="limit_data", stream="upstream", attributes={"bytes": 20}))
    with pytest.raises(psycopg.OperationalError):
        pg_connect(servers, db.port, connect_timeout=5)


def test_timeout_zero_is_silence_until_the_clients_own_timeout(
    servers: Servers, db: ProxyThread, kv: ProxyThread
) -> None:
    r = redis_client(servers, kv.port, timeout=0.5)
    r.ping()
    kv.call(kv.proxy.add, Toxic(kind="timeout", attributes={"timeout": 0}))
    with pytest.raises(redis.TimeoutError):
        r.ping()
    r.close()
    db.call(db.proxy.add, Toxic(kind="timeout", stream="upstream", attributes={"timeout": 0}))
    started = time.perf_counter()
    with pytest.raises(psycopg.OperationalError, match="timeout"):
        pg_connect(servers, db.port, connect_timeout=2)
    assert time.perf_counter() - started >= 1.5


def test_timeout_closes_the_connection_after_its_delay(servers: Servers, kv: ProxyThread) -> None:
    sock = redis_socket(kv.port, servers.redis.password)
    kv.call(kv.proxy.add, Toxic(kind="timeout", stream="upstream", attributes={"timeout": 300}))
    started = time.perf_counter()
    sock.sendall(resp("PING"))
    assert sock.recv(100) == b""  # no answer, then the end of the stream
    assert time.perf_counter() - started >= 0.25  # 300 ms from the toxic's start, less the send
    sock.close()


def test_reset_peer_is_a_connection_reset(
    servers: Servers, db: ProxyThread, kv: ProxyThread
) -> None:
    sock = redis_socket(kv.port, servers.redis.password)
    kv.call(kv.proxy.add, Toxic(kind="reset_peer", stream="upstream", attributes={"timeout": 100}))
    started = time.perf_counter()
    sock.sendall(resp("SET", "written", "1"))
    with pytest.raises(ConnectionResetError):
        sock.recv(100)
    assert time.perf_counter() - started >= 0.1
    sock.close()
    assert kv.call(kv.proxy.stats).resets == 1
    conn = pg_connect(servers, db.port)
    db.call(db.proxy.add, Toxic(kind="reset_peer", stream="upstream"))
    with pytest.raises(psycopg.OperationalError):
        conn.execute("select 1")
    assert conn.closed
    conn.close()


def test_slow_close_delays_the_end_of_the_stream(servers: Servers, kv: ProxyThread) -> None:
    kv.call(kv.proxy.add, Toxic(kind="slow_close", attributes={"delay": 300}))
    sock = redis_socket(kv.port, servers.redis.password)
    started = time.perf_counter()
    sock.sendall(resp("QUIT"))  # Redis answers +OK and closes at once
    assert sock.recv(100) == b"+OK\r\n"
    assert sock.recv(100) == b""
    assert time.perf_counter() - started >= 0.3
    sock.close()


def test_down_refuses_connections_cuts_open_ones_and_keeps_the_port(
    servers: Servers, db: ProxyThread, kv: ProxyThread
) -> None:
    r = redis_client(servers, kv.port)
    r.ping()
    conn = pg_connect(servers, db.port)
    for proxy in (db, kv):
        proxy.call(proxy.proxy.add, Toxic(kind="down"))
        assert not proxy.call(lambda p=proxy: p.proxy.enabled)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", kv.port), timeout=2)
    with pytest.raises(psycopg.OperationalError, match="refused"):
        pg_connect(servers, db.port, connect_timeout=2)
    with pytest.raises(psycopg.OperationalError):
        conn.execute("select 1")  # cut
    r.connection_pool.disconnect()
    with pytest.raises(redis.ConnectionError):
        r.ping()  # redis-py reconnects once: refused
    other = socket.socket()
    with pytest.raises(OSError) as taken:
        other.bind(("127.0.0.1", kv.port))  # the port stays the proxy's
    assert taken.value.errno == errno.EADDRINUSE
    other.close()
    for proxy in (db, kv):
        proxy.call(proxy.proxy.remove, "down_downstream")
    assert r.ping()  # the same address again
    with pg_connect(servers, db.port) as again:
        assert again.execute("select 1").fetchone() == (1,)
    r.close()
    conn.close()


def outcomes(servers: Servers, seed: int, n: int) -> tuple[list[bool], tuple[int, ...], float]:
    """Open n connections through a proxy with a reset_peer at toxicity 0.5: which were
    reset (seen by the client), which the proxy says it affected, the observed share."""
    with ProxyThread(servers.redis, seed=seed) as proxy:
        proxy.call(proxy.proxy.add, Toxic(kind="reset_peer", stream="upstream", toxicity=0.5))
        reset = []
        for _ in range(n):
            sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
            sock.sendall(resp("PING"))
            try:
                assert sock.recv(100)  # PONG, or NOAUTH: an answer either way
                reset.append(False)
            except ConnectionResetError:
                reset.append(True)
            sock.close()
        [sample] = proxy.call(proxy.proxy.samples)
    assert sample.considered == tuple(range(1, n + 1)) and sample.seed == seed
    assert sample.share == len(sample.affected) / n
    return reset, sample.affected, sample.share or 0.0


def test_toxicity_affects_some_connections_reproducibly_from_the_seed(servers: Servers) -> None:
    reset, affected, share = outcomes(servers, seed=11, n=40)
    assert [i + 1 for i, hit in enumerate(reset) if hit] == list(affected)
    assert 0 < len(affected) < 40 and 0.2 <= share <= 0.8
    again, affected_again, _ = outcomes(servers, seed=11, n=40)
    assert again == reset and affected_again == affected
    other, _, _ = outcomes(servers, seed=12, n=40)
    assert other != reset


def test_toxics_change_on_an_open_connection(servers: Servers, kv: ProxyThread) -> None:
    sock = redis_socket(kv.port, servers.redis.password)
    sock.sendall(resp("GET", "k"))
    assert read_chunks(sock, len(REPLY)) == ([len(REPLY)], REPLY)
    slicer = Toxic(kind="slicer", attributes={"average_size": 100, "delay": 20_000})
    kv.call(kv.proxy.add, slicer)
    sock.sendall(resp("GET", "k"))
    sizes, data = read_chunks(sock, len(REPLY))
    assert data == REPLY and len(sizes) >= 5
    kv.call(kv.proxy.remove, slicer.name)
    sock.sendall(resp("GET", "k"))
    assert read_chunks(sock, len(REPLY)) == ([len(REPLY)], REPLY)
    with pytest.raises(ConfigError, match="no active toxic"):
        kv.call(kv.proxy.remove, slicer.name)
    kv.call(kv.proxy.add, Toxic(kind="timeout", stream="upstream"))
    with pytest.raises(ConfigError, match="already active"):
        kv.call(kv.proxy.add, Toxic(kind="timeout", stream="upstream"))
    sock.sendall(resp("PING"))
    sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        sock.recv(100)  # dropped
    sock.settimeout(5)
    kv.call(kv.proxy.remove, "timeout_upstream")
    assert sock.recv(100) == b""  # a stream that lost bytes is closed (Toxiproxy's cleanup)
    sock.close()


@pytest.mark.parametrize("toxic", [None, Toxic(kind="latency", attributes={"latency": 5})])
def test_megabytes_cross_intact_with_or_without_a_toxic(
    servers: Servers, kv: ProxyThread, toxic: Toxic | None
) -> None:
    big = bytes(range(256)) * 16384  # 4 MiB: flow control and the toxic queue's high water
    if toxic is not None:
        kv.call(kv.proxy.add, toxic)
    r = redis_client(servers, kv.port, timeout=30)
    r.set("huge", big)
    assert r.get("huge") == big
    r.close()
    stats = kv.call(kv.proxy.stats)
    assert stats.upstream_in == stats.upstream_out > len(big)
    assert stats.downstream_in == stats.downstream_out > len(big)


def test_each_activation_of_a_toxic_is_sampled_on_its_own(
    servers: Servers, kv: ProxyThread
) -> None:
    def connect() -> socket.socket:
        sock = redis_socket(kv.port, servers.redis.password)
        sock.sendall(resp("PING"))
        assert sock.recv(100) == b"+PONG\r\n"  # the proxy has this connection now
        return sock

    toxic = Toxic(kind="latency", toxicity=0.5, attributes={"latency": 1})
    first = connect()
    kv.call(kv.proxy.add, toxic)
    second = connect()
    kv.call(kv.proxy.remove, toxic.name)
    third = connect()  # opened between the windows: drawn only in the second
    kv.call(kv.proxy.add, toxic)
    one, two = kv.call(kv.proxy.samples)
    assert (one.considered, two.considered) == ((1, 2), (1, 2, 3))
    assert set(one.affected) == set(two.affected) & {1, 2}  # the same draw per connection
    assert kv.call(kv.proxy.sample, toxic.name) == two
    assert kv.call(kv.proxy.sample, "nothing") is None
    for sock in (first, second, third):
        sock.close()


def test_reset_peer_downstream_resets_on_the_servers_answer(
    servers: Servers, kv: ProxyThread
) -> None:
    sock = redis_socket(kv.port, servers.redis.password)
    kv.call(kv.proxy.add, Toxic(kind="reset_peer", attributes={"timeout": 0}))
    sock.sendall(resp("SET", "written", "2"))  # reaches Redis; its +OK triggers the reset
    with pytest.raises(ConnectionResetError):
        sock.recv(100)
    sock.close()
    r = redis_client(servers, kv.port)
    kv.call(kv.proxy.remove, "reset_peer_downstream")
    assert r.get("written") == b"2"  # the write happened: only its answer was lost
    r.close()
