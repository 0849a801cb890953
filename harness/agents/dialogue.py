"""Conversations with an agent over HTTP, without I/O: each step is a generator that yields
what to do (send a request, wait) and is sent what came back, and returns the turn's
Reply. The harness drives them over aiohttp (agents/http.py), the load generator over
locust's client (load/generator.py): one implementation of logins, opens, turns,
captures, cookies, 429 waits, streams, OpenAI message histories and client-side tools.
"""

from __future__ import annotations

import codecs
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from harness.agents import protocol
from harness.agents.base import Call, Reply
from harness.agents.protocol import CookieJar, Incoming, Outgoing, StreamAssembler, as_text
from harness.core.failures import Failure, FailureKind
from harness.spec.models.agents import HttpAdapter, OpenAIAdapter, Request, Turn
from harness.spec.template import Template, format_value, render_deep


@dataclass
class Send:
    """Send this request; answer with (Incoming or None, Failure or None). With `feed`, a 2xx
    answer is a stream: each chunk goes to `feed` (each within `idle_timeout`) until `done()`."""

    out: Outgoing
    timeout: float
    max_bytes: int
    feed: Any = None  # StreamAssembler | Chunks | None
    idle_timeout: float | None = None
    accept: tuple[int, ...] = (200,)  # statuses that are no failure (the load's statistics)
    elapsed_ms: float = 0.0  # set by whoever sent it: how long it took, also when it failed


@dataclass
class Wait:
    """Sleep this many seconds (a 429's Retry-After), then answer with None."""

    seconds: float


Step = Send | Wait
Answer = tuple[Incoming | None, Failure | None]
Steps = Generator[Step, Any, Any]


class Dialogue:
    """What every dialogue keeps: the session's captures, the calls around the turns, the
    cookies, the agent's context (port, deps, env) under the case's."""

    def __init__(self, base: Mapping[str, Any], cache: dict[str, Template], cookies: bool) -> None:
        self.session: dict[str, Any] = {}
        self.calls: list[Call] = []
        self.base = base
        self.cache = cache
        self.jar = CookieJar() if cookies else None
        self.waited = 0.0

    def context(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """What a request's templates read: the case's context over the agent's, and the
        session as captured so far (a flat dict: looked up many times, built once)."""
        return {**self.base, **context, "session": self.session}

    def open(self, context: Mapping[str, Any]) -> Generator[Step, Any, Failure | None]:
        """Log in and open the conversation, when the agent's API does that."""
        yield from ()  # every step is a generator, also one that does nothing
        return None

    def send(
        self, text: str, turn: Turn | None, context: Mapping[str, Any]
    ) -> Generator[Step, Any, Reply]:
        yield from ()
        raise NotImplementedError

    def close(self, context: Mapping[str, Any]) -> Generator[Step, Any, None]:
        yield from ()

    def exchange(self, send: Send, max_wait: float) -> Generator[Step, Any, Answer]:
        """One request, cookies kept, a 429's Retry-After waited out within `max_wait`."""
        while True:
            if self.jar is not None and (cookie := self.jar.header()) is not None:
                send.out.headers["Cookie"] = cookie
            incoming, failure = yield send
            if incoming is not None and self.jar is not None:
                self.jar.update(incoming)
            pause = protocol.retry_after(incoming) if incoming is not None else None
            if pause is None or pause > max_wait - self.waited:
                return incoming, failure
            self.waited += pause
            self.session["retries_after_429"] = self.session.get("retries_after_429", 0) + 1
            yield Wait(pause)


class HttpDialogue(Dialogue):
    """A conversation with an HTTP API: login and open when declared, turns, close."""

    def __init__(self, config: HttpAdapter, base: Mapping[str, Any], cache: dict[str, Template]):
        super().__init__(base, cache, config.cookies)
        self.config = config

    def open(self, context: Mapping[str, Any]) -> Generator[Step, Any, Failure | None]:
        for purpose in ("login", "open"):
            request: Request | None = getattr(self.config, purpose)
            if request is not None:
                failure = yield from self.call(purpose, request, context)
                if failure is not None:
                    return failure.with_message(f"{purpose}: {failure.message}")
        return None

    def close(self, context: Mapping[str, Any]) -> Generator[Step, Any, None]:
        if self.config.close is not None:
            yield from self.call("close", self.config.close, context)

    def call(
        self, purpose: str, request: Request, context: Mapping[str, Any]
    ) -> Generator[Step, Any, Failure | None]:
        out = protocol.render_request(request, self.context(context), self.cache, purpose=purpose)
        send = Send(out, self.config.timeout, self.config.max_bytes,
                    accept=tuple(request.expect_status))  # fmt: skip
        incoming, failure = yield from self.exchange(send, self.config.retry_after.max_wait)
        call = Call(purpose, out.method, out.url, incoming.status if incoming else None,
                    incoming.latency_ms if incoming else send.elapsed_ms)  # fmt: skip
        self.calls.append(call)
        if failure is None and incoming is not None:
            captured, failure = protocol.read_request(request, incoming)
            self.session.update(captured)
        if failure is not None:
            call.error = failure.message
        return failure

    def send(
        self, text: str, turn: Turn | None, context: Mapping[str, Any]
    ) -> Generator[Step, Any, Reply]:
        cfg = self.config
        out = protocol.render_request(cfg, self.context(context), self.cache, purpose="turn",
                                      turn=turn)  # fmt: skip
        accepted = turn.expect_status if turn and turn.expect_status else cfg.ok_status
        assembler = StreamAssembler(cfg.stream) if cfg.stream is not None else None
        send = Send(out, cfg.timeout, cfg.max_bytes, assembler,
                    cfg.stream.idle_timeout if cfg.stream else None, tuple(accepted))  # fmt: skip
        incoming, failure = yield from self.exchange(send, cfg.retry_after.max_wait)
        if incoming is None or failure is not None:
            assert failure is not None
            latency = incoming.latency_ms if incoming else send.elapsed_ms
            return Reply(None, latency, incoming.status if incoming else None, failure)
        if assembler is not None and incoming.status < 300:
            assembler.finish()
            incoming.streamed = assembler.result()
        reply = protocol.read_turn(cfg, incoming, accepted, streamed=incoming.streamed)
        self.session.update(reply.captured)
        return reply


class OpenAIDialogue(Dialogue):
    """A conversation with an OpenAI-compatible chat endpoint: the harness keeps the messages
    (the endpoint is stateless) and answers the client-side tools the scenario declares."""

    def __init__(
        self,
        config: OpenAIAdapter,
        base: Mapping[str, Any],
        cache: dict[str, Template],
        url: str,
        key: str,
    ) -> None:
        super().__init__(base, cache, False)
        self.config = config
        self.url = url
        self.key = key
        self.messages: list[dict[str, Any]] = []

    def open(self, context: Mapping[str, Any]) -> Generator[Step, Any, Failure | None]:
        if self.config.system:
            system = render_deep(self.config.system, self.context(context), self.cache)
            self.messages.append({"role": "system", "content": format_value(system)})
        yield from ()
        return None

    def close(self, context: Mapping[str, Any]) -> Generator[Step, Any, None]:
        yield from ()

    def send(
        self, text: str, turn: Turn | None, context: Mapping[str, Any]
    ) -> Generator[Step, Any, Reply]:
        self.messages.append({"role": "user", "content": text})
        ctx = self.context(context)
        usage: dict[str, int] = {}
        calls: list[dict[str, Any]] = []
        latency, first, status, reason = 0.0, None, None, None
        for _ in range(self.config.max_tool_rounds + 1):
            answer, failure, status, spent, ttft = yield from self._ask(ctx)
            latency += spent
            first = first if first is not None else ttft
            if failure is not None:
                return Reply(None, latency, status, failure, None, first, {}, usage or None,
                             calls or None, reason)  # fmt: skip
            assert answer is not None
            for key, value in (answer.get("usage") or {}).items():
                if isinstance(value, int):
                    usage[key] = usage.get(key, 0) + value
            message = answer["message"]
            self.messages.append(message)
            asked = message.get("tool_calls") or []
            calls.extend(asked)
            reason = answer.get("finish_reason")
            if reason != "tool_calls" or not asked:
                content = message.get("content")
                data = {"content": content, "tool_calls": calls, "finish_reason": reason,
                        "usage": usage}  # fmt: skip
                if content is None and not calls:
                    failure = Failure(FailureKind.MALFORMED, "malformed reply: no content")
                reply_text = None if failure is not None else as_text(content or "")
                return Reply(reply_text, latency, status, failure, data, first, {},
                             usage or None, calls or None, reason)  # fmt: skip
            results = self._tool_results(asked, ctx)
            if isinstance(results, Failure):
                return Reply(None, latency, status, results, None, first, {}, usage or None,
                             calls, reason)  # fmt: skip
            self.messages.extend(results)
        return Reply(None, latency, status, Failure(
            FailureKind.MALFORMED,
            f"still asking for tools after {self.config.max_tool_rounds} round(s) of results",
        ), None, first, {}, usage or None, calls, reason)  # fmt: skip

    def _tool_results(
        self, asked: list[dict[str, Any]], ctx: dict[str, Any]
    ) -> list[dict[str, Any]] | Failure:
        declared: Mapping[str, Any] = ctx.get("tool_results") or {}
        out = []
        for call in asked:
            function = call.get("function") or {}
            name = str(function.get("name", ""))
            if name not in declared:
                known = ", ".join(sorted(declared)) or "none"
                return Failure(
                    FailureKind.MALFORMED,
                    f"the agent called tool {name!r}, for which the scenario declares no result "
                    f"(tool_results: {known})",
                )
            try:
                arguments = orjson.loads(function.get("arguments") or "{}")
            except orjson.JSONDecodeError:
                arguments = {}
            value = render_deep(
                declared[name], {**ctx, "call": {"arguments": arguments}}, self.cache
            )
            content = value if isinstance(value, str) else orjson.dumps(
                value, default=format_value).decode()  # fmt: skip
            out.append({"role": "tool", "tool_call_id": call.get("id"), "content": content})
        return out

    def _ask(
        self, ctx: dict[str, Any]
    ) -> Generator[
        Step, Any, tuple[dict[str, Any] | None, Failure | None, int | None, float, float | None]
    ]:
        """One completion: (the choice's message, finish_reason and usage; or why not)."""
        cfg = self.config
        body: dict[str, Any] = {"model": cfg.model, "messages": self.messages, **cfg.params}
        if cfg.user:
            body["user"] = format_value(render_deep(cfg.user, ctx, self.cache))
        if cfg.stream:
            body["stream"] = True
            body.setdefault("stream_options", {"include_usage": True})
        headers = {"Content-Type": "application/json"}
        headers.update(
            {k: format_value(v) for k, v in render_deep(cfg.headers, ctx, self.cache).items()}
        )
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        out = Outgoing("POST", self.url, headers, orjson.dumps(body), "turn")
        chunks = Chunks() if cfg.stream else None
        send = Send(out, cfg.timeout, cfg.max_bytes, chunks, cfg.idle_timeout)
        incoming, failure = yield from self.exchange(send, self.config.retry_after.max_wait)
        if incoming is None or failure is not None:
            status = incoming.status if incoming else None
            return None, failure, status, incoming.latency_ms if incoming else send.elapsed_ms, None
        spent, ttft = incoming.latency_ms, incoming.first_byte_ms
        shown = incoming.body.decode("utf-8", errors="replace")[:500]
        if incoming.status != 200:
            kind = FailureKind.REDIRECT if 300 <= incoming.status < 400 else FailureKind.STATUS
            return (
                None,
                Failure(kind, f"HTTP {incoming.status}: {shown}"),
                incoming.status,
                spent,
                ttft,
            )
        if chunks is not None:
            return chunks.answer(), None, 200, spent, ttft
        if len(incoming.body) > cfg.max_bytes:
            too_large = Failure(FailureKind.TOO_LARGE,
                                f"reply exceeds the size cap of {cfg.max_bytes} bytes")  # fmt: skip
            return None, too_large, 200, spent, ttft
        try:
            data = orjson.loads(incoming.body)
            choice = data["choices"][0]
            answer = {"message": dict(choice["message"]),
                      "finish_reason": choice.get("finish_reason"),
                      "usage": data.get("usage") or {}}  # fmt: skip
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            bad = Failure(FailureKind.MALFORMED, f"malformed reply: not a chat completion: {shown}")
            return None, bad, 200, spent, ttft
        return answer, None, 200, spent, ttft


class Chunks:
    """A streamed chat completion put back together: content deltas joined, tool calls merged
    by their index, the last finish_reason and usage kept (SSE decoded by httpx-sse)."""

    def __init__(self) -> None:
        from httpx_sse._decoders import SSEDecoder, SSELineDecoder  # the library's parser

        self._lines, self._sse = SSELineDecoder(), SSEDecoder()
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")  # split characters
        self.done = False
        self.events = 0
        self.content: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] = {}

    def feed(self, chunk: bytes) -> None:
        for line in self._lines.decode(self._text.decode(chunk)):
            event = self._sse.decode(line)
            if event is None or self.done:
                continue
            if event.data.strip() == "[DONE]":
                self.done = True
                continue
            try:
                data = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                continue
            self.events += 1
            self.usage = data.get("usage") or self.usage
            for choice in data.get("choices") or []:
                self._choice(choice)

    def _choice(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta") or {}
        if delta.get("content"):
            self.content.append(str(delta["content"]))
        for call in delta.get("tool_calls") or []:
            merged = self.calls.setdefault(
                int(call.get("index", 0)),
                {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
            )
            merged["id"] = call.get("id") or merged["id"]
            function = call.get("function") or {}
            merged["function"]["name"] += function.get("name") or ""
            merged["function"]["arguments"] += function.get("arguments") or ""
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]

    def answer(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.content) or None}
        if self.calls:
            message["tool_calls"] = [self.calls[i] for i in sorted(self.calls)]
        return {"message": message, "finish_reason": self.finish_reason, "usage": self.usage}
