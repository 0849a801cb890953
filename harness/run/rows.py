"""A case's setup rows into the real database, unique where the suite says so.

The schema's own unique keys are enforced by the database: an insert that meets a value
another row holds fails, and the engine draws the row's values again. A key the suite
declares (`unique:`, such as a name and date of birth an agent looks people up by) is
enforced by nobody, so before such a row is inserted the real table is read for a row
holding the same values, under a lock per table (two cases of this run cannot both find
none and insert the same), and a held value is drawn again the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.check.state import SetupDatabase
from harness.empty import empty_dict
from harness.generate.identity import UniqueKey
from harness.generate.values import is_generator
from harness.spec import models as m
from harness.spec.template import Template, render_deep


class Held(Exception):
    """A declared key's values are already another row's."""


@dataclass
class RowWriter:
    """Inserts rows, checking declared keys first; one per engine (its locks are the run's)."""

    locks: dict[str, asyncio.Lock] = field(default_factory=empty_dict)

    async def insert(
        self,
        db: SetupDatabase,
        table: str,
        keys: Iterable[UniqueKey],
        row: dict[str, Any],
    ) -> dict[str, Any]:
        checked = [k for k in keys if all(row.get(c) is not None for c in k.columns)]
        if not checked:
            return await db.insert(table, row)
        async with self.locks.setdefault(table, asyncio.Lock()):
            for key in checked:
                if await db.holds(table, {c: row[c] for c in key.columns}):
                    shown = ", ".join(f"{c}={row[c]!s}" for c in key.columns)
                    raise Held(f"another row of {table} already holds {shown} ({key.name})")
            return await db.insert(table, row)


def row_values(
    spec: m.SetupRow, values: dict[str, Any], ctx: dict[str, Any], cache: dict[str, Template]
) -> dict[str, Any]:
    """A row's values: the scenario's templates rendered, generated values never (a
    generated name may be agent-hostile text such as "{{ 7*7 }}", and stays that text)."""
    return {
        col: value if is_generator(spec.values.get(col)) else render_deep(value, ctx, cache)
        for col, value in values.items()
    }
