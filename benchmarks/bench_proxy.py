"""What the fault proxy costs with no toxic active: the same PostgreSQL queries (psycopg) and
Redis commands (redis-py), direct and through a `LinkProxy`, in this one run.

Real servers come from the embedded provider. The proxies run in a process of their own, as
in a run, where the harness's process stands between the agent's and the servers. Each round
runs every workload direct and proxied, in alternating order, over C connections (one thread
each), N round trips per connection; R rounds. Printed per dependency: the median throughput
direct and proxied and their ratio (target >= 0.9), and the latency the proxy adds to a round
trip: the proxied distribution's median and p99 less the direct one's (all round trips of all
rounds).

    python benchmarks/bench_proxy.py [--rounds 7] [--trips 2000] [--connections 1]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.deps.embedded import EmbeddedProvider  # noqa: E402
from harness.faults import LinkProxy  # noqa: E402
from harness.spec.models import PostgresDependency, RedisDependency  # noqa: E402

Trip = Callable[[int], object]


# -- the proxies' process -------------------------------------------------------------------


async def serve(upstreams: list[int]) -> None:
    proxies = [LinkProxy("127.0.0.1", port) for port in upstreams]
    for proxy in proxies:
        await proxy.start()
    print(" ".join(str(p.port) for p in proxies), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    for proxy in proxies:
        print(proxy.stats(), file=sys.stderr)
        await proxy.stop()


# -- workloads ------------------------------------------------------------------------------


def postgres_setup(dsn: dict[str, Any]) -> None:
    import psycopg

    with psycopg.connect(**dsn, autocommit=True) as conn:
        conn.execute(
            "create table if not exists orders (id serial primary key, customer text not null,"
            " amount numeric(10, 2) not null, status text not null)"
        )
        conn.execute("create index if not exists orders_customer on orders (customer)")
        conn.execute("truncate orders restart identity")
        conn.execute(
            "insert into orders (customer, amount, status) select 'c' || (i % 500),"
            " (i % 997) / 3.0, 'open' from generate_series(1, 10000) i"
        )
        conn.execute("analyze orders")


def postgres_trips(dsn: dict[str, Any]) -> tuple[Trip, Callable[[], None]]:
    """One connection's round trips: a point read, an aggregate on an index, an update."""
    import psycopg

    conn = psycopg.connect(**dsn, autocommit=True)

    def trip(i: int) -> object:
        kind = i % 3
        if kind == 0:
            return conn.execute(
                "select id, customer, amount, status from orders where id = %s", (i % 10000 + 1,)
            ).fetchone()
        if kind == 1:
            return conn.execute(
                "select count(*), sum(amount) from orders where customer = %s", (f"c{i % 500}",)
            ).fetchone()
        return conn.execute(
            "update orders set status = %s where id = %s", ("seen", i % 10000 + 1)
        ).rowcount

    return trip, conn.close


def redis_trips(port: int, password: str | None) -> tuple[Trip, Callable[[], None]]:
    """One connection's round trips: GET, SET, INCR, HGETALL, LRANGE."""
    import redis

    r = redis.Redis(host="127.0.0.1", port=port, password=password)
    r.hset("h", mapping={f"f{i}": f"value {i}" for i in range(10)})
    r.rpush("l", *[f"item {i}" for i in range(20)])
    calls = (
        lambda i: r.get(f"k{i % 100}"),
        lambda i: r.set(f"k{i % 100}", f"value {i}"),
        lambda i: r.incr("counter"),
        lambda i: r.hgetall("h"),
        lambda i: r.lrange("l", 0, 9),
    )

    def trip(i: int) -> object:
        return calls[i % len(calls)](i)

    return trip, r.close


def measure(make: Callable[[], tuple[Trip, Callable[[], None]]], connections: int, trips: int):
    """Round trips per second over all connections, and every round trip's seconds."""
    made = [make() for _ in range(connections)]
    for trip, _ in made:  # warm: prepared statements, the connection's first packets
        for i in range(20):
            trip(i)
    samples: list[list[float]] = [[] for _ in made]
    start = threading.Barrier(connections + 1)

    def run(k: int) -> None:
        trip, out = made[k][0], samples[k]
        start.wait()
        for i in range(trips):
            t = time.perf_counter()
            trip(i)
            out.append(time.perf_counter() - t)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(connections)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    for _, close in made:
        close()
    return connections * trips / elapsed, [s for per in samples for s in per]


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--trips", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--serve", nargs="+", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    workdir = Path(tempfile.mkdtemp(prefix="harness-bench-proxy-"))
    workdir.chmod(0o755)
    provider = EmbeddedProvider()

    async def up() -> Any:
        return await asyncio.gather(
            provider.start("db", PostgresDependency(kind="postgres"), run_id="b", workdir=workdir),
            provider.start("cache", RedisDependency(kind="redis"), run_id="b", workdir=workdir),
        )

    pg, kv = asyncio.run(up())
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(pg.endpoint.port), str(kv.endpoint.port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        pg_proxy, kv_proxy = map(int, child.stdout.readline().split())
        ep = pg.endpoint
        dsn = {"host": "127.0.0.1", "user": ep.user, "password": ep.password,
               "dbname": ep.database or "postgres"}  # fmt: skip
        postgres_setup({**dsn, "port": ep.port})
        workloads: dict[str, dict[str, Callable[[], tuple[Trip, Callable[[], None]]]]] = {
            "postgres": {
                "direct": lambda: postgres_trips({**dsn, "port": ep.port}),
                "proxied": lambda: postgres_trips({**dsn, "port": pg_proxy}),
            },
            "redis": {
                "direct": lambda: redis_trips(kv.endpoint.port, kv.endpoint.password),
                "proxied": lambda: redis_trips(kv_proxy, kv.endpoint.password),
            },
        }
        rates: dict[tuple[str, str], list[float]] = {}
        latencies: dict[tuple[str, str], list[float]] = {}
        for r in range(args.rounds):
            for name, ways in workloads.items():
                order = ["direct", "proxied"] if r % 2 == 0 else ["proxied", "direct"]
                for way in order:
                    rate, seconds = measure(ways[way], args.connections, args.trips)
                    rates.setdefault((name, way), []).append(rate)
                    latencies.setdefault((name, way), []).extend(seconds)
        child.stdin.close()
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
        pg.stop_sync()
        kv.stop_sync()
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"no toxic active; {args.rounds} interleaved rounds of {args.trips} round trips on "
        f"{args.connections} connection(s) each; medians"
    )
    print(f"{'':10} {'direct/s':>10} {'proxied/s':>10} {'ratio':>6}   added per round trip")
    for name in workloads:
        direct, proxied = rates[(name, "direct")], rates[(name, "proxied")]
        ratio = statistics.median(p / d for p, d in zip(proxied, direct, strict=True))
        d_lat, p_lat = latencies[(name, "direct")], latencies[(name, "proxied")]
        added_median = (statistics.median(p_lat) - statistics.median(d_lat)) * 1e6
        added_p99 = (p99(p_lat) - p99(d_lat)) * 1e6
        verdict = "meets" if ratio >= 0.9 else "misses"
        print(
            f"{name:10} {statistics.median(direct):10.0f} {statistics.median(proxied):10.0f} "
            f"{ratio:6.2f}   median {added_median:+.0f} us, p99 {added_p99:+.0f} us "
            f"({verdict} the target ratio >= 0.90)"
        )
        print(
            f"{'':10} round trip direct: median {statistics.median(d_lat) * 1e6:.0f} us, "
            f"p99 {p99(d_lat) * 1e6:.0f} us"
        )


if __name__ == "__main__":
    main()
