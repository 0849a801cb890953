"""The load generator's users and shape: locust as a library, in its own process only.

Run by `python -m harness.load.roles` (one process, or a master and workers).
Locust patches the whole process with gevent on import, which is why this module
only ever runs here. Each user fetches prepared cases from the harness, sends
every turn with locust's HTTP client (so locust's statistics are real) using the
exact bodies the harness rendered with `HttpAgent.request`, judges each reply
with `parse_reply` exactly as the http adapter does, and posts the outcomes
back. A duplicate pair is played in lockstep: both copies of each turn at once.
The profile is a LoadTestShape whose one method, `tick()`, reads the schedule
the harness sent; after its end it asks for zero users, so every conversation in
flight finishes (within the stop timeout) before the process reports its totals.
"""

# ruff: noqa: E402 - gevent must patch the process before anything else is imported
from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import contextlib
import os
import random
import time
import zlib
from typing import Any

import gevent
import orjson
import requests
from gevent.queue import Empty, Queue
from locust import FastHttpUser, LoadTestShape, task
from locust.runners import Runner

from harness.agents.base import Reply
from harness.agents.http import parse_reply
from harness.core.failures import Failure
from harness.load.wire import REQUEST_NAME, outcome, timeout_error, transport_error
from harness.spec.load import Stage, users_at
from harness.spec.models import HttpAdapter

HUB: Hub | None = None
COUNTS = {"requests": 0, "failures": 0}  # every turn this process sent, as locust counted it


def count_request(exception: BaseException | None = None, **_: Any) -> None:
    COUNTS["requests"] += 1
    COUNTS["failures"] += exception is not None


class Hub:
    """This process's line to the harness: cases in, outcomes out, in batches."""

    def __init__(self, url: str, role: str, index: int | None = None) -> None:
        self.url = url.rstrip("/")
        self.role = role
        self.index = index
        self.http = requests.Session()
        self.config: dict[str, Any] = self._call("GET", "/config")
        self.adapter = HttpAdapter.model_validate(self.config["adapter"])
        self.headers = dict(self.adapter.headers)
        self.queue: Queue[dict[str, Any]] = Queue()
        self.pending: list[list[Any] | dict[str, Any]] = []
        self.waited = 0.0
        self.taken = 0  # cases taken since the feeder last measured the rate
        self.stop = False
        self.ends_at: float | None = None  # no conversation starts after the profile's end
        self.runner: Runner | None = None

    def _call(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        data = None if body is None else orjson.dumps(body)
        resp = self.http.request(method, self.url + path, data=data, timeout=timeout)
        resp.raise_for_status()
        return orjson.loads(resp.content)

    def post(self, path: str, body: dict[str, Any], timeout: float = 30) -> Any:
        return self._call("POST", path, {"role": self.role, "pid": os.getpid(), **body}, timeout)

    def start(self) -> None:
        gevent.spawn(self._feed)
        gevent.spawn(self._report)

    def _users(self) -> int:
        return self.runner.user_count if self.runner is not None else 1

    def _feed(self) -> None:
        """Keep about a second of this process's conversations at hand."""
        mark, rate = time.monotonic(), 0.0
        while not self.stop:
            now = time.monotonic()
            if now - mark >= 1.0:
                rate, mark = self.taken / (now - mark), now
                self.taken = 0
            want = int(max(8, 2 * self._users(), rate))
            have = self.queue.qsize()
            if have > want // 2:
                gevent.sleep(0.01)
                continue
            try:
                data = self._call("GET", f"/cases?n={want - have}", timeout=30)
            except Exception:
                gevent.sleep(0.2)
                continue
            for case in data.get("cases") or []:
                self.queue.put(case)
            self.stop = self.stop or bool(data.get("stop"))
            self.ends_at = data.get("ends_at") or self.ends_at
            if not data.get("cases"):
                gevent.sleep(0.02)

    def take(self) -> dict[str, Any] | None:
        started = time.perf_counter()
        if self.stop or (self.ends_at is not None and time.time() >= self.ends_at):
            gevent.sleep(0.1)  # the users are about to be stopped; do not spin meanwhile
            return None
        try:
            item: dict[str, Any] = self.queue.get(timeout=0.5)
            self.taken += 1
            return item
        except Empty:
            return None
        finally:
            self.waited += time.perf_counter() - started

    def done(self, token: str, turns: list[list[Any]]) -> None:
        self.pending.append({"token": token, "turns": turns})

    def _report(self) -> None:
        while True:
            gevent.sleep(0.2)
            self.flush()

    def flush(self, timeout: float = 30) -> None:
        batch, self.pending = self.pending, []
        body = {"index": self.index, "waited": round(self.waited, 3), **COUNTS, "results": batch}
        try:
            answer = self.post("/results", body, timeout)
        except Exception:
            self.pending[:0] = batch  # sent again with the next batch
            return
        self.stop = self.stop or bool(answer.get("stop"))

    def close(self) -> None:
        """Everything finished goes back; cases fetched and never started are returned."""
        self.stop = True
        self.flush()
        unused: list[str] = []
        while not self.queue.empty():
            case = self.queue.get()
            unused.append(case["token"])
            if case.get("twin"):
                unused.append(case["twin"]["token"])
        if unused:  # on failure the harness counts them as abandoned instead
            with contextlib.suppress(Exception):
                self.post("/returned", {"tokens": unused})


def _read_capped(resp: Any, limit: int) -> bytes:
    """The body up to `limit` bytes (a longer one is cut there and reported as too big)."""
    encoding = ""
    if resp.headers is not None:
        encoding = str(resp.headers.get("content-encoding") or "").lower()
    compressed = encoding in ("gzip", "deflate")
    if encoding not in ("", "identity") and not compressed:
        raise ValueError(f"unsupported content encoding {encoding!r}")
    cap = limit * 32 if compressed else limit
    chunks: list[bytes] = []
    size = 0
    while size < cap:
        chunk = resp.stream.read(min(65536, cap - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size >= cap:
        resp.release()  # the rest stays unread: this connection is closed, not reused
    raw = b"".join(chunks)
    if compressed:
        wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else -zlib.MAX_WBITS
        raw = zlib.decompressobj(wbits).decompress(raw, limit)
    return raw


def _transport_error(error: BaseException, timeout: float) -> Failure:
    if isinstance(error, gevent.Timeout):
        return timeout_error(timeout)
    return transport_error(error, timeout)


class Conversation(FastHttpUser):
    """One simulated customer: plays prepared cases, one conversation after another."""

    host = "http://127.0.0.1"  # replaced by the agent's address before any user starts
    concurrency = 4  # a duplicate pair sends two turns at once

    def wait_time(self) -> float:
        assert HUB is not None
        low, high = HUB.config["wait"]
        return random.uniform(low, high) if high > 0 else 0.0

    @task
    def converse(self) -> None:
        hub = HUB
        item = hub.take() if hub is not None else None
        if hub is None or item is None:
            return
        twin = item.get("twin")
        if twin is None:
            hub.done(item["token"], self._play(item["turns"]))
            return
        first, second = self._pair(item["turns"], twin["turns"], float(twin["stagger"]))
        hub.done(item["token"], first)
        hub.done(twin["token"], second)

    def _play(self, turns: list[list[str]]) -> list[list[Any]]:
        out = []
        for turn in turns:
            out.append(self._send(turn))
            if out[-1][4] is not None:
                break  # as in a run: a failed turn ends the conversation
        return out

    def _pair(
        self, a: list[list[str]], b: list[list[str]], stagger: float
    ) -> tuple[list[list[Any]], list[list[Any]]]:
        """Both conversations turn by turn in lockstep: each turn of both at the same moment."""
        out_a: list[list[Any]] = []
        out_b: list[list[Any]] = []
        for i in range(len(a)):
            live = [(o, t) for o, t in ((out_a, a), (out_b, b)) if not (o and o[-1][4])]
            if not live:
                break
            jobs = [gevent.spawn(self._send, t[i], stagger if o is out_b else 0.0) for o, t in live]
            gevent.joinall(jobs, raise_error=True)
            for (o, _), job in zip(live, jobs, strict=True):
                o.append(job.value)
        return out_a, out_b

    def _send(self, turn: list[str], delay: float = 0.0) -> list[Any]:
        assert HUB is not None
        if delay:
            gevent.sleep(delay)
        cfg = HUB.adapter
        body, content_type = turn
        headers = {**HUB.headers, "Content-Type": content_type, "Accept-Encoding": "identity"}
        at, started = time.time(), time.perf_counter()
        raw = b""
        with self.client.request(
            cfg.method,
            cfg.url,
            name=REQUEST_NAME,
            data=None if cfg.method == "GET" else body,  # sent as its UTF-8 bytes
            headers=headers,
            stream=True,
            catch_response=True,
            allow_redirects=False,  # traffic goes to the suite's agent address and nowhere else
        ) as resp:
            error = getattr(resp, "error", None)
            status = int(resp.status_code or 0)
            reply: Reply
            if error is not None and not status:
                reply = Reply(None, _ms(started), None, _transport_error(error, cfg.timeout))
            else:
                try:
                    raw = _read_capped(resp, cfg.max_bytes + 1)
                    reply = parse_reply(cfg, status, raw, _ms(started))
                except Exception as exc:
                    reply = Reply(None, _ms(started), status, _transport_error(exc, cfg.timeout))
            resp.request_meta["response_time"] = reply.latency_ms
            resp.request_meta["response_length"] = len(raw)
            if reply.failure is None:
                resp.success()
            else:
                resp.failure(reply.failure.message)
        return outcome(at, reply.status, reply.text, reply.latency_ms, reply.failure)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


class ProfileShape(LoadTestShape):
    """The profile's schedule; after its end, zero users, so conversations finish."""

    def __init__(self, stages: list[Stage], length: float) -> None:
        super().__init__()
        self.stages = stages
        self.length = length
        self.t0 = time.time()

    def reset_time(self) -> None:
        super().reset_time()
        self.t0 = time.time()

    def tick(self) -> tuple[int, float] | None:
        now = users_at(self.stages, self.get_run_time(), self.length)
        return now if now is not None else (0, float(max(1, self.stages[-1].users)))
