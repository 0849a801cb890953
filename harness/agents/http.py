"""The http adapter: the agent's real HTTP interface, with a timeout and a size cap per call."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import orjson

from harness.agents.base import Reply, decode_capped
from harness.core.failures import FailureKind
from harness.spec.models import HttpAdapter
from harness.spec.template import Template, format_value, render_deep

EXCERPT = 500


def extract(data: Any, path: str) -> tuple[Any, bool]:
    """Follow a dotted path (with numeric list indexes) into parsed JSON."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None, False
    return current, True


class HttpAgent:
    name = "http"

    def __init__(self, config: HttpAdapter, base_context: dict[str, Any], concurrency: int) -> None:
        self.config = config
        self._cache: dict[str, Template] = {}
        self.url = format_value(render_deep(config.url, base_context, self._cache))
        self.headers = {
            k: format_value(v)
            for k, v in render_deep(config.headers, base_context, self._cache).items()
        }
        self._base = base_context
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(total=config.timeout)

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(limit=max(self._concurrency, 1), force_close=False)
        self._session = aiohttp.ClientSession(
            connector=connector,
            json_serialize=lambda obj: orjson.dumps(obj).decode(),
            headers=self.headers,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def request(self, context: dict[str, Any]) -> tuple[bytes, str]:
        """The body and content type of one turn's request (context holds case and turn).
        Public so that load generators in other processes send exactly the same request."""
        rendered = render_deep(self.config.body, context, self._cache)
        if isinstance(rendered, str):
            return rendered.encode(), "text/plain; charset=utf-8"
        return orjson.dumps(rendered, default=format_value), "application/json"

    async def send(self, text: str, context: dict[str, Any]) -> Reply:
        assert self._session is not None, "open() first"
        body, content_type = self.request(context)
        started = time.perf_counter()
        try:
            async with self._session.request(
                self.config.method,
                self.url,
                data=body if self.config.method != "GET" else None,
                headers={"Content-Type": content_type},
                timeout=self._timeout,
                allow_redirects=False,  # traffic goes to the agent's address only: a 3xx is
                # an error with its status, as under `harness load`
            ) as resp:
                raw = await _read_capped(resp.content, self.config.max_bytes + 1)
                status = resp.status
        except TimeoutError:
            return Reply.failed(
                FailureKind.TIMEOUT, f"timeout: no reply within {self.config.timeout:g} s",
                _ms(started),
            )  # fmt: skip
        except aiohttp.ClientError as exc:
            return Reply.failed(
                FailureKind.CONNECTION,
                f"connection failed: {type(exc).__name__}: {exc}",
                _ms(started),
            )
        except OSError as exc:
            return Reply.failed(FailureKind.CONNECTION, f"connection failed: {exc}", _ms(started))
        return parse_reply(self.config, status, raw, _ms(started))


def parse_reply(config: HttpAdapter, status: int, raw: bytes, latency: float) -> Reply:
    """Judge an HTTP response as the adapter does: status, size cap, JSON, reply path.
    `raw` may be cut at max_bytes + 1 (that is how a too-large body is recognised)."""
    decoded, error = decode_capped(raw, config.max_bytes)
    if error:
        return Reply.failed(FailureKind.TOO_LARGE, error, latency, status)
    assert decoded is not None
    if status not in config.ok_status:
        kind = FailureKind.REDIRECT if 300 <= status < 400 else FailureKind.STATUS
        return Reply.failed(kind, f"HTTP {status}: {decoded[:EXCERPT]}", latency, status)
    if config.reply is None:
        return Reply(decoded, latency, status)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Reply.failed(
            FailureKind.MALFORMED,
            f"malformed reply: not JSON: {decoded[:EXCERPT]}",
            latency,
            status,
        )
    value, found = extract(data, config.reply)
    if not found:
        return Reply.failed(
            FailureKind.MALFORMED,
            f"malformed reply: no {config.reply!r} in {decoded[:EXCERPT]}",
            latency,
            status,
        )
    if value is None:  # no reply is no empty reply: a not_contains check must not pass on it
        return Reply.failed(
            FailureKind.MALFORMED,
            f"malformed reply: {config.reply!r} is null in {decoded[:EXCERPT]}",
            latency,
            status,
        )
    if isinstance(value, dict | list):
        return Reply(orjson.dumps(value).decode(), latency, status)
    return Reply(format_value(value), latency, status)


async def _read_capped(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """Read the body up to limit bytes; a larger body is cut there (and reported as too big)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await stream.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
