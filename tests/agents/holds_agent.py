"""A library desk agent for tests: it places holds on books for the card holder who asks.

POST /chat {"session_id", "message"}: "hold TITLE for card CARD" looks the member up by card
and inserts a hold (member_id, title, requested_card = CARD, conversation = session_id).
MODE=wrong_member (a planted defect): the hold goes to the first member on file, someone
else, whose row no case set up. MODE=honest: while its database cannot be reached it says so,
503 {"reply": "... try again later"}, and writes nothing. MODE=broken: every chat request is
answered 500 and nothing is written; MODE=wrong_then_broken: the hold goes to someone else
(as wrong_member), then the request is answered 500. DATABASE_URL, PORT from the
environment.
"""

from __future__ import annotations

import os
import re

import psycopg
from aiohttp import web

MODE = os.environ.get("MODE", "correct")
ASK = re.compile(r"hold (?P<title>.+?) for card (?P<card>\S+)", re.I)


async def chat(request: web.Request) -> web.Response:
    if MODE == "broken":
        return web.json_response({"error": "internal error"}, status=500)
    if MODE == "wrong_then_broken":
        await _chat(request)
        return web.json_response({"error": "internal error"}, status=500)
    if MODE != "honest":
        return await _chat(request)
    try:
        return await _chat(request)
    except psycopg.Error:
        reply = "The library system is unavailable; please try again later."
        return web.json_response({"reply": reply}, status=503)


async def _chat(request: web.Request) -> web.Response:
    data = await request.json()
    asked = ASK.search(str(data.get("message", "")))
    if asked is None:
        return web.json_response({"reply": "Which book, and your card number?"})
    async with await psycopg.AsyncConnection.connect(
        os.environ["DATABASE_URL"], autocommit=True
    ) as conn:
        cur = await conn.execute("select id from members where card = %s", [asked["card"]])
        row = await cur.fetchone()
        if row is None:
            return web.json_response({"reply": "I cannot find that card."})
        member = row[0]
        if MODE in ("wrong_member", "wrong_then_broken"):
            cur = await conn.execute("select min(id) from members")
            member = (await cur.fetchone() or [member])[0]
        await conn.execute(
            "insert into holds (member_id, title, requested_card, conversation) "
            "values (%s, %s, %s, %s)",
            [member, asked["title"], asked["card"], str(data.get("session_id", ""))],
        )
    return web.json_response({"reply": f"Hold placed on {asked['title']}."})


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    app = web.Application()
    app.router.add_post("/chat", chat)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None)


if __name__ == "__main__":
    main()
