"""The agent wire protocol without I/O (agents/protocol.py, agents/dialogue.py,
agents/script.py) and the load wire's typed context (load/wire.py): the oracles that both
the harness and the load generator rely on. Dialogues are driven here by answering their
steps with prepared responses; the same steps run against real agents in
tests/integration/test_agent_shapes.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
import pytest

from harness.agents.chat import Chunks, OpenAIDialogue
from harness.agents.dialogue import HttpDialogue, Send, Steps, Wait
from harness.agents.protocol import (
    CookieJar,
    Incoming,
    get_path,
    read_request,
    read_turn,
    retry_after,
)
from harness.agents.script import Script
from harness.agents.streams import StreamAssembler
from harness.core.failures import FailureKind
from harness.load.wire import outcome, pack, read_outcome, unpack
from harness.spec.models.agents import HttpAdapter, OpenAIAdapter, Request, StreamSpec, Turn
from harness.spec.template import Template


def incoming(status: int = 200, body: Any = b"", headers: list[tuple[str, str]] | None = None):
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return Incoming(status, headers or [], raw, 5.0)


def drive(steps: Steps, answer: Callable[[Send], Incoming]) -> tuple[Any, list[Send], float]:
    """Carry out a dialogue's steps: every request answered by `answer`, waits summed."""
    sent: list[Send] = []
    waited = 0.0
    reply: Any = None
    try:
        step = steps.send(None)
        while True:
            if isinstance(step, Wait):
                waited += step.seconds
                reply = None
            else:
                sent.append(step)
                got = answer(step)
                if step.feed is not None and got.status < 300:
                    step.feed.feed(got.body)
                    got = Incoming(got.status, got.headers, b"", got.latency_ms, 1.0)
                reply = (got, None)
            step = steps.send(reply)
    except StopIteration as done:
        return done.value, sent, waited


# ------------------------------------------------------------------------- paths, replies


def test_paths_take_keys_indexes_and_negative_indexes() -> None:
    data = {"messages": [{"content": "a"}, {"content": "b", "meta": None}]}
    assert get_path(data, "messages[-1].content") == ("b", True)
    assert get_path(data, "messages[0].content") == ("a", True)
    assert get_path(data, "messages[-1].meta") == (None, True)  # null is there
    assert get_path(data, "messages[2].content") == (None, False)
    assert get_path(data, "messages.content") == (None, False)


def test_an_expected_4xx_is_judged_and_an_unexpected_status_is_an_error() -> None:
    adapter = HttpAdapter(url="http://x", reply="reply")
    expected = read_turn(adapter, incoming(422, {"error": "unknown order"}), [422])
    assert expected.failure is None and expected.status == 422
    assert expected.data == {"error": "unknown order"}
    assert expected.text is not None and "unknown order" in expected.text
    unexpected = read_turn(adapter, incoming(500, b"boom"), [200])
    assert unexpected.failure is not None and unexpected.failure.kind is FailureKind.STATUS
    assert unexpected.failure.message == "HTTP 500: boom"


def test_the_reply_field_gives_the_text_and_the_json_is_kept_whole() -> None:
    adapter = HttpAdapter(url="http://x", reply="answer.text")
    body = {"answer": {"text": "refunded"}, "state": "done", "refund_id": 7}
    reply = read_turn(adapter, incoming(200, body), [200])
    assert reply.text == "refunded" and reply.data == body
    null = read_turn(adapter, incoming(200, {"answer": {"text": None}}), [200])
    assert null.failure is not None and null.failure.kind is FailureKind.MALFORMED
    # a body that is not JSON says why, also when it looks like JSON (a lone surrogate)
    html = read_turn(adapter, incoming(200, b"<html>oops</html>"), [200])
    said = html.failure.message if html.failure is not None else ""
    assert said.startswith("malformed reply: not JSON (") and "line 1 column 1" in said, said
    assert said.endswith("): <html>oops</html>"), said
    lone = read_turn(adapter, incoming(200, b'{"answer": {"text": "\\ud800"}}'), [200])
    assert lone.failure is not None and lone.failure.kind is FailureKind.MALFORMED
    assert "(no low surrogate in string: line 1 column " in lone.failure.message, lone.failure
    # a misspelt `reply:` names the reply's closest path, written as a path is
    nested = HttpAdapter(url="http://x", reply="output.message[-1].content")
    missing = read_turn(nested, incoming(200, {"output": {"messages": [{"content": "hi"}]}}), [200])
    assert missing.failure is not None and missing.failure.message.startswith(
        "malformed reply: no 'output.message[-1].content' "
        "(did you mean 'output.messages[0].content'?) in {"
    ), missing.failure


def test_captures_from_body_and_headers_and_a_missing_one_fails_the_request() -> None:
    request = Request(
        url="http://x/conversations",
        capture={
            "conversation_id": "data.id",
            "token": {"header": "X-Token", "pattern": "t=(\\w+)"},
        },
    )
    got = incoming(201, {"data": {"id": "c-1"}}, [("x-token", "t=abc; path=/")])
    captured, failure = read_request(request, got)
    assert failure is None and captured == {"conversation_id": "c-1", "token": "abc"}
    captured, failure = read_request(request, incoming(201, {"data": {}}))
    assert failure is not None and "conversation_id" in failure.message
    _, refused = read_request(request, incoming(404, b"no"))
    assert refused is not None and refused.kind is FailureKind.STATUS


def test_cookies_are_kept_updated_and_expired() -> None:
    jar = CookieJar()
    jar.update(incoming(headers=[("Set-Cookie", "sid=1; Path=/"), ("Set-Cookie", "x=2")]))
    assert jar.header() == "sid=1; x=2"
    jar.update(incoming(headers=[("set-cookie", "sid=9")]))
    jar.update(incoming(headers=[("Set-Cookie", "x=; Max-Age=0")]))
    assert jar.header() == "sid=9"


def test_retry_after_reads_seconds_and_dates_only_on_429() -> None:
    assert retry_after(incoming(429, headers=[("Retry-After", "2")])) == 2.0
    assert (
        retry_after(incoming(429, headers=[("Retry-After", "Wed, 21 Oct 2026 07:28:00 GMT")]))
        == 1.0
    )
    assert retry_after(incoming(429)) is None
    assert retry_after(incoming(503, headers=[("Retry-After", "2")])) is None


# ------------------------------------------------------------------------- streams


def test_sse_deltas_are_joined_until_done_even_across_split_characters() -> None:
    stream = StreamAssembler(StreamSpec(format="sse", delta="choices[0].delta.content"))
    events = b"".join(
        b"data: " + orjson.dumps({"choices": [{"delta": {"content": piece}}]}) + b"\n\n"
        for piece in ("Gr", "\u00fc\u00df", "e")
    )
    events += b"data: [DONE]\n\ndata: " + orjson.dumps({"choices": [{"delta": {"content": "X"}}]})
    cut = events.index("\u00fc".encode()) + 1  # in the middle of a two-byte character
    stream.feed(events[:cut])
    stream.feed(events[cut:])
    stream.finish()
    assert stream.done and stream.result()[0] == "Gr\u00fc\u00dfe"


def test_last_mode_keeps_the_last_event_and_a_named_event_filter() -> None:
    spec = StreamSpec(format="sse", mode="last", delta="messages[-1].content", event="values")
    stream = StreamAssembler(spec)
    stream.feed(b'event: values\ndata: {"messages": [{"content": "hi"}]}\n\n')
    stream.feed(b'event: metadata\ndata: {"messages": [{"content": "ignored"}]}\n\n')
    stream.feed(b'event: values\ndata: {"messages": [{"content": "hi"}, {"content": "done"}]}\n')
    stream.finish()  # the last event had no blank line after it: still taken
    text, data = stream.result()
    assert text == "done" and len(data["messages"]) == 2


def test_ndjson_lines_are_joined_and_a_partial_last_line_counts() -> None:
    stream = StreamAssembler(StreamSpec(format="ndjson", delta="token"))
    stream.feed(b'{"token": "a"}\n{"tok')
    stream.feed(b'en": "b"}\n{"token": "c"}')
    stream.finish()
    assert stream.result()[0] == "abc" and stream.events == 3


def test_stream_data_names_where_the_replys_json_is_in_the_last_event() -> None:
    spec = StreamSpec(format="ndjson", delta="delta", data="final")
    stream = StreamAssembler(spec)
    stream.feed(
        b'{"delta": "Refund "}\n{"delta": "issued"}\n{"delta": "", "final": {"state": "x"}}\n'
    )
    stream.finish()
    assert stream.result() == ("Refund issued", {"state": "x"})


def test_a_streamed_reply_with_a_reply_path_is_refused() -> None:
    with pytest.raises(ValueError, match="reply is not used when the reply is a stream"):
        HttpAdapter.model_validate(
            {"url": "http://x", "reply": "text", "stream": {"format": "sse"}}
        )


def test_openai_chunks_merge_tool_calls_by_index() -> None:
    chunks = Chunks()
    parts = [
        {
            "choices": [
                {
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "c1",
                                "function": {"name": "look", "arguments": '{"or'},
                            }
                        ]
                    }
                }
            ]
        },
        {
            "choices": [
                {"delta": {"tool_calls": [{"index": 0, "function": {"arguments": 'der": 5}'}}]}}
            ]
        },
        {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}},
    ]
    chunks.feed(
        b"".join(b"data: " + orjson.dumps(p) + b"\n\n" for p in parts) + b"data: [DONE]\n\n"
    )
    answer = chunks.answer()
    call = answer["message"]["tool_calls"][0]
    assert call["id"] == "c1" and call["function"] == {"name": "look", "arguments": '{"order": 5}'}
    assert answer["finish_reason"] == "tool_calls" and answer["usage"]["completion_tokens"] == 4


# ------------------------------------------------------------------------- dialogues


def sessions_adapter(**extra: Any) -> HttpAdapter:
    return HttpAdapter.model_validate(
        {
            "url": "http://agent/conversations/{{ session.conversation_id }}/messages",
            "body": {"text": "{{ turn.text }}"},
            "open": {
                "url": "http://agent/conversations",
                "body": {"customer_ref": "{{ case.id }}"},
                "capture": {"conversation_id": "conversation_id"},
            },
            "close": {
                "method": "DELETE",
                "url": "http://agent/conversations/{{ session.conversation_id }}",
            },
            "capture": {"ticket": "ticket_id"},
            **extra,
        }
    )


def test_open_captures_the_id_every_later_request_uses_and_close_is_recorded() -> None:
    dialogue = HttpDialogue(sessions_adapter(), {}, {})
    ctx: dict[str, Any] = {"case": {"id": "c#1"}}
    answers = iter(
        [
            incoming(201, {"conversation_id": "conv-9"}),
            incoming(200, {"reply": "opened a ticket", "ticket_id": "T-1"}),
            incoming(204),
        ]
    )
    failure, sent, _ = drive(dialogue.open(ctx), lambda _: next(answers))
    assert failure is None and dialogue.session == {"conversation_id": "conv-9"}
    assert orjson.loads(sent[0].out.body or b"") == {"customer_ref": "c#1"}
    reply, sent, _ = drive(
        dialogue.send("hello", None, {**ctx, "turn": {"text": "hello"}}), lambda _: next(answers)
    )
    assert sent[0].out.url == "http://agent/conversations/conv-9/messages"
    assert reply.text == "opened a ticket" and dialogue.session["ticket"] == "T-1"
    _, sent, _ = drive(dialogue.close(ctx), lambda _: next(answers))
    assert (sent[0].out.method, sent[0].out.url) == ("DELETE", "http://agent/conversations/conv-9")
    assert [(c.purpose, c.status) for c in dialogue.calls] == [("open", 201), ("close", 204)]


def test_a_429_is_waited_out_and_counted_within_the_bound_and_then_it_fails() -> None:
    dialogue = HttpDialogue(
        HttpAdapter(url="http://agent/chat", retry_after={"max_wait": 3}), {}, {}
    )
    answers = iter([incoming(429, b"slow", [("Retry-After", "2")]), incoming(200, {"reply": "ok"})])
    reply, sent, waited = drive(
        dialogue.send("hi", None, {"turn": {"text": "hi"}, "case": {"session_id": "s"}}),
        lambda _: next(answers),
    )
    assert reply.text == "ok" and len(sent) == 2 and waited == 2.0
    assert dialogue.session["retries_after_429"] == 1
    again = iter([incoming(429, b"slow", [("Retry-After", "2")])] * 2)
    reply, _, waited = drive(
        dialogue.send("hi", None, {"turn": {"text": "hi"}, "case": {"session_id": "s"}}),
        lambda _: next(again),
    )
    assert waited == 0.0  # 2 s more would pass the case's 3 s: no silent pass, an error
    assert reply.failure is not None and reply.failure.message.startswith("HTTP 429")


def test_a_request_reading_a_capture_never_given_is_the_agents_failure() -> None:
    dialogue = HttpDialogue(sessions_adapter(), {}, {})
    ctx: dict[str, Any] = {"case": {"id": "c#1"}, "turn": {"text": "hi"}}
    # open answered without the id the suite captures: the turn cannot be addressed
    failure, _, _ = drive(dialogue.open(ctx), lambda _: incoming(201, {"id": "elsewhere"}))
    assert failure is not None and failure.kind is FailureKind.MALFORMED
    sent: list[Send] = []
    reply, sent, _ = drive(dialogue.send("hi", None, ctx), lambda s: incoming())
    assert sent == []  # nothing is sent to a URL that could not be written
    assert reply.failure is not None and reply.failure.kind is FailureKind.MALFORMED
    assert "session.conversation_id is not defined" in reply.failure.message
    assert "did not give it (captured: nothing)" in reply.failure.message


def test_a_turn_with_its_own_body_status_and_raw_bytes() -> None:
    dialogue = HttpDialogue(HttpAdapter(url="http://agent/chat"), {}, {})
    seen: list[Send] = []

    def answer(send: Send) -> Incoming:
        seen.append(send)
        return incoming(413, {"error": "too large"})

    turn = Turn(say="big", body_bytes=10, expect_status=413)
    reply, _, _ = drive(
        dialogue.send("big", turn, {"turn": {"text": "big"}, "case": {"session_id": "s"}}), answer
    )
    assert reply.failure is None and reply.status == 413 and seen[0].out.body == b"x" * 10
    raw = Turn(say="bad", raw="{not json", expect_status=[400])
    drive(dialogue.send("bad", raw, {"turn": {"text": "bad"}, "case": {"session_id": "s"}}), answer)
    assert seen[1].out.body == b"{not json" and seen[1].accept == (400,)


def test_the_openai_dialogue_answers_declared_tools_until_stop() -> None:
    config = OpenAIAdapter(base_url="http://gw/v1", model="m", system="You help {{ case.id }}.")
    dialogue = OpenAIDialogue(config, {}, {}, "http://gw/v1/chat/completions", "sk-test")
    ctx: dict[str, Any] = {
        "case": {"id": "c#1", "session_id": "s-1"},
        "tool_results": {
            "lookup_order": {"order": "{{ call.arguments.order_id }}", "status": "shipped"}
        },
    }
    drive(dialogue.open(ctx), lambda _: incoming())
    tool_call = {
        "id": "t1",
        "type": "function",
        "function": {"name": "lookup_order", "arguments": '{"order_id": 42}'},
    }
    answers = iter(
        [
            incoming(
                200,
                {
                    "choices": [
                        {
                            "message": {
                                "role": "assistant",
                                "content": None,
                                "tool_calls": [tool_call],
                            },
                            "finish_reason": "tool_calls",
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 2},
                },
            ),
            incoming(
                200,
                {
                    "choices": [
                        {
                            "message": {"role": "assistant", "content": "It shipped."},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 20, "completion_tokens": 3},
                },
            ),
        ]
    )
    reply, sent, _ = drive(dialogue.send("Where is 42?", None, ctx), lambda _: next(answers))
    assert reply.text == "It shipped." and reply.finish_reason == "stop"
    assert reply.usage == {"prompt_tokens": 30, "completion_tokens": 5}
    second = orjson.loads(sent[1].out.body or b"")
    assert "result" not in second["messages"][2]["tool_calls"][0]  # evidence only, never sent
    assert reply.tool_calls == [{**tool_call, "result": second["messages"][3]["content"]}]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool"]
    assert second["messages"][0]["content"] == "You help c#1."
    assert orjson.loads(second["messages"][3]["content"]) == {"order": 42, "status": "shipped"}
    assert second["user"] == "s-1" and sent[0].out.headers["Authorization"] == "Bearer sk-test"


def test_an_undeclared_tool_and_endless_tool_calls_are_errors() -> None:
    config = OpenAIAdapter(base_url="http://gw/v1", model="m", max_tool_rounds=1)
    call = {"id": "t", "type": "function", "function": {"name": "refund", "arguments": "{}"}}
    asking = incoming(
        200,
        {
            "choices": [
                {
                    "message": {"role": "assistant", "tool_calls": [call]},
                    "finish_reason": "tool_calls",
                }
            ]
        },
    )
    dialogue = OpenAIDialogue(config, {}, {}, "http://gw/v1/chat/completions", "")
    reply, _, _ = drive(
        dialogue.send("hi", None, {"tool_results": {}, "case": {"session_id": "s"}}),
        lambda _: asking,
    )
    assert reply.failure is not None and "no result (tool_results: none)" in reply.failure.message
    dialogue = OpenAIDialogue(config, {}, {}, "http://gw/v1/chat/completions", "")
    reply, sent, _ = drive(
        dialogue.send(
            "hi", None, {"tool_results": {"refund": "done"}, "case": {"session_id": "s"}}
        ),
        lambda _: asking,
    )
    assert (
        reply.failure is not None and "after 1 round(s)" in reply.failure.message and len(sent) == 2
    )


# ------------------------------------------------------------------------- the load's side


def test_a_packed_context_renders_exactly_as_the_original() -> None:
    ctx = {
        "order": {
            "amount": Decimal("12.50"),
            "placed": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            "day": dt.date(2026, 2, 28),
            "at": dt.time(23, 59),
            "wait": dt.timedelta(hours=2),
        },
        "list": [Decimal("1.10"), None, True, "x"],
        "\u00e9": 1,
    }
    back = unpack(orjson.loads(orjson.dumps({"ctx": pack(ctx)})))["ctx"]
    assert back == ctx
    for source in (
        "{{ order.amount | money }}",
        "{{ order.placed }}",
        "{{ order.day | date('%d.%m.%Y') }}",
        "{{ order.wait }}",
    ):
        assert Template(source).render(back) == Template(source).render(ctx)


def test_a_script_writes_turns_that_read_the_session_as_the_conversation_goes() -> None:
    adapter = HttpAdapter.model_validate(
        {"url": "http://agent/chat", "capture": {"ticket": "ticket_id"}}
    )
    turns = [(Template("open a ticket"), None), (Template("status of {{ session.ticket }}?"), None)]
    ctx: dict[str, Any] = {"case": {"session_id": "s"}}
    texts = ["open a ticket", None]
    script = Script(HttpDialogue(adapter, {}, {}), turns, texts, ctx, {},
                    lambda i, tpl, c: tpl.render_text(c))  # fmt: skip
    answers = iter(
        [incoming(200, {"reply": "ok", "ticket_id": "T-7"}), incoming(200, {"reply": "open"})]
    )
    drive(script.open(), lambda _: next(answers))
    for i in range(2):
        drive(script.turn(i), lambda _: next(answers))
    assert [text for _, text, _ in script.played] == ["open a ticket", "status of T-7?"]
    _, text, reply = read_outcome(orjson.loads(orjson.dumps(outcome(*script.played[1]))))
    assert text == "status of T-7?" and reply.text == "open" and reply.data == {"reply": "open"}


def test_a_packed_context_never_evaluates_what_it_is_sent() -> None:
    hostile = {"x": {"\x00harness": "eval", "v": "__import__('os')"}}
    assert unpack(hostile) == hostile  # an unknown tag stays data
    with pytest.raises(Exception):  # noqa: B017 - a bad value of a known tag is refused
        unpack({"x": {"\x00harness": "decimal", "v": "not a number"}})


def test_a_finished_stream_says_why_it_is_no_whole_reply() -> None:
    """Cut short before the end marker (required in `join` mode, or when set), no event, or
    no event with the `delta` path: a problem each; a whole stream has none."""

    def problem(spec: StreamSpec, body: bytes) -> str | None:
        stream = StreamAssembler(spec)
        stream.feed(body)
        stream.finish()
        return stream.problem()

    pieces = b'data: {"t": "a"}\n\ndata: {"t": "b"}\n\n'
    assert problem(StreamSpec(format="sse", delta="t"), pieces + b"data: [DONE]\n\n") is None
    cut = problem(StreamSpec(format="sse", delta="t"), pieces)
    assert cut is not None and "before its end marker '[DONE]' after 2 event(s)" in cut
    assert problem(StreamSpec(format="sse", delta="t", done=None), pieces) is None
    # `last` (LangGraph's values) needs no marker unless the suite names one
    assert problem(StreamSpec(format="sse", mode="last", delta="t"), pieces) is None
    assert problem(StreamSpec(format="sse", mode="last", delta="t", done="END"), pieces)
    assert problem(StreamSpec(format="ndjson", delta="t"), b"") == (
        "the stream ended without an event"
    )
    assert problem(StreamSpec(format="ndjson", delta="text"), b'{"t": "a"}\n') == (
        'no event of the stream has \'text\'; the first: {"t":"a"}'
    )
    assert (
        problem(StreamSpec(format="ndjson", mode="last", delta="x.y"), b'{"x": {"y": 1}}\n') is None
    )
    # `data: final` and a stream that ends before its final event (with `done: null`)
    cut = StreamSpec(format="ndjson", delta="t", data="final")
    assert problem(cut, b'{"t": "a"}\n{"t": "b", "final": {"ok": 1}}\n') is None
    assert problem(cut, b'{"t": "a"}\n{"t": "b"}\n') == (
        'the stream\'s last event has no \'final\': {"t":"b"}'
    )


def test_headers_with_a_line_break_are_refused_alike_by_run_and_load() -> None:
    from harness.agents.message import header_problem, inflate_wbits, with_defaults
    from harness.load.transport import refused

    assert header_problem({"X-Ref": "ok", "Accept": "*/*"}) is None
    said = "request not sent: the header 'X-Ref' holds a line break"
    assert header_problem({"X-Ref": "a\r\nSet-Cookie: x=1"}) == said
    failure = refused({"X-Ref": "a\nb"})
    assert failure is not None and failure.kind.value == "connection"
    assert failure.message == f"connection failed: {said}"
    # the defaults both send, unless the suite set them (in any case)
    sent = with_defaults({"user-agent": "mine"})
    assert sent == {"user-agent": "mine", "Accept": "*/*", "Accept-Encoding": "identity"}
    # deflate as zlib data, or raw; gzip always by its own header
    import zlib

    z = zlib.compressobj(wbits=-15)
    zlib_data, raw = zlib.compress(b"hello " * 9), z.compress(b"hello " * 9) + z.flush()
    assert inflate_wbits("deflate", zlib_data) == zlib.MAX_WBITS
    assert inflate_wbits("deflate", raw) == -zlib.MAX_WBITS
    assert zlib.decompressobj(inflate_wbits("deflate", raw)).decompress(raw) == b"hello " * 9
    assert inflate_wbits("gzip", b"") == 16 + zlib.MAX_WBITS
