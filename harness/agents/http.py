"""The http and openai adapters over the harness's HTTP/1.1 client (agents/client.py): each
case is a conversation (a Dialogue, see agents/dialogue.py) whose steps this module carries
out, every request with a timeout and a size cap; a streamed reply is read as it arrives,
each chunk within the idle timeout, and never reconnected. Secret-named headers (a token a
login captured) are masked as they are sent."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.agents import client
from harness.agents.base import Call, Reply
from harness.agents.chat import OpenAIDialogue
from harness.agents.dialogue import Chunked, Dialogue, HttpDialogue, Send, Steps, Wait
from harness.agents.protocol import Incoming, timed_out
from harness.core.failures import Failure, FailureKind
from harness.redact import redact, secret_name
from harness.spec.models.agents import HttpAdapter, OpenAIAdapter
from harness.spec.template import Template, format_value, render_deep

if TYPE_CHECKING:
    from harness.spec.models.agents import Turn


class _Client:
    """A connection pool shared by the conversations of one adapter (cookies are each
    conversation's own: protocol.CookieJar)."""

    name = "http"

    def __init__(self, base_context: dict[str, Any], concurrency: int) -> None:
        self.base_context = base_context
        self.cache: dict[str, Template] = {}
        self._concurrency = concurrency
        self._http: client.Pool | None = None

    async def open(self) -> None:
        self._http = client.Pool(self._concurrency)

    async def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def driven(self, dialogue: Dialogue) -> Driven:
        assert self._http is not None, "open() first"
        return Driven(dialogue, self._http)


class HttpAgent(_Client):
    name = "http"

    def __init__(self, config: HttpAdapter, base_context: dict[str, Any], concurrency: int) -> None:
        super().__init__(base_context, concurrency)
        self.config = config

    def conversation(self, context: dict[str, Any]) -> Driven:
        assert self._http is not None, "open() first"  # `driven`, inlined: every case
        return Driven(HttpDialogue(self.config, self.base_context, self.cache), self._http)


class OpenAIAgent(_Client):
    name = "openai"

    def __init__(
        self, config: OpenAIAdapter, base_context: dict[str, Any], concurrency: int
    ) -> None:
        super().__init__(base_context, concurrency)
        self.config = config
        base = format_value(render_deep(config.base_url, base_context, self.cache))
        self.url = base.rstrip("/") + "/chat/completions"
        self.key = os.environ.get(config.api_key_env, "") if config.api_key_env else ""
        redact.add(self.key)

    def conversation(self, context: dict[str, Any]) -> Driven:
        dialogue = OpenAIDialogue(self.config, self.base_context, self.cache, self.url, self.key)
        return self.driven(dialogue)


class Driven:
    """A dialogue carried out over the pool's connections."""

    def __init__(self, dialogue: Dialogue, http: client.Pool) -> None:
        self.dialogue = dialogue
        self._http = http
        # the dialogue's own (never rebound), read without a property on every turn
        self.session: dict[str, Any] = dialogue.session
        self.calls: list[Call] = dialogue.calls
        self.closes: bool = dialogue.closes
        self.opens: bool = dialogue.opens  # else `open` does nothing

    async def open(self, context: dict[str, Any]) -> Failure | None:
        if not self.dialogue.opens:
            return None
        result: Failure | None = await self._run(self.dialogue.open(context))
        return result

    async def send(self, text: str, turn: Turn | None, context: dict[str, Any]) -> Reply:
        steps = self.dialogue.send(text, turn, context)  # _run inlined: the hot path
        try:
            step = steps.send(None)
            while True:
                if isinstance(step, Wait):
                    await asyncio.sleep(step.seconds)
                    step = steps.send(None)
                else:
                    step = steps.send(await exchange(self._http, step))
        except StopIteration as done:
            reply: Reply = done.value
            return reply

    async def close(self, context: dict[str, Any]) -> None:
        if not self.dialogue.closes:
            return  # nothing to send: no task for it
        with contextlib.suppress(Exception):  # best effort, on every way out
            await asyncio.shield(self._run(self.dialogue.close(context)))

    async def _run(self, steps: Steps) -> Any:
        answer: Any = None
        try:
            step = steps.send(None)
            while True:
                if isinstance(step, Wait):
                    await asyncio.sleep(step.seconds)
                    answer = None
                else:
                    answer = await exchange(self._http, step)
                step = steps.send(answer)
        except StopIteration as done:
            return done.value


async def exchange(http: client.Pool, send: Send) -> tuple[Incoming | None, Failure | None]:
    """One request: its answer read whole (capped), or, with `send.feed`, a 2xx stream fed
    chunk by chunk (each within the idle timeout, the whole within the timeout). The answer
    as far as it came: a failure after the status arrived keeps the status and the time to
    the first byte (a stream that stalls or outlasts its timeout)."""
    out = send.out
    _mask_secret_headers(out.headers)
    started = time.perf_counter()
    got: Incoming | None = None
    failure: Failure | None = None
    try:
        async with asyncio.timeout(send.timeout):  # the whole request, body too
            cap = send.max_bytes + 1  # past the cap: too large, read no further
            async with http.request(out.method, out.url, out.headers, out.body, cap) as resp:
                got = Incoming(resp.status, resp.headers, b"", 0.0, _ms(started))
                if send.feed is None or resp.status >= 300:
                    got.body = await resp.read(cap)
                else:
                    failure = await _stream(resp, got, started, send)
    except TimeoutError:
        failure = timed_out(send.timeout, stream=send.feed is not None)
    except OSError as exc:  # client.ClientError among them
        failure = Failure(FailureKind.CONNECTION, f"connection failed: {exc}")
    send.elapsed_ms = _ms(started)
    if got is not None:
        got.latency_ms = send.elapsed_ms
    return got, failure


async def _stream(
    resp: client.Response, incoming: Incoming, started: float, send: Send
) -> Failure | None:
    """A 2xx stream read as it comes, each chunk within the idle timeout; never reconnected."""
    stream = Chunked(send, incoming, started)
    while not send.feed.done:
        idle = asyncio.timeout(send.idle_timeout)
        try:
            async with idle:
                chunk = await resp.readany()
        except TimeoutError:
            if not idle.expired():
                raise  # the whole request's timeout: reported as such by the caller
            return stream.stalled()
        if not chunk:
            break
        if (failure := stream.take(chunk)) is not None:
            return failure
    return None


def _mask_secret_headers(headers: Mapping[str, str]) -> None:
    """A header with a secret-like name (a token a login captured) is masked everywhere."""
    for name, value in headers.items():
        if secret_name(name):
            redact.add(value)
            redact.add(value.partition(" ")[2].strip())


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
