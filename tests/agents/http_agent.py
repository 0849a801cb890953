"""A real HTTP agent process for tests, misbehaving on request (MODE env var).

MODE: echo | crash_at_start | error500 | not_json | no_reply_key | huge | hang | die_on_turn
| null_reply | redirect (to /elsewhere, which answers a valid reply: following it would pass)
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from aiohttp import web

MODE = os.environ.get("MODE", "echo")


async def chat(request: web.Request) -> web.StreamResponse:
    data = await request.json()
    message = str(data.get("message", ""))
    if MODE == "null_reply":
        return web.json_response({"reply": None})
    if MODE == "redirect":
        raise web.HTTPFound("/elsewhere")
    if MODE == "error500":
        return web.Response(status=500, text="Internal Server Error: boom")
    if MODE == "not_json":
        return web.Response(text="<html>definitely not json</html>")
    if MODE == "no_reply_key":
        return web.json_response({"answer": message})
    if MODE == "huge":
        return web.Response(
            text='{"reply": "' + "y" * 2_000_000 + '"}', content_type="application/json"
        )
    if MODE == "hang":
        print(f"hanging on {message}", flush=True)  # the run's agent.log: a request is in
        await asyncio.sleep(3600)
    if MODE == "die_on_turn" and "die" in message:
        os._exit(1)
    return web.json_response({"reply": f"echo: {message}", "session_id": data.get("session_id")})


async def elsewhere(request: web.Request) -> web.Response:
    return web.json_response({"reply": "hello from elsewhere"})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    if MODE == "crash_at_start":
        print("fatal: cannot connect to DATABASE_URL=postgresql://app:s3cretpw@db/app", flush=True)
        sys.exit(4)
    app = web.Application()
    app.router.add_post("/chat", chat)
    app.router.add_get("/health", health)
    app.router.add_route("*", "/elsewhere", elsewhere)
    hang = MODE == "hang"
    if hang:  # as a server that drops what it is answering: SIGTERM ends it at once, code 0
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    web.run_app(
        app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None, handle_signals=not hang
    )


if __name__ == "__main__":
    main()
