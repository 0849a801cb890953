"""The load generator's users and shape: locust as a library, in its own process only.

Run by `python -m harness.load.roles` (one process, or a master and workers).
Locust patches the whole process with gevent on import, which is why this module
only ever runs here. Each user fetches prepared cases from the harness and plays
each one as a Script (agents/script.py): the same dialogue steps as `harness run`
(logins, opens, captures, cookies, 429 waits, streams, OpenAI histories and tools),
every request sent with locust's HTTP client (so locust's statistics are real, one entry per
purpose: turn, login, open, close), then posts the outcomes back. A duplicate pair is played
in lockstep: both copies of each turn at once. The profile is a LoadTestShape whose one
method, `tick()`, reads the schedule the harness sent; after its end it asks for zero users,
so every conversation in flight finishes (within the stop timeout) before it reports totals.
"""

# ruff: noqa: E402 - gevent must patch the process before anything else is imported
from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import contextlib
import os
import random
import time
from collections.abc import Mapping
from typing import Any

import gevent
import orjson
from gevent.queue import Empty, Queue
from geventhttpclient import HTTPClient
from geventhttpclient.url import URL
from locust import FastHttpUser, LoadTestShape, task
from locust.runners import Runner

from harness.agents.chat import OpenAIDialogue
from harness.agents.dialogue import Dialogue, HttpDialogue, Send, Steps, Wait
from harness.agents.message import with_defaults
from harness.agents.protocol import Incoming, Outgoing
from harness.agents.script import Script
from harness.core.failures import Failure, FailureKind
from harness.generate.personas import write_turn
from harness.load.schedule import Schedule
from harness.load.transport import ms, read, refused, result, whole_timeout
from harness.load.wire import transport_error, unpack
from harness.spec.load import Stage, users_at
from harness.spec.models.agents import HttpAdapter, OpenAIAdapter, Turn
from harness.spec.template import Template, TemplateError

ANY_STATUS = frozenset(range(100, 600))
CLOSE_TIMEOUT = 5.0  # seconds a conversation's close may take (best effort), as in a run
HUB_TIMEOUT = 30.0  # seconds a call to the harness may take

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
        # locust's HTTP client (a call costs a quarter of one through requests); a few
        # greenlets (feed, report, supervise) call at once
        where, limit = URL(self.url), HUB_TIMEOUT
        self.path = where.path.rstrip("/")
        self.http = HTTPClient.from_url(where, concurrency=4, connection_timeout=limit,
                                        network_timeout=limit)  # fmt: skip
        self.config: dict[str, Any] = self._call("GET", "/config")
        agent = self.config["agent"]
        self.kind = str(agent["kind"])
        self.adapter: HttpAdapter | OpenAIAdapter
        if self.kind == "openai":
            self.adapter = OpenAIAdapter.model_validate(agent["config"])
            key_env = self.adapter.api_key_env
            self.key = os.environ.get(key_env, "") if key_env else ""  # never sent over the wire
        else:
            self.adapter = HttpAdapter.model_validate(agent["config"])
            self.key = ""
        self.chat_url = str(agent.get("url") or "")  # an OpenAI agent's
        self.base: dict[str, Any] = unpack(agent["base"])
        self.cache: dict[str, Template] = {}
        self.scenarios = {
            sid: (
                [
                    (Template(src), None if t is None else Turn.model_validate(t))
                    for src, t in sc["turns"]
                ],
                dict(sc["tool_results"] or {}),
            )
            for sid, sc in self.config["scenarios"].items()
        }
        self.queue: Queue[dict[str, Any]] = Queue()
        self.pending: list[list[Any] | dict[str, Any]] = []
        self.waited = 0.0
        self.taken = 0  # cases taken since the feeder last measured the rate
        self.stop = False
        self.ends_at: float | None = None  # no conversation starts after the profile's end
        self.runner: Runner | None = None
        #: the profile's fault windows on the load's clock, once the harness knows its start
        self.schedule: Schedule | None = None
        self.ok = tuple(getattr(self.adapter, "ok_status", None) or (200,))

    def _call(self, method: str, path: str, body: Any = None, timeout: float = HUB_TIMEOUT) -> Any:
        data = b"" if body is None else orjson.dumps(body)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        with gevent.Timeout(timeout, TimeoutError):
            resp = self.http.request(method, self.path + path, body=data, headers=headers)
            content = resp.read()  # the whole body: the connection goes back to the pool
        if resp.status_code >= 400:
            raise OSError(f"the harness answered HTTP {resp.status_code} to {method} {path}")
        return orjson.loads(content)

    def post(self, path: str, body: dict[str, Any], timeout: float = HUB_TIMEOUT) -> Any:
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
                data = self._call("GET", f"/cases?n={want - have}")
            except Exception:
                gevent.sleep(0.2)
                continue
            for case in data.get("cases") or []:
                self.queue.put(case)
            self.stop = self.stop or bool(data.get("stop"))
            self.ends_at = data.get("ends_at") or self.ends_at
            if self.schedule is None and data.get("t0") and self.config.get("faults"):
                self.schedule = Schedule.planned(self.config["faults"], float(data["t0"]))
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

    def dialogue(self) -> Dialogue:
        if isinstance(self.adapter, OpenAIAdapter):
            return OpenAIDialogue(self.adapter, self.base, self.cache, self.chat_url, self.key)
        return HttpDialogue(self.adapter, self.base, self.cache)

    def script(self, case: Mapping[str, Any]) -> Script:
        turns, tool_results = self.scenarios[case["scenario"]]
        persona, seed, n = str(case["persona"]), int(case["seed"]), len(turns)

        def write(i: int, template: Template, ctx: Mapping[str, Any]) -> str:
            return write_turn(template, ctx, persona, seed, i, n)

        ctx = unpack(case["ctx"]) if case.get("ctx") is not None else {}
        ctx["params"] = self.base.get("params", {})  # sent once, with the agent's context
        dialogue = self.dialogue()
        for key, (method, url, headers, body) in (case.get("ready") or {}).items():
            raw = None if body is None else body.encode()
            dialogue.ready[key] = Outgoing(method, url, dict(headers), raw, key.split(" ")[0])
        trace = case.get("trace")
        return Script(
            dialogue, turns, case["texts"], ctx, tool_results, write, trace,
            self if self.config.get("faults") else None, self.ok,
        )  # fmt: skip

    def accepting(self, at: float) -> tuple[int, ...]:
        """The statuses a turn sent at `at` may be answered with: those of the fault windows
        on before its timeout (by the profile's schedule; the harness judges on the windows
        as applied)."""
        if self.schedule is None:
            return ()
        return self.schedule.accepting(at, at + float(self.adapter.timeout))

    def excuses(self, at: float, end: float, failure: Failure) -> bool:
        """A turn failed while in flight during a fault window: the conversation goes on."""
        return self.schedule is not None and self.schedule.excuses(at, end, failure)

    def done(self, token: str, played: dict[str, Any]) -> None:
        self.pending.append({"token": token, **played})

    def _report(self) -> None:
        while True:
            gevent.sleep(0.2)
            self.flush()

    def flush(self, timeout: float = HUB_TIMEOUT) -> None:
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


class Conversation(FastHttpUser):
    """One simulated customer: plays prepared cases, one conversation after another."""

    host = "http://127.0.0.1"  # every request carries the agent's full address
    concurrency = 4  # a duplicate pair sends two requests at once
    insecure = False  # an https agent's certificate is verified, as `harness run` does

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # every status is an answer to read (a 4xx may be the turn's contract): the client
        # must not consume and drop its body as a "bad status" before the dialogue reads it
        self.client.client.valid_response_codes = ANY_STATUS  # type: ignore[misc]
        # each conversation keeps its own cookies (agents/protocol.CookieJar); the client's
        # jar is one per user, and would carry one conversation's session into the next
        self.client.client.cookiejar = None

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
        scripts = [hub.script(item)] + ([] if twin is None else [hub.script(twin)])
        delays = [0.0] + ([] if twin is None else [float(twin["stagger"])])
        self._play(scripts, delays, str(item["scenario"]))
        for case, played in zip([item, twin], scripts, strict=False):
            assert case is not None
            hub.done(case["token"], result(played))

    def _play(self, scripts: list[Script], delays: list[float], scenario: str) -> None:
        """Each script's conversation; two (a pair) in lockstep: each turn of both at once.
        An open or close that sends nothing is skipped (no steps, no timer)."""
        first = scripts[0]
        try:
            if first.dialogue.opens:
                self._together([(s.open(), d) for s, d in zip(scripts, delays, strict=True)])
            for i in range(len(first.turns)):
                if len(scripts) == 1:
                    if not first.live:
                        break
                    self._run(first.turn(i))
                    continue
                live = [(s, d) for s, d in zip(scripts, delays, strict=True) if s.live]
                if not live:
                    break
                self._together([(s.turn(i), d) for s, d in live])
        except Exception as exc:  # the harness's own fault, recorded as such, never lost
            failure = (  # a live turn's template of the suite's own: the suite's mistake
                Failure(FailureKind.SUITE, f"suite template error in scenario {scenario}: {exc}")
                if isinstance(exc, TemplateError)
                else Failure(FailureKind.HARNESS, f"harness fault: {type(exc).__name__}: {exc}")
            )
            for s in scripts:
                if s.live:
                    s.failure = failure
        finally:
            if first.dialogue.closes:
                with gevent.Timeout(CLOSE_TIMEOUT, False):  # best effort: recorded, not judged
                    self._together([(s.close(), 0.0) for s in scripts])

    def _together(self, jobs: list[tuple[Steps, float]]) -> None:
        if len(jobs) == 1:
            steps, delay = jobs[0]
            self._run(steps, delay)
            return
        greenlets = [gevent.spawn(self._run, steps, delay) for steps, delay in jobs]
        gevent.joinall(greenlets, raise_error=True)

    def _run(self, steps: Steps, delay: float = 0.0) -> Any:
        """Carry out a dialogue's steps over locust's client."""
        if delay:
            gevent.sleep(delay)
        answer: Any = None
        try:
            step = steps.send(None)
            while True:
                if isinstance(step, Wait):
                    gevent.sleep(step.seconds)
                    answer = None
                else:
                    answer = self._exchange(step)
                step = steps.send(answer)
        except StopIteration as done:
            return done.value

    def _exchange(self, send: Send) -> tuple[Incoming | None, Failure | None]:
        """One request within its timeout (a stream: the whole of it), as locust counts it."""
        out, headers = send.out, with_defaults(send.out.headers)  # as `harness run` sends them
        if (refusal := refused(headers)) is not None:
            return None, refusal
        started = time.perf_counter()
        # a stream's whole length is bounded here; a whole reply by the client's own timeouts
        whole = gevent.Timeout(send.timeout if send.feed is not None else None)
        whole.start()
        try:
            with self.client.request(
                out.method,
                out.url,
                name=out.purpose,
                data=out.body,  # type: ignore[arg-type]  # bytes are sent as they are
                headers=headers,
                stream=True,
                catch_response=True,
                allow_redirects=False,  # traffic goes to the suite's agent address and nowhere else
            ) as resp:
                try:
                    incoming, failure = read(resp, send, started, whole)
                except gevent.Timeout as fired:
                    if fired is not whole:
                        raise
                    incoming, failure = None, whole_timeout(send)
                except Exception as exc:
                    incoming, failure = None, transport_error(exc, send.timeout)
                resp.request_meta["response_time"] = ms(started)
                resp.request_meta["response_length"] = len(incoming.body) if incoming else 0
                if failure is None and incoming is not None and incoming.status in send.accept:
                    resp.success()
                else:
                    resp.failure(
                        failure.message if failure else f"HTTP {incoming and incoming.status}"
                    )
                return incoming, failure
        except gevent.Timeout as fired:
            if fired is not whole:
                raise
            failure = whole_timeout(send)
            self.environment.events.request.fire(
                request_type=out.method, name=out.purpose, response_time=ms(started),
                response_length=0, exception=TimeoutError(failure.message), context={},
                response=None,
            )  # fmt: skip
            return None, failure
        finally:
            whole.close()
            send.elapsed_ms = ms(started)


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
