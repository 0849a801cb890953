"""A customer desk agent for the fault-judging tests: it finds a customer by name and PIN in
PostgreSQL (one fresh connection per request) and credits them, and answers HTTP 503 while
the database cannot be reached (an honest outage answer).

POST /chat {"session_id", "message"}: "credit NAME PIN" adds 1 to the credits of the first
customer (lowest id) with that name and PIN and replies "Credited NAME." (or "No such
customer."); "ping" runs `select 1` and replies "pong"; on any database error the answer is
HTTP 503 {"reply": "unavailable"}; "break" is always answered HTTP 503 {"reply": "maintenance"}
(a 503 with no fault behind it). GET /health: 200 when `select 1` works, else 503.
DATABASE_URL, PORT from the environment.
"""

from __future__ import annotations

import os

import psycopg
from aiohttp import web

CREDIT = """
update customers set credits = credits + 1
where id = (select id from customers where name = %s and pin = %s order by id limit 1)
returning id
"""


async def _db(query: str, params: list[object]) -> list[tuple[object, ...]]:
    async with await psycopg.AsyncConnection.connect(
        os.environ["DATABASE_URL"], autocommit=True, connect_timeout=3
    ) as conn:
        cur = await conn.execute(query, params)
        return await cur.fetchall() if cur.description else []


async def chat(request: web.Request) -> web.Response:
    data = await request.json()
    message = str(data.get("message", "")).strip()
    if message == "break":
        return web.json_response({"reply": "maintenance"}, status=503)
    try:
        if message.startswith("credit "):
            name, _, pin = message[7:].rpartition(" ")
            rows = await _db(CREDIT, [name, pin])
            return web.json_response(
                {"reply": f"Credited {name}." if rows else "No such customer."}
            )
        if message == "ping":
            await _db("select 1", [])
            return web.json_response({"reply": "pong"})
    except psycopg.Error:
        return web.json_response({"reply": "unavailable"}, status=503)
    return web.json_response({"reply": "Say credit NAME PIN, or ping."})


async def health(request: web.Request) -> web.Response:
    try:
        await _db("select 1", [])
    except psycopg.Error:
        return web.Response(status=503, text="database unavailable")
    return web.Response(text="ok")


def main() -> None:
    app = web.Application()
    app.router.add_post("/chat", chat)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None)


if __name__ == "__main__":
    main()
