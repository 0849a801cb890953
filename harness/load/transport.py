"""Reading the agent's answers inside the load generator (gevent; imported only by
generator.py, after it has patched the process): a body capped, a stream fed line by line
within its idle timeout, a played script as the harness reads it back."""

from __future__ import annotations

import time
import zlib
from typing import Any

import gevent

from harness.agents.dialogue import Chunked, Send
from harness.agents.protocol import Incoming, inflate_wbits
from harness.agents.script import Script
from harness.core.failures import Failure
from harness.load.wire import outcome, timeout_error, transport_error


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
    raw = b"".join(chunks)
    if compressed:
        raw = zlib.decompressobj(inflate_wbits(encoding, raw)).decompress(raw, limit)
    return raw


def _stream(resp: Any, incoming: Incoming, started: float, send: Send) -> Failure | None:
    """A 2xx stream fed line by line (SSE and JSON lines are made of lines), each line within
    the idle timeout; never reconnected. A gzip or deflate stream (an agent that compresses
    whatever it is asked) is inflated as it comes, its bytes read up to each newline byte."""
    stream = Chunked(send, incoming, started)
    encoding = str(resp.headers.get("content-encoding") or "").lower() if resp.headers else ""
    inflate: Any = None
    while not send.feed.done:
        idle = gevent.Timeout(send.idle_timeout)
        idle.start()
        try:  # what follows the last newline: geventhttpclient's readline drops it
            line = resp.stream.readline(b"\n") or resp.stream.read()
        except gevent.Timeout as fired:
            if fired is not idle:
                raise
            return stream.stalled()
        finally:
            idle.close()
        if not line:
            break
        if encoding in ("gzip", "deflate"):
            inflate = inflate or zlib.decompressobj(inflate_wbits(encoding, line))
            line = inflate.decompress(line, send.max_bytes + 1)
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
