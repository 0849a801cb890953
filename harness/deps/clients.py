"""The harness's own connections to the real systems: setup rows, state checks, invariants."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from harness.deps.base import Endpoint


class Postgres:
    """A small pool of autocommit connections; every query is parameterised."""

    def __init__(self, endpoint: Endpoint, max_size: int = 8) -> None:
        self.endpoint = endpoint
        self.pool: AsyncConnectionPool[AsyncConnection[dict[str, Any]]] = AsyncConnectionPool(
            endpoint.url,
            min_size=1,
            max_size=max(2, max_size),
            open=False,
            kwargs={"autocommit": True, "row_factory": dict_row},
            connection_class=AsyncConnection[dict[str, Any]],
        )

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        await self.pool.close()

    async def fetch(self, query: str, params: Any = None) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, params or None)
            return await cur.fetchall() if cur.description else []

    async def insert(self, table: str, values: dict[str, Any]) -> dict[str, Any]:
        """Insert one row and return it as stored, defaults and generated ids included."""
        if values:
            stmt = sql.SQL("insert into {} ({}) values ({}) returning *").format(
                sql.Identifier(table),
                sql.SQL(", ").join(map(sql.Identifier, values)),
                sql.SQL(", ").join(sql.Placeholder() * len(values)),
            )
        else:
            stmt = sql.SQL("insert into {} default values returning *").format(
                sql.Identifier(table)
            )
        async with self.pool.connection() as conn:
            cur = await conn.execute(stmt, list(values.values()))
            row = await cur.fetchone()
            assert row is not None
            return row

    async def holds(self, table: str, values: dict[str, Any]) -> bool:
        """Whether a row of the table already has these values in these columns."""
        stmt = sql.SQL("select 1 from {} where {} limit 1").format(
            sql.Identifier(table),
            sql.SQL(" and ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in values),
        )
        async with self.pool.connection() as conn:
            cur = await conn.execute(stmt, list(values.values()))
            return await cur.fetchone() is not None

    async def script(self, text: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(text.encode())  # several statements, no parameters

    async def first_failure(self, statements: list[str]) -> tuple[int, Exception] | None:
        """The statements one by one, in a transaction always rolled back: the index of the
        first one the database refuses and its error (to place an error that has no position)."""
        async with self.pool.connection() as conn, conn.transaction(force_rollback=True):
            for i, statement in enumerate(statements):
                try:
                    await conn.execute(statement.encode())
                except Exception as exc:
                    return i, exc
        return None

    async def copy_rows(self, table: str, columns: list[str], rows: list[list[Any]]) -> None:
        stmt = sql.SQL("copy {} ({}) from stdin").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        async with self.pool.connection() as conn, conn.cursor() as cur, cur.copy(stmt) as copy:
            for row in rows:
                await copy.write_row(row)


class Redis:
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.client = aioredis.Redis.from_url(endpoint.url, decode_responses=True)

    async def open(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()

    async def exists(self, key: str) -> bool:
        return bool(await self.client.exists(key))

    async def get(self, key: str) -> str | None:
        value = await self.client.get(key)
        return None if value is None else str(value)

    async def hgetall(self, key: str) -> dict[str, str]:
        raw = await self.client.hgetall(key)
        return {str(k): str(v) for k, v in raw.items()}

    async def ttl(self, key: str) -> int:
        return int(await self.client.ttl(key))

    async def setup(
        self, key: str, value: str | None, hash_: dict[str, str] | None, ttl: int | None
    ) -> None:
        if value is not None:
            await self.client.set(key, value)
        if hash_:
            mapping: Any = hash_  # redis-py's Mapping type is invariant in its key type
            await self.client.hset(key, mapping=mapping)
        if ttl is not None:
            await self.client.expire(key, ttl)
