"""A library desk agent for tests/suites/library: finds the member a message names (by card,
by email, or by name and date of birth), and lends the book it names to exactly that member.
Two members it cannot tell apart get a question back, never a loan: the ambiguity that
identical names across trials would cause."""

from __future__ import annotations

import os
import re
from typing import Any

import psycopg

CARD = re.compile(r"\bLIB-\d+\b")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
NAME = re.compile(r"I am (?P<name>.+?), born (?P<born>\d{4}-\d{2}-\d{2})")
ISBN = re.compile(r"\b(97[89][\d-]{10,14}\d)\b")


async def desk(message: str, session_id: str) -> str:
    isbn = ISBN.search(message)
    if isbn is None:
        return "Which book would you like?"
    async with await psycopg.AsyncConnection.connect(os.environ["LIBRARY_DATABASE_URL"]) as conn:
        members = await _members(conn, message)
        if not members:
            return "I could not find you."
        if len(members) > 1:
            return "Several members match; which card number is yours?"
        member_id, name = members[0]
        cur = await conn.execute("select id, title from books where isbn = %s", (isbn.group(1),))
        book = await cur.fetchone()
        if book is None:
            return "We do not have that book."
        await conn.execute(
            "insert into loans (member_id, book_id) values (%s, %s)", (member_id, book[0])
        )
        return f"Lent {book[1]} to {name}."


async def _members(conn: Any, message: str) -> list[tuple[int, str]]:
    if card := CARD.search(message):
        query, args = "select id, full_name from members where card_no = %s", (card.group(0),)
    elif email := EMAIL.search(message):
        query = "select id, full_name from members where lower(email) = lower(%s)"
        args = (email.group(0),)
    elif named := NAME.search(message):
        query = "select id, full_name from members where full_name = %s and birth_date = %s"
        args = (named.group("name"), named.group("born"))
    else:
        return []
    cur = await conn.execute(query, args)
    return list(await cur.fetchall())
