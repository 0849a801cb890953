"""The harness's side of the wire: a small aiohttp server the load generator talks to.

It listens on 127.0.0.1 (a random port) unless `harness load --bind` exposes it for
workers on other machines; every path starts with a secret made for the run, so
only processes that were told it (by the harness, or by the locust master) can
fetch cases or post results. See wire.py for the messages.
"""

from __future__ import annotations

import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from harness.empty import empty_dict
from harness.errors import EnvironmentFault
from harness.load.feeder import Feeder
from harness.load.timeline import Timeline

MAX_BATCH = 256
MAX_BODY = 256 * 1024 * 1024  # a batch of results with replies up to each adapter's cap


@dataclass
class Process:
    """One load generator process as it reported itself."""

    role: str
    pid: int
    index: int | None = None
    waited: float = 0.0  # seconds its users waited for a prepared case
    requests: int = 0
    failures: int = 0
    final: bool = False  # its totals at the end arrived


@dataclass
class LoadState:
    """What the generator processes told the harness, and whether they should stop."""

    config: dict[str, Any]
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    stop: bool = False
    started: bool = False
    runner_state: str = ""
    totals: dict[str, Any] = field(default_factory=empty_dict)  # the runner's (local or master)
    processes: dict[int, Process] = field(default_factory=empty_dict)

    def process(self, data: dict[str, Any]) -> Process:
        pid = int(data.get("pid") or 0)
        proc = self.processes.get(pid)
        if proc is None:
            proc = self.processes[pid] = Process(str(data.get("role") or "?"), pid)
        if data.get("index") is not None:
            proc.index = int(data["index"])
        return proc

    @property
    def waited(self) -> float:
        return sum(p.waited for p in self.processes.values())


def _json(data: Any) -> web.Response:
    return web.Response(body=orjson.dumps(data), content_type="application/json")


def make_app(state: LoadState, feeder: Feeder, timeline: Timeline) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    base = f"/{state.secret}"

    async def config(_: web.Request) -> web.Response:
        return _json(state.config)

    async def cases(request: web.Request) -> web.Response:
        try:
            n = min(MAX_BATCH, max(1, int(request.query.get("n", "1"))))
        except ValueError:
            n = 1
        ends_at = timeline.t0 + timeline.length if timeline.t0 is not None else None
        over = ends_at is not None and time.time() >= ends_at
        items = [] if state.stop or over else await feeder.take(n)
        return _json({"cases": items, "stop": state.stop, "ends_at": ends_at, "t0": timeline.t0})

    async def results(request: web.Request) -> web.Response:
        data = orjson.loads(await request.read())
        proc = state.process(data)
        proc.waited = float(data.get("waited") or proc.waited)
        proc.requests = int(data.get("requests") or proc.requests)
        proc.failures = int(data.get("failures") or proc.failures)
        feeder.results(list(data.get("results") or []), proc.index)
        return _json({"stop": state.stop})

    async def status(request: web.Request) -> web.Response:
        data = orjson.loads(await request.read())
        state.process(data)
        if data.get("t0"):
            timeline.start(float(data["t0"]))
            state.started = True
        if data.get("users") is not None and state.started:
            timeline.report(float(data.get("now") or 0.0), int(data["users"]))
        state.runner_state = str(data.get("state") or state.runner_state)
        return _json({"stop": state.stop})

    async def totals(request: web.Request) -> web.Response:
        data = orjson.loads(await request.read())
        proc = state.process(data)
        proc.requests = int(data.get("requests") or 0)
        proc.failures = int(data.get("failures") or 0)
        proc.final = True
        if proc.role in ("local", "master"):
            state.totals = {
                "requests": proc.requests,
                "failures": proc.failures,
                "workers": data.get("workers") or {},
            }
        return _json({})

    async def returned(request: web.Request) -> web.Response:
        data = orjson.loads(await request.read())
        feeder.returned(list(data.get("tokens") or []))
        return _json({})

    app.router.add_get(f"{base}/config", config)
    app.router.add_get(f"{base}/cases", cases)
    app.router.add_post(f"{base}/results", results)
    app.router.add_post(f"{base}/status", status)
    app.router.add_post(f"{base}/totals", totals)
    app.router.add_post(f"{base}/returned", returned)
    return app


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start listening (port 0: a free one); returns the runner (clean up with
    `await runner.cleanup()`) and the port it listens on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise EnvironmentFault(
            f"cannot listen on {host}:{port} for the load generator: {exc.strerror or exc}",
            hint="choose another --case-port (or none: a free one), or another --bind",
        ) from None
    sock.listen(1024)
    sock.setblocking(False)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner, int(sock.getsockname()[1])
