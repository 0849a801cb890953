"""A conversation-API test agent: sessions opened however real agents open them.

Every reply echoes the message and names the session it was sent to ("[c-...] you said: hi"),
and every request goes to the JSON-lines log named by REQUEST_LOG (request_log.py), so a test
can tell from the agent's side which session each request of each case used.

MODE (default `ids`):
  ids       POST /conversations -> 201 {"conversation_id"} (+ Location); POST
            /conversations/{id}/messages {"message"} -> {"reply", "conversation_id", "turn"};
            DELETE /conversations/{id} -> 204; an unknown id -> 404
  cookie    no id in any URL: POST /login or the first POST /chat sets cookie `sid`; later
            messages must carry it to stay in their session
  stall     `ids`, but a message is answered as SSE: a few `data: {"delta"}` chunks, then
            nothing for an hour
  contract  `ids`, plus: 422 {"error": "unknown reference"} for "reference": "bad" (in the
            open or the message body), 400 for an empty message, 413 for a body over
            MAX_BODY bytes, 500 for a message containing "boom"
  threads   LangGraph Agent-Protocol style: POST /threads -> {"thread_id"}, POST
            /threads/{id}/runs/wait -> {"messages": [...]} (the last is the answer), POST
            /threads/{id}/runs/stream -> SSE `event: values` with the whole state each time
  ndjson    `ids`, but a message is answered as newline-delimited JSON {"token": "..."}
  cut       `ids`, but a message is answered as SSE `data: {"delta"}` chunks of its first
            three words, and the response ends there: no `data: [DONE]`
  sse       `ids`, but a message is answered as SSE: a `data: {"delta"}` event a word, then
            `data: [DONE]`; with GZIP=1 the stream is gzip-compressed whatever the request
            accepts, each event flushed, the gzip header sent alone first (as Node's
            zlib.createGzip sends it); GZIP=members: each event a gzip member of its own;
            GZIP=cut: as 1, without `[DONE]` and without the gzip data's end; GAP seconds
            between events (default 0)
  token     POST /token -> {"access_token"}; every conversation request needs
            Authorization: Bearer <a token it issued>, else 401

DELAY (seconds, default 0) holds every answer that long, so concurrent cases overlap.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import os
import secrets
import sys
import uuid
import zlib
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from request_log import log_requests, write_now

MODE = os.environ.get("MODE", "ids")
DELAY = float(os.environ.get("DELAY", "0"))
MAX_BODY = 64 * 1024
MODES = ("ids", "cookie", "stall", "contract", "threads", "ndjson", "token", "cut", "sse")
GZIP = os.environ.get("GZIP", "0").replace("0", "")  # "", "1", "members" or "cut"
GAP = float(os.environ.get("GAP", "0"))

SESSIONS: dict[str, list[str]] = {}  # session id -> the messages it received
THREAD_STATE: dict[str, list[dict[str, Any]]] = {}  # thread id -> its messages, both sides
TOKENS: set[str] = set()
_numbers = itertools.count(1)


def new_session(prefix: str) -> str:
    session = f"{prefix}-{next(_numbers)}-{secrets.token_hex(4)}"
    SESSIONS[session] = []
    return session


def answer(session: str, message: str) -> dict[str, Any]:
    SESSIONS[session].append(message)
    return {
        "reply": f"[{session}] you said: {message}",
        "conversation_id": session,
        "turn": len(SESSIONS[session]),
    }


def error(status: int, text: str) -> web.Response:
    return web.json_response({"error": text}, status=status)


async def body_of(request: web.Request) -> dict[str, Any] | web.Response:
    """The JSON object sent, or the answer refusing it (413, 400)."""
    raw = await request.read()
    if len(raw) > MAX_BODY:
        return error(413, f"the body is larger than {MAX_BODY} bytes")
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return error(400, "the body is not JSON")
    return data if isinstance(data, dict) else error(400, "the body must be a JSON object")


def authorised(request: web.Request) -> bool:
    if MODE != "token":
        return True
    given = request.headers.get("Authorization", "")
    return given.startswith("Bearer ") and given.removeprefix("Bearer ") in TOKENS


# ------------------------------------------------------------------- conversations by id


async def create(request: web.Request) -> web.Response:
    if not authorised(request):
        return error(401, "a bearer token from POST /token is required")
    data = await body_of(request)
    if isinstance(data, web.Response):
        return data
    if MODE == "contract" and data.get("reference") == "bad":
        return error(422, "unknown reference")
    session = new_session("c")
    request["conversation"] = session
    location = f"/conversations/{session}"
    return web.json_response(
        {"conversation_id": session, "opened_with": data},
        status=201,
        headers={"Location": location},
    )


async def message(request: web.Request) -> web.StreamResponse:
    session = request.match_info["conversation_id"]
    request["conversation"] = session
    if not authorised(request):
        return error(401, "a bearer token from POST /token is required")
    data = await body_of(request)
    if isinstance(data, web.Response):
        return data
    if session not in SESSIONS:
        return error(404, f"unknown conversation {session}")
    text = data.get("message")
    if MODE == "contract":
        if data.get("reference") == "bad":
            return error(422, "unknown reference")
        if not isinstance(text, str) or not text.strip():
            return error(400, "message must not be empty")
        if "boom" in text:
            return web.Response(status=500, text="Internal Server Error: boom")
    if not isinstance(text, str):
        return error(400, "message must be a string")
    await asyncio.sleep(DELAY)
    reply = answer(session, text)
    if MODE == "stall":
        return await stall(request, reply["reply"])
    if MODE == "ndjson":
        return await ndjson(request, reply["reply"])
    if MODE == "cut":
        return await cut(request, reply["reply"])
    if MODE == "sse":
        return await sse(request, reply["reply"])
    return web.json_response(reply)


async def delete(request: web.Request) -> web.Response:
    session = request.match_info["conversation_id"]
    request["conversation"] = session
    if not authorised(request):
        return error(401, "a bearer token from POST /token is required")
    if SESSIONS.pop(session, None) is None:
        return error(404, f"unknown conversation {session}")
    return web.Response(status=204)


async def stall(request: web.Request, text: str) -> web.StreamResponse:
    await write_now(request, 200)  # this handler never finishes on its own
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for word in text.split()[:3]:
        await response.write(f"data: {json.dumps({'delta': word + ' '})}\n\n".encode())
    await asyncio.sleep(3600)
    return response


async def cut(request: web.Request, text: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for word in text.split()[:3]:
        await response.write(f"data: {json.dumps({'delta': word + ' '})}\n\n".encode())
    await response.write_eof()
    return response


async def sse(request: web.Request, text: str) -> web.StreamResponse:
    headers = {"Content-Type": "text/event-stream"}
    if GZIP:
        headers["Content-Encoding"] = "gzip"
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    z = zlib.compressobj(wbits=31)
    if GZIP in ("1", "cut"):
        header = z.flush(zlib.Z_SYNC_FLUSH)
        await response.write(header[:10])  # the gzip header alone: inflates to nothing
        await response.write(header[10:])
    words = text.split(" ")
    events = [json.dumps({"delta": w if i == len(words) - 1 else w + " "}) for i, w in
              enumerate(words)]  # fmt: skip
    for data in events if GZIP == "cut" else [*events, "[DONE]"]:
        event = f"data: {data}\n\n".encode()
        await asyncio.sleep(GAP)
        if GZIP == "members":  # each event a gzip member of its own
            event = gzip.compress(event)
        elif GZIP:
            event = z.compress(event) + z.flush(zlib.Z_SYNC_FLUSH)
        await response.write(event)
    if GZIP == "1":  # "cut": the gzip data never ends
        await response.write(z.flush())
    await response.write_eof()
    return response


async def ndjson(request: web.Request, text: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    words = text.split(" ")
    for i, word in enumerate(words):
        piece = word if i == len(words) - 1 else word + " "
        await response.write((json.dumps({"token": piece}) + "\n").encode())
    await response.write_eof()
    return response


async def token(request: web.Request) -> web.Response:
    issued = f"tok-{secrets.token_hex(8)}"
    TOKENS.add(issued)
    request["conversation"] = issued
    return web.json_response({"access_token": issued, "token_type": "bearer"})


# ------------------------------------------------------------------ a session in a cookie


async def login(request: web.Request) -> web.Response:
    session = new_session("k")
    request["conversation"] = session
    response = web.json_response({"ok": True})
    response.set_cookie("sid", session, httponly=True)
    return response


async def cookie_chat(request: web.Request) -> web.Response:
    data = await body_of(request)
    if isinstance(data, web.Response):
        return data
    session = request.cookies.get("sid")
    fresh = session not in SESSIONS
    if session is None or fresh:
        session = new_session("k")
    request["conversation"] = session
    await asyncio.sleep(DELAY)
    response = web.json_response(answer(session, str(data.get("message", ""))))
    if fresh:
        response.set_cookie("sid", session, httponly=True)
    return response


# ------------------------------------------------------------- LangGraph Agent-Protocol style


def _human(text: str) -> dict[str, Any]:
    return {"type": "human", "content": text, "id": str(uuid.uuid4())}


async def thread_create(request: web.Request) -> web.Response:
    session = str(uuid.uuid4())
    SESSIONS[session] = []
    request["conversation"] = session
    body = {"thread_id": session, "status": "idle", "metadata": {}, "values": {"messages": []}}
    return web.json_response(body)


def _run_input(data: dict[str, Any]) -> str | None:
    messages = (data.get("input") or {}).get("messages") or []
    if not data.get("assistant_id") or not messages:
        return None
    last = messages[-1]
    return str(last.get("content", "")) if isinstance(last, dict) else None


async def _thread_turn(
    request: web.Request,
) -> tuple[str, str, list[dict[str, Any]]] | web.Response:
    session = request.match_info["thread_id"]
    request["conversation"] = session
    data = await body_of(request)
    if isinstance(data, web.Response):
        return data
    if session not in SESSIONS:
        return error(404, f"thread {session} not found")
    text = _run_input(data)
    if text is None:
        return error(422, "assistant_id and input.messages are required")
    state = THREAD_STATE.setdefault(session, [])
    state.append(_human(text))
    await asyncio.sleep(DELAY)
    return session, answer(session, text)["reply"], state


async def runs_wait(request: web.Request) -> web.Response:
    turn = await _thread_turn(request)
    if isinstance(turn, web.Response):
        return turn
    _, reply, state = turn
    state.append({"type": "ai", "content": reply, "id": str(uuid.uuid4())})
    return web.json_response({"messages": state})


async def runs_stream(request: web.Request) -> web.StreamResponse:
    turn = await _thread_turn(request)
    if isinstance(turn, web.Response):
        return turn
    session, reply, state = turn
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)

    async def event(name: str, data: Any) -> None:
        await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

    await event("metadata", {"run_id": str(uuid.uuid4()), "thread_id": session})
    await event("values", {"messages": state})
    state.append({"type": "ai", "content": reply, "id": str(uuid.uuid4())})
    await event("values", {"messages": state})
    await response.write_eof()
    return response


# ---------------------------------------------------------------------------------- app


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "mode": MODE})


def app() -> web.Application:
    application = web.Application(middlewares=[log_requests], client_max_size=16 * 1024 * 1024)
    r = application.router
    r.add_get("/health", health)
    if MODE == "cookie":
        r.add_post("/login", login)
        r.add_post("/chat", cookie_chat)
    elif MODE == "threads":
        r.add_post("/threads", thread_create)
        r.add_post("/threads/{thread_id}/runs/wait", runs_wait)
        r.add_post("/threads/{thread_id}/runs/stream", runs_stream)
    else:
        if MODE == "token":
            r.add_post("/token", token)
        r.add_post("/conversations", create)
        r.add_post("/conversations/{conversation_id}/messages", message)
        r.add_delete("/conversations/{conversation_id}", delete)
    return application


def main() -> None:
    if MODE not in MODES:
        sys.exit(f"unknown MODE {MODE!r}; one of {', '.join(MODES)}")
    # a stalled stream must not hold the agent's exit for a minute
    web.run_app(
        app(), host="127.0.0.1", port=int(os.environ["PORT"]), print=None, shutdown_timeout=0.5
    )


if __name__ == "__main__":
    main()
