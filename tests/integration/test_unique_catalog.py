"""What must be unique, read from a real PostgreSQL's catalog (deps/catalog.py): unique
constraints, primary keys, composite, partial and expression indexes; the demo's own."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from psycopg.rows import dict_row

from harness.deps.catalog import unique_keys
from tests.integration.demo_servers import start_postgres

EXTRA = """
create table bookings (
    id         bigserial primary key,
    reference  text not null,
    room       text not null,
    starts_at  timestamp not null,
    guest      text not null,
    cancelled  boolean not null default false,
    note       text,
    constraint bookings_reference_key unique (reference)
);
create unique index bookings_room_slot on bookings (room, starts_at) where not cancelled;
create unique index bookings_guest_ci on bookings (lower(guest), (starts_at::date));
create index bookings_note on bookings (note);            -- not unique: not a key
create unique index bookings_cover on bookings (room) include (note) where cancelled;
"""


class Db:
    def __init__(self, url: str) -> None:
        self.url = url

    async def fetch(self, query: str) -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(self.url, row_factory=dict_row) as c:
            cur = await c.execute(query)
            return await cur.fetchall()


def test_every_kind_of_unique_key_is_read_with_its_columns() -> None:
    server = start_postgres("uniques")
    try:
        with server.connect() as conn:
            conn.execute(EXTRA)
        keys = asyncio.run(unique_keys(Db(server.url)))
    finally:
        server.stop()
    found = {k.name: k.columns for k in keys["bookings"]}
    assert found == {
        "bookings_pkey": ("id",),
        "bookings_reference_key": ("reference",),
        "bookings_room_slot": ("room", "starts_at"),  # partial: still a key where it holds
        "bookings_guest_ci": ("guest", "starts_at"),  # expressions: the columns they read
        "bookings_cover": ("room",),  # included columns are no part of the key
    }
    assert not any(k.declared for k in keys["bookings"])
    # the demo: customers' emails and their external reference are unique
    customers = {k.columns for k in keys["customers"]}
    assert {("email",), ("customer_ref",), ("id",)} <= customers
