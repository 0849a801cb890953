"""Requests per second: `harness load` with all checks on beside plain locust, same agent and run.

An instant echo agent runs in its own process (benchmarks/bench_run.py's). Plain
locust is one process of FastHttpUsers posting the same JSON body as fast as the
agent answers, checking nothing and storing nothing. `harness load` drives a
suite whose every conversation is judged by two output checks and stored,
through the same locust client, the same number of users and one locust
process, with the harness preparing, serving and judging cases in its own
process. Both run for the same time, alternately, R rounds; the headline is the median of
the rounds' ratios (each round's harness load over the plain locust run just before it),
then the ratio of the best rates (each side's best round, not one round's ratio). Target:
the checks cost at most 20% of plain locust's rate. The CPU per request of each process
includes its start-up (imports), which is not in the rates.

With `--cpu`, each side runs for 3 s and for 3 + SECONDS s instead, R rounds, and the
difference between the two is each process's CPU per request with start-up taken out (the
agent, locust, the harness); from those, the ratio the machine's cores allow at best: each
process uses at most one core, all together at most all of them (the agent, plain locust
and `harness load` share the same cores here).

    python benchmarks/bench_load.py [--users 16] [--seconds 10] [--rounds 5] [--cpu]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_run import start_echo  # noqa: E402

from harness.core.events import ignore  # noqa: E402
from harness.deps.options import DepsOptions  # noqa: E402
from harness.modes.load import LoadDriver, LoadOptions  # noqa: E402
from harness.session import run_session  # noqa: E402

PLAIN = """
import json, sys, time
import gevent
from locust import FastHttpUser, constant, task
from locust.env import Environment

url, users, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])

class Plain(FastHttpUser):
    host = url.rsplit("/", 1)[0]
    wait_time = constant(0)
    n = 0

    @task
    def chat(self):
        Plain.n += 1
        body = json.dumps({"session_id": f"s{Plain.n}", "message": f"hello {Plain.n}"})
        self.client.post("/chat", data=body, headers={"Content-Type": "application/json"})

env = Environment(user_classes=[Plain])
runner = env.create_local_runner()
runner.start(users, spawn_rate=users)
gevent.sleep(seconds)
runner.quit()
total = runner.stats.total
print(json.dumps({"requests": total.num_requests, "failures": total.num_failures}))
"""


def write_suite(folder: Path, port: int, users: int, seconds: float) -> Path:
    suite = folder / "bench"
    (suite / "scenarios").mkdir(parents=True)
    (suite / "suite.yaml").write_text(
        textwrap.dedent(f"""\
        name: bench
        defaults: {{seed: 1, case_timeout: 30}}
        environment:
          agent:
            http:
              url: http://127.0.0.1:{port}/chat
              timeout: 10
        load:
          profiles:
            bench: {{shape: soak, users: {users}, duration: {seconds}, duplicates: 0}}
        """)
    )
    (suite / "spec.yaml").write_text(
        textwrap.dedent("""\
        title: Echo
        requirements:
          - {id: B-001, title: echoes, severity: major, text: The reply holds the message.}
          - {id: B-002, title: never issued, severity: critical, text: Never says issued.}
        """)
    )
    (suite / "scenarios" / "echo.yaml").write_text(
        textwrap.dedent("""\
        scenarios:
          - id: echo
            title: echo
            turns: ["hello {{ case.id }}"]
            checks:
              - {type: contains, requirements: [B-001], value: "hello {{ case.id }}"}
              - {type: not_contains, requirements: [B-002], value: issued}
        """)
    )
    return suite


def cpu_of(pid: int) -> float:
    """CPU seconds a live process has used (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def plain_locust(url: str, users: int, seconds: float) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PLAIN, url, str(users), str(seconds)],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert counts["failures"] == 0, counts
    return float(counts["requests"]) / seconds


def harness_load(suite: Path, reports: Path) -> tuple[float, dict[str, int]]:
    """Requests per second over the profile's length, as locust counted them."""
    options = LoadOptions(
        suite=suite, profile="bench", reports_dir=reports, deps=DepsOptions(mode="embedded")
    )
    outcome = asyncio.run(run_session(LoadDriver(options), ignore))
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    load = manifest["load"]
    counts = load["counts"]
    assert counts["failed"] == 0 and counts["errored"] == 0, counts
    assert load["locust"]["failures"] == 0, load["locust"]
    return load["locust"]["requests"] / load["length_s"], counts


SHORT = 3.0  # seconds of the shorter run of `--cpu`


def run_once(
    kind: str, url: str, port: int, users: int, seconds: float, tmp: Path, pid: int
) -> tuple[float, dict[str, float]]:
    """One run of a side: (requests, CPU seconds by process: agent, locust, harness)."""
    agent, kids, me = cpu_of(pid), children_cpu(), self_cpu()
    if kind == "plain":
        rps = plain_locust(url, users, seconds)
    else:
        folder = Path(tempfile.mkdtemp(dir=tmp))
        rps, _ = harness_load(write_suite(folder, port, users, seconds), folder / "reports")
    used = {"agent": cpu_of(pid) - agent, "locust": children_cpu() - kids}
    if kind == "load":
        used["harness"] = self_cpu() - me
    return rps * seconds, used


def cpu_mode(args: argparse.Namespace, url: str, port: int, pid: int) -> None:
    """CPU milliseconds per request by process, start-up taken out, and the ratio they allow."""
    per: dict[str, dict[str, list[float]]] = {"plain": {}, "load": {}}
    rates: dict[str, list[float]] = {"plain": [], "load": []}
    with tempfile.TemporaryDirectory() as tmp:
        plain_locust(url, args.users, 2.0)  # warm up the agent and the imports
        for r in range(args.rounds):
            for kind in ("plain", "load"):
                n1, short = run_once(kind, url, port, args.users, SHORT, Path(tmp), pid)
                long = SHORT + args.seconds
                n2, full = run_once(kind, url, port, args.users, long, Path(tmp), pid)
                rates[kind].append(n2 / long)
                for name in full:
                    value = (full[name] - short[name]) / (n2 - n1) * 1000
                    per[kind].setdefault(name, []).append(value)
            print(
                f"  round {r + 1}: plain {rates['plain'][-1]:.0f} req/s, harness load "
                f"{rates['load'][-1]:.0f} req/s, load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    cores = os.cpu_count() or 1
    print(
        f"CPU milliseconds per request, start-up taken out (median of {args.rounds} rounds "
        f"of {SHORT:g} s and {SHORT + args.seconds:g} s), {cores} cores:"
    )
    best: dict[str, float] = {}
    for kind, label in (("plain", "plain locust"), ("load", "harness load")):
        ms = {name: statistics.median(v) for name, v in per[kind].items()}
        total = sum(ms.values())
        parts = "".join(f"  {n} {v:.3f}" for n, v in ms.items())
        print(f"  {label:13}{parts}  = {total:.3f}")
        # each process at most one core; all of them at most every core
        best[kind] = min([1000 / max(ms.values()), cores * 1000 / total])
        print(f"  {'':13}  at most {best[kind]:.0f} req/s on {cores} cores")
    print(
        f"ratio the CPU allows at best: {best['load'] / best['plain']:.2f} "
        f"(measured: {statistics.median(rates['load']) / statistics.median(rates['plain']):.2f}"
        " of the medians)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cpu", action="store_true", help="CPU per request and its bound")
    args = parser.parse_args()
    proc, port = start_echo()
    if args.cpu:
        try:
            cpu_mode(args, f"http://127.0.0.1:{port}/chat", port, proc.pid)
        finally:
            proc.terminate()
            proc.wait(5)
        return
    url = f"http://127.0.0.1:{port}/chat"
    plain: list[float] = []
    loaded: list[float] = []
    judged: list[int] = []
    cpu: dict[str, list[float]] = {}  # CPU seconds per request, by process, per round

    def account(name: str, seconds: float, requests: float) -> None:
        cpu.setdefault(name, []).append(seconds / requests * 1000 if requests else 0.0)

    try:
        with tempfile.TemporaryDirectory() as tmp:
            suite = write_suite(Path(tmp), port, args.users, args.seconds)
            plain_locust(url, args.users, 2.0)  # warm up the agent and the imports
            for r in range(args.rounds):
                agent, kids = cpu_of(proc.pid), children_cpu()
                plain.append(plain_locust(url, args.users, args.seconds))
                n = plain[-1] * args.seconds
                account("plain: agent", cpu_of(proc.pid) - agent, n)
                account("plain: locust", children_cpu() - kids, n)
                agent, kids, me = cpu_of(proc.pid), children_cpu(), self_cpu()
                rps, counts = harness_load(suite, Path(tmp) / f"reports{r}")
                loaded.append(rps)
                judged.append(counts["judged"])
                n = rps * args.seconds
                account("load: agent", cpu_of(proc.pid) - agent, n)
                account("load: locust", children_cpu() - kids, n)
                account("load: harness", self_cpu() - me, n)
                print(
                    f"  round {r + 1}: plain {plain[-1]:.0f} req/s, harness load {rps:.0f} req/s"
                    f" (ratio {rps / plain[-1]:.2f})",
                    flush=True,
                )
    finally:
        proc.terminate()
        proc.wait(5)
    best_plain, best_load = max(plain), max(loaded)
    print(
        f"{args.users} users, {args.seconds:g} s per round, {args.rounds} interleaved rounds: "
        "best (median in brackets), 1 locust process each"
    )
    median_plain = statistics.median(plain)
    print(f"  plain locust, no checks        : {best_plain:8.0f} req/s  [{median_plain:.0f}]")
    print(
        f"  harness load, 2 checks + store : {best_load:8.0f} req/s  "
        f"[{statistics.median(loaded):.0f}]  ({max(judged)} conversations judged in a round)"
    )
    print("CPU milliseconds per request (median over rounds):")
    for name, values in cpu.items():
        print(f"  {name:15} {statistics.median(values):6.3f}")
    ratio = statistics.median(h / p for h, p in zip(loaded, plain, strict=True))
    verdict = "meets" if ratio >= 0.8 else "BELOW"
    print(
        f"ratio harness load / plain locust: {ratio:.2f}, median of {args.rounds} rounds "
        f"({verdict} the target of >= 0.80)"
    )
    print(f"ratio of the best rates (each side's best round): {best_load / best_plain:.2f}")


if __name__ == "__main__":
    main()
