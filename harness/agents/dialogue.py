"""Conversations with an agent over HTTP, without I/O: each step is a generator that yields
what to do (send a request, wait) and is sent what came back, and returns the turn's
Reply. The harness drives them over aiohttp (agents/http.py), the load generator over
locust's client (load/generator.py): one implementation of logins, opens, turns,
captures, cookies, 429 waits and streams (and, in agents/chat.py, OpenAI message
histories and client-side tools).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

from harness.agents import protocol
from harness.agents.base import Call, Reply
from harness.agents.protocol import CookieJar, Incoming, Outgoing
from harness.agents.streams import StreamAssembler
from harness.core.failures import Failure, FailureKind
from harness.spec.models.agents import HttpAdapter, Request, Turn
from harness.spec.template import Template, TemplateError


@dataclass(slots=True)
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


class Chunked:
    """A 2xx stream as a transport reads it: each chunk counted against the size cap and fed
    on, the time to the first one kept; the words of a stall. The reading itself (and its
    idle timeout) is the transport's (agents/http.py, load/transport.py)."""

    def __init__(self, send: Send, incoming: Incoming, started: float) -> None:
        self.send, self.incoming, self.started = send, incoming, started
        self.size = 0
        incoming.first_byte_ms = None

    def take(self, chunk: bytes) -> Failure | None:
        if self.incoming.first_byte_ms is None:  # the time to the first token
            self.incoming.first_byte_ms = (time.perf_counter() - self.started) * 1000.0
        self.size += len(chunk)
        if self.size > self.send.max_bytes:
            return Failure(
                FailureKind.TOO_LARGE,
                f"reply exceeds the size cap of {self.send.max_bytes} bytes (stream)",
            )
        self.send.feed.feed(chunk)
        return None

    def stalled(self) -> Failure:
        """A stall, counted as the suite reads the stream: its events (network reads are no
        unit of the agent's), with the bytes beside them."""
        events = getattr(self.send.feed, "events", 0)
        return Failure(
            FailureKind.TIMEOUT,
            f"timeout: the stream stalled for {self.send.idle_timeout:g} s after "
            f"{events} event(s) ({self.size} bytes)",
        )


@dataclass(slots=True)
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
        #: requests rendered ahead by whoever planned the conversation (the load's feeder),
        #: by purpose ("login", "open", "close", "turn N"); each is used once
        self.ready: dict[str, Outgoing] = {}

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

    @property
    def closes(self) -> bool:
        """Whether closing the conversation sends anything."""
        return False

    @property
    def opens(self) -> bool:
        """Whether opening the conversation does anything."""
        return True

    @staticmethod
    def traced(out: Outgoing, context: Mapping[str, Any]) -> Outgoing:
        """A turn's request with the W3C `traceparent` the harness sends when the run traces
        (`context["traceparent"]`, one per turn), unless the suite sets that header itself."""
        value = context.get("traceparent")
        if value and not any(k.lower() == "traceparent" for k in out.headers):
            out.headers["traceparent"] = str(value)
        return out

    def exchange(self, send: Send, max_wait: float) -> Generator[Step, Any, Answer]:
        """One request, cookies kept, a 429's Retry-After waited out within `max_wait`."""
        while True:
            if self.jar is not None and (cookie := self.jar.header()) is not None:
                send.out.headers["Cookie"] = cookie
            incoming, failure = yield send
            if incoming is not None and self.jar is not None:
                self.jar.update(incoming)
            pause = (  # a 429 only: no call for every other answer
                protocol.retry_after(incoming)
                if incoming is not None and incoming.status == 429
                else None
            )
            if pause is None:
                return incoming, failure
            left = max_wait - self.waited
            if pause > left:  # no silent pass: an error that says why it was not waited out
                return incoming, failure or Failure(
                    FailureKind.STATUS,
                    f"HTTP 429: Retry-After {pause:g} s is more than the {max(left, 0):g} s left "
                    f"of retry_after.max_wait ({max_wait:g} s a case)",
                )
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

    @property
    def closes(self) -> bool:
        return self.config.close is not None

    @property
    def opens(self) -> bool:
        return self.config.login is not None or self.config.open is not None

    def close(self, context: Mapping[str, Any]) -> Generator[Step, Any, None]:
        if self.config.close is not None:
            yield from self.call("close", self.config.close, context)

    def call(
        self, purpose: str, request: Request, context: Mapping[str, Any]
    ) -> Generator[Step, Any, Failure | None]:
        try:
            out = self.ready.pop(purpose, None) or protocol.render_request(
                request, self.context(context), self.cache, purpose=purpose
            )
        except TemplateError as exc:
            if (missing := protocol.not_given(exc, self.session)) is None:
                raise
            self.calls.append(
                Call(purpose, request.method, request.url, None, 0.0, missing.message)
            )
            return missing
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
        ahead = self.ready.pop(f"turn {context['turn']['index']}", None) if self.ready else None
        try:
            out = ahead or protocol.render_request(
                cfg, self.context(context), self.cache, purpose="turn", turn=turn
            )
        except TemplateError as exc:
            if (missing := protocol.not_given(exc, self.session)) is None:
                raise
            return Reply(None, 0.0, None, missing)
        self.traced(out, context)
        accepted = turn.expect_status if turn and turn.expect_status else cfg.ok_status
        assembler = StreamAssembler(cfg.stream) if cfg.stream is not None else None
        send = Send(out, cfg.timeout, cfg.max_bytes, assembler,
                    cfg.stream.idle_timeout if cfg.stream else None, tuple(accepted))  # fmt: skip
        incoming, failure = yield from self.exchange(send, cfg.retry_after.max_wait)
        if incoming is None or failure is not None:
            assert failure is not None
            if incoming is None:
                return Reply(None, send.elapsed_ms, None, failure)
            if assembler is not None and assembler.events:  # what the stream said so far
                so_far = (assembler.result()[0] or "")[: protocol.EXCERPT]
                failure = failure.with_message(f"{failure.message}; received so far: {so_far!r}")
            return Reply(None, incoming.latency_ms, incoming.status, failure,
                         first_byte_ms=incoming.first_byte_ms)  # fmt: skip
        if assembler is not None and incoming.status < 300:
            assembler.finish()
            incoming.streamed = assembler.result()
            if (problem := assembler.problem()) is not None:
                so_far = (incoming.streamed[0] or "")[: protocol.EXCERPT]
                said = f"malformed reply: {problem}; received: {so_far!r}"
                malformed = Failure(FailureKind.MALFORMED, said)
                return Reply(None, incoming.latency_ms, incoming.status, malformed,
                             first_byte_ms=incoming.first_byte_ms)  # fmt: skip
        reply = protocol.read_turn(cfg, incoming, accepted, streamed=incoming.streamed)
        if reply.captured:
            self.session.update(reply.captured)
        return reply
