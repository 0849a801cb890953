"""What the fault proxy costs with no toxic active: the same PostgreSQL queries (psycopg) and
Redis commands (redis-py), direct and through a `LinkProxy`, in this one run.

Real servers come from the embedded provider. The proxies run in a process of their own, as
they would beside the harness's work. Each round runs every workload once per way, in an
order rotated from round to round, over C connections (one thread each), N round trips per
connection; R rounds. The ways: `direct`; `proxied` (`LinkProxy`, the default asyncio loop);
`bare` (a bare asyncio forwarder, a `Protocol` that writes what it reads: a reference, not a
floor: it was no faster than the proxy here) and, when uvloop is installed, `uvloop`
(`LinkProxy` on it).

Printed per dependency and way: the median throughput over rounds; the ratio to direct, per
round (the way's rate over direct's in the same round), as the median over rounds with its
range (min..max): the two columns are different medians, so trips/s over direct's trips/s
need not equal the ratio shown. The target for `proxied` is a ratio >= 0.9: "met" only when
the whole range is at or above it, "missed" when the whole range is below it, else "within
noise of the target". Then the latency added to a round trip, per paired round (that
round's median and p99 less the direct ones of the same round), as the median over rounds
with its range. An added p99 whose range spans 0 is within noise and printed as such.

    python benchmarks/bench_proxy.py [--rounds 7] [--trips 2000] [--connections 1] [--no-uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import os
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


class Forward(asyncio.Protocol):
    """The reference: one socket of a bare asyncio forwarder, writing what it reads to its
    peer (no flow control, no stats)."""

    def __init__(self, peer: Forward | None = None) -> None:
        self.peer = peer
        self.transport: asyncio.Transport | None = None
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.write(data)
        else:
            self.pending.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


async def forwarder(upstream: int) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    connecting: set[asyncio.Task[None]] = set()

    def accepted() -> Forward:
        client = Forward()

        async def connect() -> None:
            _, server = await loop.create_connection(lambda: Forward(client), "127.0.0.1", upstream)
            client.peer = server
            assert server.transport is not None
            for data in client.pending:
                server.transport.write(data)

        task = loop.create_task(connect())
        connecting.add(task)
        task.add_done_callback(connecting.discard)
        return client

    return await loop.create_server(accepted, "127.0.0.1", 0)


async def serve(upstreams: list[int], bare: bool) -> None:
    proxies = [LinkProxy("127.0.0.1", port) for port in upstreams]
    for proxy in proxies:
        await proxy.start()
    ports = [p.port for p in proxies]
    forwarders = [await forwarder(port) for port in upstreams] if bare else []
    ports += [f.sockets[0].getsockname()[1] for f in forwarders]
    print(" ".join(map(str, ports)), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    for proxy in proxies:
        stats = proxy.stats()
        if (stats.upstream_in, stats.downstream_in) != (stats.upstream_out, stats.downstream_out):
            print(f"the proxy lost bytes: {stats}", file=sys.stderr)  # never with no toxic
        await proxy.stop()
    for server in forwarders:
        server.close()


def proxies(pg: int, kv: int, loop: str) -> tuple[subprocess.Popen[str], list[int]]:
    """A process serving the proxies (and the bare forwarders on the default loop)."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", loop, str(pg), str(kv)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    return child, list(map(int, child.stdout.readline().split()))


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


def cpu_seconds(pid: int | None) -> float:
    """The CPU time a process's main thread (the proxies' event loop) has used, in seconds."""
    if pid is None:
        return 0.0
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def measure(
    make: Callable[[], tuple[Trip, Callable[[], None]]],
    connections: int,
    trips: int,
    proxy_pid: int | None = None,
):
    """Round trips per second over all connections, every round trip's seconds, and the CPU
    seconds the proxies' process spent meanwhile."""
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
    cpu = cpu_seconds(proxy_pid)
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    cpu = cpu_seconds(proxy_pid) - cpu
    for _, close in made:
        close()
    return connections * trips / elapsed, [s for per in samples for s in per], cpu


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def added(direct: list[list[float]], way: list[list[float]], stat: Callable[[list[float]], float]):
    """Per paired round: the way's statistic less direct's; their median, min and max, in us."""
    diffs = sorted((stat(w) - stat(d)) * 1e6 for d, w in zip(direct, way, strict=True))
    return statistics.median(diffs), diffs[0], diffs[-1]


def show(name: str, stat: tuple[float, float, float]) -> str:
    mid, low, high = stat
    text = f"{name} {mid:+.0f} us ({low:+.0f}..{high:+.0f})"
    return text + " within noise" if low <= 0 <= high else text


TARGET = 0.9  # the proxy's throughput ratio to direct, issue 15


def ratios(direct: list[float], way: list[float]) -> tuple[float, float, float]:
    """The way's rate over direct's, per paired round: their median, min and max."""
    per_round = sorted(w / d for w, d in zip(way, direct, strict=True))
    return statistics.median(per_round), per_round[0], per_round[-1]


def against(target: float, ratio: tuple[float, float, float]) -> str:
    """Whether the ratio meets the target: "met" only when every round's ratio is at or above
    it, "missed" when every one is below, else "within noise of the target"."""
    _, low, high = ratio
    if low >= target:
        return "met"
    if high < target:
        return "missed"
    return "within noise of the target"


def ratio_text(ratio: tuple[float, float, float]) -> str:
    mid, low, high = ratio
    return f"{mid:.2f} ({low:.2f}..{high:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--trips", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--no-uvloop", action="store_true", help="skip the uvloop way")
    parser.add_argument("--serve", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        loop, ports = args.serve[0], [int(p) for p in args.serve[1:]]
        if loop == "uvloop":
            import uvloop

            uvloop.run(serve(ports, bare=False))
        else:
            asyncio.run(serve(ports, bare=True))
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
    children: list[subprocess.Popen[str]] = []
    try:
        ep, kp = pg.endpoint, kv.endpoint
        child, (pg_proxy, kv_proxy, pg_bare, kv_bare) = proxies(ep.port, kp.port, "asyncio")
        children.append(child)
        pids: dict[str, int | None] = {"direct": None, "proxied": child.pid, "bare": child.pid}
        ports = {
            "direct": (ep.port, kp.port),
            "proxied": (pg_proxy, kv_proxy),
            "bare": (pg_bare, kv_bare),
        }
        if has_uvloop() and not args.no_uvloop:
            child, uv_ports = proxies(ep.port, kp.port, "uvloop")
            children.append(child)
            ports["uvloop"] = (uv_ports[0], uv_ports[1])
            pids["uvloop"] = child.pid
        dsn = {"host": "127.0.0.1", "user": ep.user, "password": ep.password,
               "dbname": ep.database or "postgres"}  # fmt: skip
        postgres_setup({**dsn, "port": ep.port})

        def workload(name: str, port: int) -> Callable[[], tuple[Trip, Callable[[], None]]]:
            if name == "postgres":
                return lambda: postgres_trips({**dsn, "port": port})
            return lambda: redis_trips(port, kp.password)

        ways = list(ports)
        rates: dict[tuple[str, str], list[float]] = {}
        latencies: dict[tuple[str, str], list[list[float]]] = {}
        cpu: dict[tuple[str, str], float] = {}
        for r in range(args.rounds):
            for index, name in enumerate(("postgres", "redis")):
                order = ways[r % len(ways) :] + ways[: r % len(ways)]
                for way in order:
                    make = workload(name, ports[way][index])
                    rate, seconds, used = measure(make, args.connections, args.trips, pids[way])
                    cpu[(name, way)] = cpu.get((name, way), 0.0) + used
                    rates.setdefault((name, way), []).append(rate)
                    latencies.setdefault((name, way), []).append(seconds)
        for child in children:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(10)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
        pg.stop_sync()
        kv.stop_sync()
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"no toxic active; {args.rounds} rounds (order rotated) of {args.trips} round trips "
        f"on {args.connections} connection(s) per way; medians over rounds, (min..max)"
    )
    print(
        "ways: proxied = LinkProxy (asyncio); bare = a bare asyncio forwarder (reference, "
        "not a floor)" + ("; uvloop = LinkProxy on uvloop" if "uvloop" in ports else "")
    )
    print(
        "trips/s = the way's median over rounds; ratio = the way's rate / direct's in the same "
        "round, median over rounds (min..max): a different median, so trips/s / direct's "
        "trips/s need not equal it"
    )
    print("cpu = the proxy process's CPU time per round trip (its event loop's thread)")
    print(
        f"{'':9} {'way':8} {'trips/s':>8} {'ratio (min..max)':>18} {'cpu':>6}   "
        "added per round trip"
    )
    for name in ("postgres", "redis"):
        d_rates, d_lat = rates[(name, "direct")], latencies[(name, "direct")]
        median_ms = statistics.median(statistics.median(x) for x in d_lat) * 1e6
        p99_ms = statistics.median(p99(x) for x in d_lat) * 1e6
        print(
            f"{name:9} {'direct':8} {statistics.median(d_rates):8.0f} {'1.00':>18} {'':6}   "
            f"(a round trip: median {median_ms:.0f} us, p99 {p99_ms:.0f} us)"
        )
        for way in ways[1:]:
            w_rates, w_lat = rates[(name, way)], latencies[(name, way)]
            ratio = ratios(d_rates, w_rates)
            target = f"  (target >= {TARGET:.2f}: {against(TARGET, ratio)})"
            per_trip = cpu[(name, way)] / (args.rounds * args.connections * args.trips) * 1e6
            print(
                f"{'':9} {way:8} {statistics.median(w_rates):8.0f} {ratio_text(ratio):>18} "
                f"{per_trip:3.0f} us   "
                f"{show('median', added(d_lat, w_lat, statistics.median))}, "
                f"{show('p99', added(d_lat, w_lat, p99))}" + (target if way == "proxied" else "")
            )
    load = os.getloadavg()[0]
    print(
        f"load average at the end: {load:.1f} on {os.cpu_count()} cores"
        + (" (other work ran meanwhile: every number above is scattered by it)" if load > 1 else "")
    )


if __name__ == "__main__":
    main()
