"""Reading the agent's answers inside the load generator (gevent; imported only by
generator.py, after it has patched the process): a body capped, a stream fed line by line
within its idle timeout, a played script as the harness reads it back."""

from __future__ import annotations

import time
from typing import Any

import gevent

from harness.agents.dialogue import Chunked, Send
from harness.agents.message import Inflater, coding, header_problem, inflate
from harness.agents.protocol import Incoming
from harness.agents.script import Script
from harness.core.failures import Failure, FailureKind
from harness.load.wire import outcome, timeout_error, transport_error


def _read_capped(resp: Any, limit: int) -> bytes:
    """The body up to `limit` bytes (a longer one is cut there and reported as too big)."""
    encoding = coding(resp.headers.get("content-encoding") if resp.headers else None)
    cap = limit * 32 if encoding else limit
    chunks: list[bytes] = []
    size = 0
    while size < cap:
        chunk = resp.stream.read(min(65536, cap - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    raw = b"".join(chunks)
    return inflate(encoding, raw, limit) if encoding else raw


def _arrived(stream: Any) -> bytes:
    """What of the body has arrived, waiting for some; b"" at its end. By hand over the
    response's buffer and socket, as its own `readline` reads them: geventhttpclient's `read`
    waits for as many bytes as it is asked for, and a compressed stream has no line to wait for."""
    buffer = stream._body_buffer
    while not buffer:
        if stream.message_complete or stream._sock is None:
            return b""
        data = stream._sock.recv(stream.block_size)
        stream.feed(data)
        if not data:
            break
    out = bytes(buffer)
    del buffer[:]
    return out


def _stream(resp: Any, incoming: Incoming, started: float, send: Send) -> Failure | None:
    """A 2xx stream fed line by line (SSE and JSON lines are made of lines), each line within
    the idle timeout; never reconnected. A gzip or deflate stream (an agent that compresses
    whatever it is asked) is inflated as its bytes arrive."""
    stream = Chunked(send, incoming, started)
    encoding = coding(resp.headers.get("content-encoding") if resp.headers else None)
    inflater = Inflater(encoding) if encoding else None
    while not send.feed.done:
        idle = gevent.Timeout(send.idle_timeout)
        idle.start()
        try:  # what follows the last newline: geventhttpclient's readline drops it
            if encoding:  # compressed: no newline to wait for
                line = _arrived(resp.stream)
            else:
                line = resp.stream.readline(b"\n") or resp.stream.read()
        except gevent.Timeout as fired:
            if fired is not idle:
                raise
            return stream.stalled()
        finally:
            idle.close()
        if not line and inflater is not None:
            line, inflater = inflater.end(), None  # its compressed data must have ended too
        if not line:
            break
        if inflater is not None:
            line = inflater.feed(line, send.max_bytes + 1)
            if not line:
                continue
        if (failure := stream.take(line)) is not None:
            return failure
    return None


def read(
    resp: Any, send: Send, started: float, whole: gevent.Timeout
) -> tuple[Incoming | None, Failure | None]:
    """The answer as far as it came: past the status, a failure (the whole request's
    timeout `whole`, a stall, a broken connection) keeps the status and the first byte."""
    error = getattr(resp, "error", None)
    status = int(resp.status_code or 0)
    if error is not None and not status:
        return None, transport_error(error, send.timeout)
    incoming = Incoming(status, resp.headers, b"", 0.0, ms(started))
    failure = None
    try:
        if send.feed is None or status >= 300:
            incoming.body = _read_capped(resp, send.max_bytes + 1)
        else:
            failure = _stream(resp, incoming, started, send)
    except gevent.Timeout as fired:
        if fired is not whole:
            raise
        failure = whole_timeout(send)
    except Exception as exc:
        failure = transport_error(exc, send.timeout)
    finally:
        resp.stream.release()  # a body left unread closes its connection: never reused
    incoming.latency_ms = ms(started)
    return incoming, failure


def refused(headers: dict[str, str]) -> Failure | None:
    """Headers `harness run` does not send either (a value with a line break), as its error."""
    problem = header_problem(headers)
    return (
        None
        if problem is None
        else Failure(FailureKind.CONNECTION, f"connection failed: {problem}")
    )


def whole_timeout(send: Send) -> Failure:
    return timeout_error(send.timeout, stream=send.feed is not None)


def result(script: Script) -> dict[str, Any]:
    """A played conversation as the harness reads it back (wire.py)."""
    return {
        "turns": [outcome(at, text, reply) for at, text, reply in script.played],
        "session": script.dialogue.session,
        "calls": [c.to_dict() for c in script.dialogue.calls],
        "error": None if script.failure is None else script.failure.to_dict(),
    }


def ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
