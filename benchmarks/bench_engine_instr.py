"""Instructions per case of bench_run.py's sides, counted by callgrind: steady on a shared
machine, where the clock and even the CPU time scatter with the other work on it.

One side of bench_run.py's echo run (1,000 cases, concurrency 32): `harness` from its
RunStarted to its last CaseFinished (the window bench_run.py times), `plain` the plain aiohttp
client's cases, or `own`: the harness with the agent's calls answered in process
(`agents/http.exchange` replaced by an echo: no HTTP client, no socket), its own code alone; or
`conclude`: `Engine.conclude`, what a load does to judge each conversation, alone; or
`exchange`: the harness's request to the agent (`agents/http.exchange` over its connection
pool, agents/client.py) alone, one per case, at the same concurrency as `plain`: with `own`, it
splits the harness's CPU per case into its own code and the HTTP client's. Under
callgrind started with `--instr-atstart=no`, only that window is counted (callgrind_control
turns counting on and off); without valgrind it prints the window's CPU per case.

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/dev/null \\
        python benchmarks/bench_engine_instr.py harness|plain|own|conclude|exchange [--cases 1000]

The count is valgrind's `Collected` line (divide by the cases). Run it against another
checkout by running that checkout's copy of this file (it imports the harness beside it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_run  # noqa: E402

from harness.core.events import ignore  # noqa: E402
from harness.modes.run import RunDriver, RunOptions  # noqa: E402
from harness.session import run_session  # noqa: E402


def counting(on: bool) -> None:
    """Callgrind's counting on or off (nothing without valgrind)."""
    subprocess.run(
        ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


def in_process_agent() -> None:
    """The agent's calls answered in this process: what is left is the harness's own code."""
    import harness.agents.process as process
    import harness.session.environment as environment
    from harness.agents import http
    from harness.agents.protocol import Incoming

    headers = [("Content-Type", "application/json")]

    async def exchange(session: Any, send: Any) -> tuple[Incoming, None]:
        await asyncio.sleep(0)
        message = orjson.loads(send.out.body)["message"]
        got = Incoming(200, headers, orjson.dumps({"reply": "you said: " + message}), 0.2, 0.1)
        send.elapsed_ms = 0.2
        return got, None

    async def reachable(*args: Any, **kwargs: Any) -> None:
        return None

    http.exchange = exchange  # type: ignore[assignment]
    process.check_reachable = reachable  # type: ignore[assignment]
    environment.check_reachable = reachable  # type: ignore[assignment]


async def harness_window(suite: Path, reports: Path, n: int, measure: bool) -> float:
    """Run the suite; count from RunStarted to the n-th CaseFinished. Its CPU seconds."""
    seen, cpu = [0], [0.0, 0.0]

    def emit(event: object) -> None:
        name = type(event).__name__
        if name == "CaseFinished":
            seen[0] += 1
            if seen[0] == n and measure:
                cpu[1] = time.process_time()
                counting(False)
        elif name == "RunStarted" and measure:
            counting(True)
            cpu[0] = time.process_time()
        ignore(event)

    await run_session(RunDriver(RunOptions(suite=suite, reports_dir=reports)), emit)
    return cpu[1] - cpu[0]


def conclude_window(n: int) -> float:
    """`Engine.conclude` (a load's judging) of n prepared cases of tests/suites/echo, one
    after another, counted alone (the preparing is not). Its CPU seconds."""
    from harness.agents.python import PythonAgent
    from harness.check.state import Targets
    from harness.run.engine import Engine
    from harness.run.plan import plan
    from harness.spec.suite import load_suite

    suite = load_suite(ROOT / "tests" / "suites" / "echo")
    agent = PythonAgent(suite.manifest.environment.agent.python, suite.root)  # type: ignore[arg-type]
    engine = Engine(
        suite, agent, Targets(), run_id="r", concurrency=2, case_timeout=30,
        emit=ignore, sink=lambda _: None,
    )  # fmt: skip
    case = next(iter(plan(suite, 1)))

    async def judged() -> float:
        prepared = [await engine.prepare(case) for _ in range(n + 200)]
        for p in prepared[:200]:  # warm up
            await engine.conclude(p)
        counting(True)
        mark = time.process_time()
        for p in prepared[200:]:
            await engine.conclude(p)
        spent = time.process_time() - mark
        counting(False)
        return spent

    return asyncio.run(judged())


async def exchanges(base: str, n: int, concurrency: int) -> float:
    """n of the harness's requests (`agents/http.exchange`, as a case's turn sends it: body
    rendered, timeout, size cap, reply read), `concurrency` at a time, over one connection
    pool as the http adapter opens it. Their CPU seconds."""
    from harness.agents import client
    from harness.agents.dialogue import Send
    from harness.agents.http import exchange
    from harness.agents.protocol import Outgoing

    sem = asyncio.Semaphore(concurrency)
    headers = {"Content-Type": "application/json"}
    s = client.Pool(concurrency)
    try:

        async def one(i: int) -> None:
            async with sem:
                body = orjson.dumps({"session_id": str(i), "message": f"hello {i}"})
                send = Send(
                    Outgoing("POST", f"{base}/chat", dict(headers), body, "turn"), 30.0, 1 << 20
                )
                got, failure = await exchange(s, send)
                assert failure is None and got is not None
                assert f"hello {i}" in orjson.loads(got.body)["reply"]

        counting(True)
        mark = time.process_time()
        await asyncio.gather(*(one(i) for i in range(n)))
        spent = time.process_time() - mark
        counting(False)
    finally:
        s.close()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("side", choices=["harness", "plain", "own", "conclude", "exchange"])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    n, side = args.cases, args.side
    if side == "conclude":
        spent = conclude_window(n)
        print(f"conclude: {n} conversations, CPU {spent / n * 1e6:.0f} us each (counted)")
        return
    if side == "own":
        in_process_agent()
    proc, port = bench_run.start_echo()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            suite = bench_run.write_suite(Path(tmp), port, n, args.concurrency)
            url = f"http://127.0.0.1:{port}"
            asyncio.run(bench_run.plain_client(url, 50, args.concurrency))  # warm up
            if side == "exchange":
                spent = asyncio.run(exchanges(url, n, args.concurrency))
            elif side == "plain":

                async def plain() -> float:
                    counting(True)
                    mark = time.process_time()
                    await bench_run.plain_client(url, n, args.concurrency)
                    spent = time.process_time() - mark
                    counting(False)
                    return spent

                spent = asyncio.run(plain())
            else:
                asyncio.run(harness_window(suite, Path(tmp) / "warm", n, False))
                spent = asyncio.run(harness_window(suite, Path(tmp) / "run", n, True))
    finally:
        proc.terminate()
        proc.wait(5)
    print(f"{side}: {n} cases, CPU {spent / n * 1e6:.0f} us a case (the counted window)")


if __name__ == "__main__":
    main()
