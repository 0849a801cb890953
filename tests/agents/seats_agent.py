"""An airline seat desk for tests/suites/seats: it books a traveller on a flight, in the kind
of seat (aisle, window) the traveller asked for at any point of the thread.

POST /v2/threads {"channel"} -> 201 {"thread": {"id"}}; POST /v2/threads/{id}/say {"text"}
-> {"output": [{"type": "text", "value": TEXT}], "seat": KIND or null}; DELETE
/v2/threads/{id} -> 204; an unknown thread -> 404. "book ... flight XX123" inserts the booking
(thread, flight, seat_kind) into PostgreSQL, in the seat kind last asked for (middle when the
traveller never said).

MODE=short_memory (a planted defect, a context window): the agent reads the traveller's
preference from the last MEMORY (default 10) of the traveller's messages only, the one being
answered included; a preference said earlier is forgotten. DATABASE_URL, PORT from the
environment.
"""

from __future__ import annotations

import os
import re
import secrets

import psycopg
from aiohttp import web

MODE = os.environ.get("MODE", "correct")
MEMORY = int(os.environ.get("MEMORY", "10"))
KIND = re.compile(r"\b(aisle|window)\b", re.I)
BOOK = re.compile(r"\bbook\b.*\bflight\s+(?P<flight>[A-Z]{2}[0-9]{2,4})\b", re.I)

threads: dict[str, list[str]] = {}


def preference(said: list[str]) -> str | None:
    """The seat kind the traveller asked for last, within what the agent still remembers."""
    remembered = said[-MEMORY:] if MODE == "short_memory" else said
    for text in reversed(remembered):
        found = KIND.findall(text)
        if found:
            return str(found[-1]).lower()
    return None


def answer(text: str, value: str | None = None) -> web.Response:
    return web.json_response({"output": [{"type": "text", "value": text}], "seat": value})


async def open_thread(request: web.Request) -> web.Response:
    thread = f"t-{secrets.token_hex(6)}"
    threads[thread] = []
    return web.json_response({"thread": {"id": thread}}, status=201)


async def say(request: web.Request) -> web.Response:
    thread = request.match_info["thread"]
    said = threads.get(thread)
    if said is None:
        return web.json_response({"error": "no such thread"}, status=404)
    text = str((await request.json()).get("text", ""))
    said.append(text)
    kind = preference(said)
    booking = BOOK.search(text)
    if booking is None:
        if KIND.search(text):
            return answer(f"Noted: {kind} seats for you.", kind)
        return answer("Happy to help with that. Anything about your flights?", kind)
    seat = kind or "middle"
    async with await psycopg.AsyncConnection.connect(
        os.environ["DATABASE_URL"], autocommit=True
    ) as conn:
        await conn.execute(
            "insert into seats (thread, flight, seat_kind) values (%s, %s, %s)",
            [thread, booking["flight"].upper(), seat],
        )
    return answer(f"Booked on {booking['flight'].upper()}: a {seat} seat.", seat)


async def close(request: web.Request) -> web.Response:
    if threads.pop(request.match_info["thread"], None) is None:
        return web.json_response({"error": "no such thread"}, status=404)
    return web.Response(status=204)


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    app = web.Application()
    app.router.add_post("/v2/threads", open_thread)
    app.router.add_post("/v2/threads/{thread}/say", say)
    app.router.add_delete("/v2/threads/{thread}", close)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None)


if __name__ == "__main__":
    main()
