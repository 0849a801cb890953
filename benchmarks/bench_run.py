"""Cases per second: the harness beside a plain asyncio + aiohttp client, same agent, same run.

An instant echo agent runs in its own process. The plain client posts N messages
at concurrency C and checks each reply contains the message; the harness runs a
suite of N cases with two output checks each, at the same concurrency, storing
every case. Both are measured in this one run, in R interleaved rounds, and the
ratio of the medians printed. Target: the harness reaches at least half the plain
client's rate.

`--mode sessions`: the agent's API opens a conversation first (POST /conversations
-> {"conversation_id"}), then takes the message at /conversations/{id}/messages; the
plain client makes the same two calls per case, the harness captures the id at `open`.

    python benchmarks/bench_run.py [--mode plain|sessions] [--cases 1000]
        [--concurrency 32] [--rounds 5]
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
import itertools, orjson, sys
ids = itertools.count(1)
async def chat(request):
    data = orjson.loads(await request.read())
    return web.Response(body=orjson.dumps({"reply": "you said: " + data["message"]}),
                        content_type="application/json")
async def open_conversation(request):
    await request.read()
    return web.Response(body=orjson.dumps({"conversation_id": f"c{next(ids)}"}), status=201,
                        content_type="application/json")
async def message(request):
    data = orjson.loads(await request.read())
    reply = {"reply": "you said: " + data["text"], "conversation": request.match_info["cid"]}
    return web.Response(body=orjson.dumps(reply), content_type="application/json")
app = web.Application()
app.router.add_post("/chat", chat)
app.router.add_post("/conversations", open_conversation)
app.router.add_post("/conversations/{cid}/messages", message)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def start_echo() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, str(port)])
    if not wait_until(lambda: port_open("127.0.0.1", port), timeout=20):
        proc.kill()
        raise SystemExit("the echo agent did not start")
    return proc, port


async def plain_client(base: str, n: int, concurrency: int, mode: str = "plain") -> float:
    """What a person would write by hand: (open,) post, parse, check; no harness."""
    sem = asyncio.Semaphore(concurrency)
    ok = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    json = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            nonlocal ok
            message = f"hello {i}"
            async with sem:
                if mode == "sessions":
                    body = orjson.dumps({"customer_ref": str(i)})
                    async with session.post(f"{base}/conversations", data=body, headers=json) as r:
                        cid = orjson.loads(await r.read())["conversation_id"]
                    url, body = (
                        f"{base}/conversations/{cid}/messages",
                        orjson.dumps({"text": message}),
                    )
                else:
                    url = f"{base}/chat"
                    body = orjson.dumps({"session_id": str(i), "message": message})
                async with session.post(url, data=body, headers=json) as resp:
                    reply = orjson.loads(await resp.read())["reply"]
            ok += message in reply and "issued" not in reply

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = time.perf_counter() - started
    assert ok == n, f"plain client: only {ok}/{n} replies passed"
    return elapsed


HTTP_PLAIN = """\
    http:
      url: http://127.0.0.1:{port}/chat
      timeout: 10
"""
HTTP_SESSIONS = """\
    http:
      open:
        url: http://127.0.0.1:{port}/conversations
        body: {{customer_ref: "{{{{ case.id }}}}"}}
        capture: {{conversation_id: conversation_id}}
      url: http://127.0.0.1:{port}/conversations/{{{{ session.conversation_id }}}}/messages
      body: {{text: "{{{{ turn.text }}}}"}}
      timeout: 10
"""


def write_suite(folder: Path, port: int, n: int, concurrency: int, mode: str = "plain") -> Path:
    suite = folder / "bench"
    (suite / "scenarios").mkdir(parents=True)
    http = (HTTP_SESSIONS if mode == "sessions" else HTTP_PLAIN).format(port=port)
    (suite / "suite.yaml").write_text(
        textwrap.dedent(f"""\
        name: bench
        defaults: {{seed: 1, concurrency: {concurrency}, case_timeout: 30}}
        environment:
          agent:
""")
        + http
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
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", choices=["plain", "sessions"], default="plain")
    args = parser.parse_args()
    proc, port = start_echo()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            suite = write_suite(Path(tmp), port, args.cases, args.concurrency, args.mode)
            url = f"http://127.0.0.1:{port}"
            asyncio.run(plain_client(url, 50, args.concurrency, args.mode))  # warm up both sides
            plain, cases, whole = [], [], []
            for r in range(args.rounds):
                plain.append(
                    asyncio.run(plain_client(url, args.cases, args.concurrency, args.mode))
                )
                c, w = asyncio.run(harness_run(suite, Path(tmp) / f"reports{r}"))
                cases.append(c)
                whole.append(w)
    finally:
        proc.terminate()
        proc.wait(5)
    n = args.cases
    best_plain, best_cases, best_whole = min(plain), min(cases), min(whole)
    calls = "open + 1 turn" if args.mode == "sessions" else "1 turn"
    print(
        f"{n} cases ({args.mode}: {calls} each), concurrency {args.concurrency}, "
        f"{args.rounds} interleaved rounds: best (median in brackets)"
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
    ratio = statistics.median(plain) / statistics.median(cases)
    verdict = "meets" if ratio >= 0.5 else "BELOW"
    print(f"ratio harness/plain: {ratio:.2f} ({verdict} the target of >= 0.50; medians)")
    print(f"best-round ratio: {best_plain / best_cases:.2f}")


if __name__ == "__main__":
    main()
