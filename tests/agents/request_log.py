"""What a test agent received, as JSON lines in the file named by REQUEST_LOG, so that tests
can assert what the harness sent (paths, ids, cookies, tokens, bodies) from the agent's side.

One record per request, written when the handler finishes (or earlier, by `write_now`, for a
handler that never finishes): seq, method, path, query, the headers that carry a session,
the body (JSON when it parses, else text; cut at 4000 characters), its size, the status, and
`conversation`, the session the agent resolved the request to.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

HEADERS = ("Authorization", "Cookie", "Content-Type", "Accept")
BODY_CHARS = 4000
_seq = itertools.count(1)


def _record(request: web.Request, body: bytes, status: int | None) -> dict[str, Any]:
    text = body.decode("utf-8", "replace")
    parsed: Any = text[:BODY_CHARS]
    if len(body) <= 256 * 1024:
        with contextlib.suppress(ValueError):
            parsed = json.loads(text)
    return {
        "seq": next(_seq),
        "time": time.time(),
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "headers": {h.lower(): request.headers[h] for h in HEADERS if h in request.headers},
        "body": parsed,
        "body_bytes": len(body),
        "status": status,
        "conversation": request.get("conversation"),
    }


def write(record: dict[str, Any]) -> None:
    path = os.environ.get("REQUEST_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


async def write_now(request: web.Request, status: int) -> None:
    """Record the request before the handler ends (a stream that stalls forever)."""
    request["logged"] = True
    write(_record(request, await request.read(), status))


@web.middleware
async def log_requests(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    status: int | None = None
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        if request.path != "/health" and not request.get("logged"):
            write(_record(request, await request.read(), status))


def read(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a request log, in the order they were written."""
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
