"""A booking desk agent for tests/suites/booking: reads a slot, a day and a time from the
guest's sentence and books it in PostgreSQL. With BOOKING_DEFECTS=twelve_hour it reads
"2pm" as 02:00 (the planted defect a hunt must find)."""

from __future__ import annotations

import datetime as dt
import os
import re

import psycopg

_REF = re.compile(r"\b(BK-\d{5})\b")
_ISO = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_LONG = re.compile(r"\b(\d{1,2} [A-Z][a-z]+ \d{4})\b")
_TIME = re.compile(r"\bat (\d{1,2})(?::(\d{2}))? ?([ap]m)?", re.I)


def _day(text: str) -> dt.date | None:
    if m := _ISO.search(text):
        return dt.date.fromisoformat(m.group(1))
    if m := _LONG.search(text):
        return dt.datetime.strptime(m.group(1), "%d %B %Y").date()
    return None


def _time(text: str) -> dt.time | None:
    m = _TIME.search(text)
    if not m:
        return None
    hour, minute, half = int(m.group(1)), int(m.group(2) or 0), (m.group(3) or "").lower()
    if half == "pm" and hour < 12 and "twelve_hour" not in os.environ.get("BOOKING_DEFECTS", ""):
        hour += 12
    if half == "am" and hour == 12:
        hour = 0
    return dt.time(hour, minute)


def book(message: str, session_id: str) -> str:
    ref, day, at = _REF.search(message), _day(message), _time(message)
    if not (ref and day and at):
        return "Sorry, which slot, day and time would you like?"
    with psycopg.connect(os.environ["BOOKING_DB"], autocommit=True) as conn:
        conn.execute(
            "insert into bookings (slot_ref, day, at) values (%s, %s, %s)", (ref.group(1), day, at)
        )
    return f"Booked {ref.group(1)} on {day.isoformat()} at {at.strftime('%H:%M')}."
