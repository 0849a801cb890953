"""The harness's own connections to PostgreSQL: setup rows, state checks, invariants (Redis's
are in kvclient.py: each client library is imported only by a suite that has that kind)."""

from __future__ import annotations

from typing import Any

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
