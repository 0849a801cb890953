"""Cases per second: the harness beside a plain asyncio + aiohttp client, same agent, same run.

An instant echo agent runs in its own process. The plain client posts N messages
at concurrency C and checks each reply contains the message; the harness runs a
suite of N cases with two output checks each, at the same concurrency, storing
every case. Both are measured in this one run, best of R rounds, and the ratio
printed. Target: the harness reaches at least half the plain client's rate.

    python benchmarks/bench_run.py [--cases 1000] [--concurrency 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.core.events import ignore  # noqa: E402
from harness.modes.run import RunDriver, RunOptions  # noqa: E402
from harness.procs import free_port, port_open, wait_until  # noqa: E402
from harness.session import run_session  # noqa: E402

ECHO_SERVER = """
from aiohttp import web
import orjson, sys
async def chat(request):
    data = orjson.loads(await request.read())
    return web.Response(body=orjson.dumps({"reply": "you said: " + data["message"]}),
                        content_type="application/json")
app = web.Application()
app.router.add_post("/chat", chat)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def start_echo() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, str(port)])
    if not wait_until(lambda: port_open("127.0.0.1", port), timeout=20):
        proc.kill()
        raise SystemExit("the echo agent did not start")
    return proc, port


async def plain_client(url: str, n: int, concurrency: int) -> float:
    """What a person would write by hand: post, parse, check; no harness."""
    sem = asyncio.Semaphore(concurrency)
    ok = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            nonlocal ok
            message = f"hello {i}"
            async with (
                sem,
                session.post(
                    url,
                    data=orjson.dumps({"session_id": str(i), "message": message}),
                    headers={"Content-Type": "application/json"},
                ) as resp,
            ):
                reply = orjson.loads(await resp.read())["reply"]
            ok += message in reply and "issued" not in reply

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = time.perf_counter() - started
    assert ok == n, f"plain client: only {ok}/{n} replies passed"
    return elapsed


def write_suite(folder: Path, port: int, n: int, concurrency: int) -> Path:
    suite = folder / "bench"
    (suite / "scenarios").mkdir(parents=True)
    (suite / "suite.yaml").write_text(
        textwrap.dedent(f"""\
        name: bench
        defaults: {{seed: 1, concurrency: {concurrency}, case_timeout: 30}}
        environment:
          agent:
            http:
              url: http://127.0.0.1:{port}/chat
              timeout: 10
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
        textwrap.dedent(f"""\
        scenarios:
          - id: echo
            title: echo
            repeat: {n}
            turns: ["hello {{{{ case.index }}}}"]
            checks:
              - {{type: contains, requirements: [B-001], value: "hello {{{{ case.index }}}}"}}
              - {{type: not_contains, requirements: [B-002], value: issued}}
        """)
    )
    return suite


async def harness_run(suite: Path, reports: Path) -> tuple[float, float]:
    """(seconds for the cases themselves, seconds for the whole run call)."""
    marks: dict[str, float] = {}

    def emit(event: object) -> None:
        name = type(event).__name__
        if name == "CaseFinished":
            marks.setdefault("first", time.perf_counter())
        if name == "RunStarted":
            marks["start"] = time.perf_counter()
        ignore(event)

    started = time.perf_counter()
    outcome = await run_session(RunDriver(RunOptions(suite=suite, reports_dir=reports)), emit)
    total = time.perf_counter() - started
    assert outcome.counts.get("fail", 0) == 0 and outcome.counts.get("error", 0) == 0, (
        outcome.counts
    )
    return time.perf_counter() - marks["start"], total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    proc, port = start_echo()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            suite = write_suite(Path(tmp), port, args.cases, args.concurrency)
            url = f"http://127.0.0.1:{port}/chat"
            asyncio.run(plain_client(url, 50, args.concurrency))  # warm up both sides
            plain, cases, whole = [], [], []
            for r in range(args.rounds):
                plain.append(asyncio.run(plain_client(url, args.cases, args.concurrency)))
                c, w = asyncio.run(harness_run(suite, Path(tmp) / f"reports{r}"))
                cases.append(c)
                whole.append(w)
    finally:
        proc.terminate()
        proc.wait(5)
    n = args.cases
    best_plain, best_cases, best_whole = min(plain), min(cases), min(whole)
    print(
        f"{n} cases, concurrency {args.concurrency}, "
        f"best of {args.rounds} rounds (median in brackets)"
    )
    print(
        f"  plain asyncio+aiohttp client : {n / best_plain:8.0f} cases/s  "
        f"({best_plain:.3f} s [{statistics.median(plain):.3f}])"
    )
    print(
        f"  harness engine (cases stored): {n / best_cases:8.0f} cases/s  "
        f"({best_cases:.3f} s [{statistics.median(cases):.3f}])"
    )
    print(
        f"  harness run call (+plan)     : {n / best_whole:8.0f} cases/s  "
        f"({best_whole:.3f} s [{statistics.median(whole):.3f}])"
    )
    ratio = best_plain / best_cases
    verdict = "meets" if ratio >= 0.5 else "BELOW"
    print(f"ratio harness/plain: {ratio:.2f} ({verdict} the target of >= 0.50; best rounds)")
    print(f"median ratio: {statistics.median(plain) / statistics.median(cases):.2f}")


if __name__ == "__main__":
    main()
