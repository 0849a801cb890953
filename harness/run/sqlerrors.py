"""A suite's query tried on the real database, and PostgreSQL's error placed in the query.

PostgreSQL says where in the statement it stopped (the error's position, in characters);
the harness sent the query wrapped (`select * from (QUERY) ... limit 0`, joined to one row
so that a row of nulls names the columns the query returns) and, when it has parameters,
with psycopg's placeholders turned into PostgreSQL's (`%s` -> `$1`, `%%` -> `%`). Both are
undone here, so the offset is one into the query as the suite rendered it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harness.check.state import Database

#: one row of nulls whatever the query finds, so its columns are known without running it
PROBE_HEAD = "select _probe.* from (select) as _one left join (select * from ("
PROBE_TAIL = ") as _inner limit 0) as _probe on true"
_WRAPPER = re.compile(r'at or near "\)"$')
#: psycopg's placeholders: %s, %b, %t, %(name)s and the literal %%
_PLACEHOLDER = re.compile(r"%(?:\(([^)]+)\))?(.)", re.S)


@dataclass(frozen=True)
class QueryError:
    """The database's first line about a query, and where in the query it points (0-based)."""

    message: str
    offset: int | None


async def try_query(db: Database, query: str, params: Any) -> QueryError | None:
    """Run the query with `limit 0` and null parameters; None when the database accepts it."""
    found = await result_columns(db, query, params)
    return found if isinstance(found, QueryError) else None


async def result_columns(db: Database, query: str, params: Any) -> QueryError | list[str]:
    """The columns the query returns (run with `limit 0` and null parameters), or where the
    database refused it."""
    count = len(params) if isinstance(params, list) else 0
    args: Any = [None] * count if isinstance(params, list) else {k: None for k in params}
    body = query.rstrip().rstrip(";")
    probe = f"{PROBE_HEAD}{body}{PROBE_TAIL}"
    try:
        rows = await db.fetch(probe, args or None)
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        position = _position(exc)
        if position is None:
            return QueryError(message, None)
        sent = sent_offset(probe, position - 1) if args else position - 1
        offset = max(0, min(sent - len(PROBE_HEAD), len(body)))
        if offset >= len(body):  # at the probe's own ")": the query stops short
            message = _WRAPPER.sub("at end of input", message)
        return QueryError(message, offset)
    return list(rows[0]) if rows else []


def _position(exc: Exception) -> int | None:
    """The 1-based character PostgreSQL's error points at (psycopg's diag), if it says."""
    diag = getattr(exc, "diag", None)
    raw = getattr(diag, "statement_position", None) if diag is not None else None
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def sent_offset(query: str, offset: int) -> int:
    """An offset into the statement psycopg sent, as an offset into `query` as written."""
    at = sent = 0
    numbers: dict[str, int] = {}
    for m in _PLACEHOLDER.finditer(query):
        literal = m.start() - at
        if offset < sent + literal:
            break
        sent += literal
        if m.group(2) == "%":
            width = 1
        else:
            key = m.group(1) or f"#{len(numbers)}"
            number = numbers.setdefault(key, len(numbers) + 1)
            width = len(f"${number}")
        if offset < sent + width:
            return m.start()
        sent += width
        at = m.end()
    return at + (offset - sent)
