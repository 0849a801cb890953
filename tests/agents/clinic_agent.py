"""A clinic intake agent for tests/suites/clinic: books a patient's appointment once it knows
who they are, asking for what it lacks ONE fact at a time, in a random order.

POST /intake {"visit": ID, "utterance": TEXT} -> {"bot": {"says": TEXT, "step": STEP}}.
A patient is identified by surname, date of birth and patient number (all three, checked
against PostgreSQL); "book" asks for an appointment, booked in the part of the day the
patient said they can come ("only mornings", "afternoons only"; default afternoon).

ASK_ORDER=random (default) shuffles the order of its questions per visit; MODE=forgetful (a
planted defect) reads the part of the day from the last WINDOW (8) messages only, so a
preference said early is forgotten in a long visit. USAGE=on reports token usage as a model
would, under meta.usage: input_tokens the words of the visit so far (its whole history is the
prompt), output_tokens those of the reply, total_tokens their sum, and a `cached` note that is
no count. DATABASE_URL, PORT from the environment.
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass, field
from typing import Any

import psycopg
from aiohttp import web

MODE = os.environ.get("MODE", "correct")
WINDOW = int(os.environ.get("WINDOW", "8"))
QUESTIONS = {
    "surname": "Could you tell me your surname?",
    "born": "And what is your date of birth?",
    "number": "What's your patient number, please?",
}
_SURNAME = re.compile(r"\b(?:surname is|name is|I am|I'm)\s+([A-Z][\w'-]+)")
_BORN = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_NUMBER = re.compile(r"\b(P-\d{4,6})\b")
_PART = re.compile(r"\b(mornings?|afternoons?)\b", re.I)


@dataclass
class Visit:
    facts: dict[str, str] = field(default_factory=dict)
    part: str | None = None  # pinned when said (the correct agent)
    history: list[str] = field(default_factory=list)
    wants_booking: bool = False
    order: list[str] = field(default_factory=list)


VISITS: dict[str, Visit] = {}


def _part_of(text: str) -> str | None:
    if (m := _PART.search(text)) and re.search(r"\bonly\b|\bcan only\b|\bprefer", text, re.I):
        return "morning" if m.group(1).lower().startswith("morning") else "afternoon"
    return None


async def intake(request: web.Request) -> web.Response:
    data = await request.json()
    vid, text = str(data.get("visit", "")), str(data.get("utterance", ""))
    visit = VISITS.setdefault(vid, Visit())
    if not visit.order:
        visit.order = list(QUESTIONS)
        if os.environ.get("ASK_ORDER", "random") == "random":
            random.shuffle(visit.order)
    visit.history.append(text)
    request["visit"] = visit
    if m := _SURNAME.search(text):
        visit.facts["surname"] = m.group(1)
    if m := _BORN.search(text):
        visit.facts["born"] = m.group(1)
    if m := _NUMBER.search(text):
        visit.facts["number"] = m.group(1)
    if part := _part_of(text):
        visit.part = part
    if re.search(r"\bbook\b", text, re.I):
        visit.wants_booking = True
    if not visit.wants_booking:
        return _say("Noted. Let me know when you'd like to book.", "chat")
    missing = [q for q in visit.order if q not in visit.facts]
    if missing:
        return _say(QUESTIONS[missing[0]], f"asking_{missing[0]}")
    part = visit.part
    if MODE == "forgetful":  # the planted defect: the preference from the window only
        part = next((p for t in reversed(visit.history[-WINDOW:]) if (p := _part_of(t))), None)
    part = part or "afternoon"
    async with await psycopg.AsyncConnection.connect(
        os.environ["DATABASE_URL"], autocommit=True
    ) as conn:
        cur = await conn.execute(
            "select id from patients where surname = %s and born = %s and number = %s",
            [visit.facts["surname"], visit.facts["born"], visit.facts["number"]],
        )
        row = await cur.fetchone()
        if row is None:
            visit.facts.clear()
            return _say("I could not find you in our records.", "not_found")
        await conn.execute(
            "insert into appointments (patient_id, part_of_day, visit) values (%s, %s, %s)",
            [row[0], part, vid],
        )
    visit.wants_booking = False
    return _say(f"You're booked in for a {part} appointment.", "booked")


@web.middleware
async def usage(request: web.Request, handler: Any) -> web.StreamResponse:
    """USAGE=on: the reply's tokens under meta.usage (the visit's words in, the reply's out)."""
    response = await handler(request)
    visit = request.get("visit")
    if os.environ.get("USAGE") != "on" or visit is None or not isinstance(response, web.Response):
        return response
    body = json.loads(response.text or "{}")
    prompt = sum(len(t.split()) for t in visit.history)
    completion = len(body["bot"]["says"].split())
    body["meta"] = {
        "usage": {
            "input_tokens": prompt,
            "output_tokens": completion,
            "total_tokens": prompt + completion,
            "cached": "none",
        }
    }
    return web.json_response(body)


def _say(text: str, step: str) -> web.Response:
    return web.json_response({"bot": {"says": text, "step": step}})


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    app = web.Application(middlewares=[usage])
    app.router.add_post("/intake", intake)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None)


if __name__ == "__main__":
    main()
