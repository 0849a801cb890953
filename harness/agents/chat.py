"""A conversation with an OpenAI-compatible chat endpoint, without I/O (see dialogue.py): the
harness keeps the messages (the endpoint is stateless), answers the client-side tools the
scenario declares, and puts a streamed completion back together."""

from __future__ import annotations

import codecs
from collections.abc import Generator, Mapping
from typing import Any

import orjson

from harness.agents import protocol
from harness.agents.base import Reply
from harness.agents.dialogue import Dialogue, Send, Step
from harness.agents.protocol import Outgoing, as_text
from harness.core.failures import Failure, FailureKind
from harness.spec.models.agents import OpenAIAdapter, Turn
from harness.spec.template import Template, TemplateError, format_value, render_deep


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
        try:
            return (yield from self._turn(ctx))
        except TemplateError as exc:
            if (missing := protocol.not_given(exc, self.session)) is None:
                raise
            return Reply(None, 0.0, None, missing)

    def _turn(self, ctx: dict[str, Any]) -> Generator[Step, Any, Reply]:
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
            recorded = [dict(c) for c in asked]  # copies: what was sent back is added below
            calls.extend(recorded)
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
            for call, result in zip(recorded, results, strict=True):
                call["result"] = result["content"]  # the evidence: what the model was told
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
        out = self.traced(Outgoing("POST", self.url, headers, orjson.dumps(body), "turn"), ctx)
        chunks = Chunks() if cfg.stream else None
        send = Send(out, cfg.timeout, cfg.max_bytes, chunks, cfg.idle_timeout)
        incoming, failure = yield from self.exchange(send, self.config.retry_after.max_wait)
        if incoming is None or failure is not None:
            if incoming is None:
                return None, failure, None, send.elapsed_ms, None
            if chunks is not None and chunks.events:  # what the stream said so far
                so_far = "".join(chunks.content)[: protocol.EXCERPT]
                failure = failure and failure.with_message(
                    f"{failure.message}; received so far: {so_far!r}"
                )
            return None, failure, incoming.status, incoming.latency_ms, incoming.first_byte_ms
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
        if chunks is not None and not (chunks.done or chunks.finish_reason):
            so_far = "".join(chunks.content)[: protocol.EXCERPT]
            cut = Failure(FailureKind.MALFORMED,
                          "malformed reply: the stream ended before `data: [DONE]` and any "
                          f"finish_reason after {chunks.events} event(s): cut short; "
                          f"received: {so_far!r}")  # fmt: skip
            return None, cut, 200, spent, ttft
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
