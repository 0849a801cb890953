"""An HTTP agent's wire protocol, without I/O: what to send (login, open, each turn, close),
how to read what comes back (statuses, the reply's text and JSON, captures, cookies) and
how a streamed reply is assembled. The harness's aiohttp adapter and the load generator's
locust users both drive conversations through this one module (it imports neither
asyncio nor gevent, nor any HTTP client).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any

import orjson

from harness.agents.base import Reply
from harness.agents.paths import get_path as get_path
from harness.agents.paths import near_path
from harness.agents.paths import parse_path as parse_path
from harness.core.failures import Failure, FailureKind
from harness.spec.models.agents import HeaderCapture, HttpAdapter, Request, Turn
from harness.spec.template import (
    Template,
    TemplateError,
    format_value,
    iter_templates,
    render_deep,
)

EXCERPT = 500


def as_text(value: Any) -> str:
    """A JSON value as the reply's text: a string as is, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return format_value(value)


def timed_out(seconds: float, stream: bool = False) -> Failure:
    """The words of a request that ran out of time, in the harness and the load generator."""
    if stream:
        return Failure(FailureKind.TIMEOUT, f"timeout: the stream did not end within {seconds:g} s")
    return Failure(FailureKind.TIMEOUT, f"timeout: no reply within {seconds:g} s")


#: what a conversation only knows as it goes: its captures, the last reply, every reply and
#: its HTTP status
CONVERSATION = ("session", "reply", "replies", "statuses", "texts")


def reads_conversation(value: Any, cache: dict[str, Template]) -> bool:
    """Whether a template anywhere in `value` reads what the conversation captured or
    replied so far (then it can only be rendered as the conversation goes)."""
    for source in iter_templates(value):
        template = cache.get(source)
        if template is None:
            template = cache[source] = Template(source)
        if any(path[0] in CONVERSATION for path in template.paths()):
            return True
    return False


def not_given(exc: TemplateError, session: Mapping[str, Any]) -> Failure | None:
    """A request or turn whose template reads what the conversation never got (a capture, a
    field of an earlier reply): the agent's failure, named; None for any other template
    error (the suite's or the harness's own)."""
    text = str(exc)
    if not text.startswith(("session.", "reply.", "replies.")):
        return None
    got = ", ".join(sorted(session)) or "nothing"
    return Failure(
        FailureKind.MALFORMED,
        f"{text}: the agent's replies so far did not give it (captured: {got})",
    )


# --------------------------------------------------------------------------- requests


@dataclass(slots=True)  # not frozen: built for every request, a frozen one costs twice that
class Outgoing:
    """One request, rendered and ready for any HTTP client."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    purpose: str  # login | open | turn | close


def _encode(body: Any) -> tuple[bytes | None, str | None]:
    if body is None:
        return None, None
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    return orjson.dumps(body, default=format_value), "application/json"


def body_template(spec: Request | HttpAdapter, turn: Turn | None = None) -> Any:
    """The template of a request's body: the turn's own (`raw`, `body`) when it declares one,
    None when it sends none (or N bytes, `body_bytes`), else the request's."""
    if turn is not None:
        if turn.no_body or turn.body_bytes is not None:
            return None
        if turn.raw is not None:
            return turn.raw
        if turn.body is not None:
            return turn.body
    return spec.body


def render_request(
    spec: Request | HttpAdapter,
    context: Mapping[str, Any],
    cache: dict[str, Template],
    *,
    purpose: str,
    turn: Turn | None = None,
) -> Outgoing:
    """The request for a login, open or close (`spec` a Request) or a turn (the adapter,
    with the turn's own body when it declares one)."""
    url = format_value(render_deep(spec.url, context, cache))
    headers = (
        {k: format_value(v) for k, v in render_deep(spec.headers, context, cache).items()}
        if spec.headers
        else {}
    )
    body: bytes | None
    content_type: str | None
    template = body_template(spec, turn)
    if turn is not None and turn.body_bytes is not None:
        body, content_type = b"x" * turn.body_bytes, "application/octet-stream"
    elif template is None:
        body, content_type = None, None
    elif turn is not None and turn.raw is not None:
        body, content_type = format_value(render_deep(template, context, cache)).encode(), None
    else:
        body, content_type = _encode(render_deep(template, context, cache))
    if content_type is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = content_type
    if spec.method == "GET":
        body = None
    return Outgoing(spec.method, url, headers, body, purpose)


# --------------------------------------------------------------------------- responses


@dataclass(slots=True)
class Incoming:
    """What came back: status, headers, the body, and its timing. `headers` is a list of
    (name, value) pairs, or the HTTP client's own case-insensitive multi-dict (aiohttp's,
    geventhttpclient's), read only when a header is asked for."""

    status: int
    headers: Any
    body: bytes
    latency_ms: float
    first_byte_ms: float | None = None
    streamed: tuple[str | None, Any] | None = None  # a stream's assembled (text, JSON)

    def header(self, name: str) -> str | None:
        values = self.headers_named(name)
        return values[0] if values else None

    def headers_named(self, name: str) -> list[str]:
        """Every value of a header (Set-Cookie comes once per cookie)."""
        h = self.headers
        if isinstance(h, list):
            low = name.lower()
            return [v for k, v in h if k.lower() == low]
        if h is None:
            return []
        getall = getattr(h, "getall", None)  # aiohttp (multidict)
        if getall is not None:
            return [str(v) for v in getall(name, [])]
        return [str(v) for v in h.getlist(name)]  # geventhttpclient


def _json(body: bytes) -> tuple[Any, str | None]:
    """The body's JSON, or None and the parser's reason and place (a body that looks like
    JSON may still hold what no JSON text may: a lone surrogate escape, bad UTF-8)."""
    try:
        return orjson.loads(body), None
    except orjson.JSONDecodeError as exc:
        return None, str(exc)


def capture(captures: Mapping[str, Any], incoming: Incoming, data: Any) -> dict[str, Any]:
    """The values a request or turn captures from what came back (those present only)."""
    out: dict[str, Any] = {}
    if not captures:
        return out
    for name, spec in captures.items():
        if isinstance(spec, HeaderCapture):
            value = incoming.header(spec.header)
            if value is not None and spec.pattern is not None:
                match = re.search(spec.pattern, value)
                value = (match.group(1) if match.groups() else match.group(0)) if match else None
            if value is not None:
                out[name] = value
            continue
        value, found = get_path(data, spec)
        if found and value is not None:
            out[name] = value
    return out


def read_turn(
    adapter: HttpAdapter,
    incoming: Incoming,
    accepted: list[int],
    *,
    streamed: tuple[str | None, Any] | None = None,
) -> Reply:
    """A turn's answer: its status checked against what the turn accepts, its text (the
    reply path in JSON, else the body) and JSON kept, captures taken."""
    body = incoming.body
    if len(body) > adapter.max_bytes:
        return _failed(incoming, FailureKind.TOO_LARGE,
                       f"reply exceeds the size cap of {adapter.max_bytes} bytes")  # fmt: skip
    if incoming.status not in accepted:
        decoded = _decoded(body)
        kind = FailureKind.REDIRECT if 300 <= incoming.status < 400 else FailureKind.STATUS
        wanted = "" if list(accepted) == [200] else f", expected {' or '.join(map(str, accepted))}"
        return _failed(incoming, kind, f"HTTP {incoming.status}{wanted}: {decoded[:EXCERPT]}")
    text: str | None
    if streamed is not None:
        text, data = streamed
        answer = Reply(text, incoming.latency_ms, incoming.status, None, data,
                       incoming.first_byte_ms)  # fmt: skip
        answer.captured = capture(adapter.capture, incoming, data)
        answer.usage = usage(adapter.usage, data)
        return answer
    data, not_json = _json(body)
    is_json = not_json is None
    contract = incoming.status not in adapter.ok_status  # an accepted 4xx: judged as it is
    if adapter.reply is None or (contract and not is_json):
        text = _decoded(body)
    elif not is_json:
        return _failed(incoming, FailureKind.MALFORMED,
                       f"malformed reply: not JSON ({not_json}): "
                       f"{_decoded(body)[:EXCERPT]}")  # fmt: skip
    else:
        value, found = get_path(data, adapter.reply)
        if not found and contract:
            text = _decoded(body)
        elif not found:
            hint = near_path(adapter.reply, data)  # a misspelt `reply:` reads as this too
            message = f"malformed reply: no {adapter.reply!r}{hint} in {_decoded(body)[:EXCERPT]}"
            return _failed(incoming, FailureKind.MALFORMED, message)
        elif value is None:  # no reply is no empty reply: a not_contains must not pass on it
            message = f"malformed reply: {adapter.reply!r} is null in {_decoded(body)[:EXCERPT]}"
            return _failed(incoming, FailureKind.MALFORMED, message)
        else:
            text = as_text(value)
    answer = Reply(text, incoming.latency_ms, incoming.status, None, data, incoming.first_byte_ms)
    if adapter.capture:  # else nothing to take (and no call for it, every turn)
        answer.captured = capture(adapter.capture, incoming, data)
    if adapter.usage is not None:
        answer.usage = usage(adapter.usage, data)
    return answer


#: token counts an agent may report, in the names the reports read (OpenAI's); the
#: Anthropic and Responses API names are read as them
TOKEN_NAMES = {
    "prompt_tokens": "prompt_tokens",
    "input_tokens": "prompt_tokens",
    "completion_tokens": "completion_tokens",
    "output_tokens": "completion_tokens",
    "total_tokens": "total_tokens",
}


def usage(path: str | None, data: Any) -> dict[str, int] | None:
    """The token counts at the adapter's `usage` path: whole non-negative numbers under the
    names in TOKEN_NAMES (`prompt_tokens` over `input_tokens` when both), anything else
    ignored. None when there is no path, nothing there or no count in it: an agent's
    malformed usage is no usage, never a failed turn."""
    if path is None:
        return None
    found, there = get_path(data, path)
    if not there or not isinstance(found, Mapping):
        return None
    counts: dict[str, int] = {}
    for name, value in found.items():
        key = TOKEN_NAMES.get(name) if isinstance(name, str) else None
        if key is None or isinstance(value, bool) or not isinstance(value, int) or value < 0:
            continue
        if key not in counts or name == key:  # the OpenAI name wins over its alias
            counts[key] = value
    return counts or None


def _decoded(body: bytes) -> str:
    """A reply's text (only when it is needed: most replies are read as JSON)."""
    return body.decode("utf-8", errors="replace")


def _failed(incoming: Incoming, kind: FailureKind, message: str) -> Reply:
    return Reply(None, incoming.latency_ms, incoming.status, Failure(kind, message))


def read_request(request: Request, incoming: Incoming) -> tuple[dict[str, Any], Failure | None]:
    """A login, open or close: what it captured, or why it failed."""
    if incoming.status not in request.expect_status:
        decoded = incoming.body.decode("utf-8", errors="replace")
        kind = FailureKind.REDIRECT if 300 <= incoming.status < 400 else FailureKind.STATUS
        return {}, Failure(kind, f"HTTP {incoming.status}: {decoded[:EXCERPT]}")
    data, _ = _json(incoming.body)
    captured = capture(request.capture, incoming, data)
    missing = [name for name in request.capture if name not in captured]
    if missing:
        shown = incoming.body.decode("utf-8", errors="replace")[:EXCERPT]
        where = _looked_for(request.capture[missing[0]], data)
        message = f"malformed reply: nothing to capture as {missing[0]} at {where} in {shown}"
        return captured, Failure(FailureKind.MALFORMED, message)
    return captured, None


def _looked_for(spec: Any, data: Any) -> str:
    """Where a capture looked (a typo in the suite otherwise reads like an agent that left
    the value out)."""
    if isinstance(spec, HeaderCapture):
        return f"header {spec.header}"
    return f"path {spec}{near_path(str(spec), data)}"


# --------------------------------------------------------------------------- cookies


class CookieJar:
    """One conversation's cookies (a per-conversation session kept in a cookie)."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def update(self, incoming: Incoming) -> None:
        for value in incoming.headers_named("Set-Cookie"):
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value)
            except CookieError:
                continue
            for key, morsel in jar.items():
                expired = morsel["max-age"] in ("0", "-1") or morsel.value == ""
                if expired:
                    self._values.pop(key, None)
                else:
                    self._values[key] = morsel.value

    def header(self) -> str | None:
        if not self._values:
            return None
        return "; ".join(f"{k}={v}" for k, v in self._values.items())


def retry_after(incoming: Incoming) -> float | None:
    """Seconds a 429's Retry-After asks for (an HTTP date counts as one second)."""
    if incoming.status != 429:
        return None
    value = incoming.header("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return 1.0
