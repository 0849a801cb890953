"""Schema and realistic seed data loaded into a fresh database, whatever the provider."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from harness.deps.catalog import declared_keys, merged, unique_keys
from harness.deps.clients import Postgres
from harness.errors import DependencyError
from harness.generate.values import ValueGenerator, derive_seed
from harness.spec.models import PostgresDependency, RefGen
from harness.spec.template import concrete

UNIQUE_DRAWS = 50  # draws a seed value of a unique column gets to be new in its table


async def load_postgres(
    db: Postgres, dep: PostgresDependency, root: Path, params: dict[str, Any], name: str
) -> float:
    """Run the schema files, then generate and COPY the seed tables; return seconds taken."""
    started = time.perf_counter()
    for schema in dep.schema_files:
        path = root / schema
        try:
            await db.script(path.read_text(encoding="utf-8"))
        except Exception as exc:
            exists = "already exists" in str(exc)
            raise DependencyError(
                f"loading schema {path} into {name} failed: {exc}",
                hint=(
                    f"{name} is not a fresh database: its objects are there from an earlier "
                    "load. The schema files run as written and the harness drops nothing; "
                    "give it a fresh database (an external target needs one per run)"
                    if exists
                    else "run the file with psql on a scratch database to see which statement fails"
                ),
            ) from exc
    if dep.seed is not None:
        await _seed(db, dep, params, name)
    return time.perf_counter() - started


async def _seed(db: Postgres, dep: PostgresDependency, params: dict[str, Any], name: str) -> None:
    assert dep.seed is not None
    refs: dict[str, list[Any]] = {}
    keys = merged(await unique_keys(db), declared_keys(dep))

    async def ref_values(ref: str) -> list[Any]:
        if ref not in refs:
            table, column = ref.split(".")
            rows = await db.fetch(f'select "{column}" as v from "{table}"')
            refs[ref] = [r["v"] for r in rows]
            if not refs[ref]:
                raise DependencyError(f"seed data refers to {ref}, but {table} has no rows yet")
        return refs[ref]

    for table in dep.seed.tables:
        gen = ValueGenerator(derive_seed(dep.seed.seed, table.table), dep.seed.locales)
        pick = random.Random(derive_seed(dep.seed.seed, table.table, "refs"))
        needed = {
            spec.ref: await ref_values(spec.ref)
            for spec in table.columns.values()
            if isinstance(spec, RefGen)
        }

        def choose(
            ref: str, pick: random.Random = pick, needed: dict[str, list[Any]] = needed
        ) -> Any:
            return pick.choice(needed[ref])

        context = {"params": params}
        unique = {c for key in keys.get(table.table, ()) for c in key.columns}
        taken: dict[str, set[str]] = {c: set() for c in table.columns if c in unique}
        rows = []
        for n in range(table.count):
            row = []
            for col, spec in table.columns.items():
                value = concrete(gen.value(spec, context, n=n + 1, ref=choose))
                if col in taken:  # a unique column: drawn again until it is new in the table
                    for _ in range(UNIQUE_DRAWS):
                        if str(value).casefold() not in taken[col]:
                            break
                        value = concrete(gen.value(spec, context, n=n + 1, ref=choose))
                    taken[col].add(str(value).casefold())
                row.append(value)
            rows.append(row)
        columns = list(table.columns)
        try:
            await db.copy_rows(table.table, columns, rows)
        except Exception as exc:
            raise DependencyError(
                f"seeding {table.table} in {name} failed: {exc}",
                hint="check the seed's columns against the schema in suite.yaml",
            ) from exc
        refs = {k: v for k, v in refs.items() if not k.startswith(f"{table.table}.")}
