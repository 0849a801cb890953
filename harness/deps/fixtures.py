"""Schema and realistic seed data loaded into a fresh database, whatever the provider."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path
from typing import Any

from harness.deps.catalog import declared_keys, merged, unique_keys
from harness.deps.clients import Postgres
from harness.errors import ConfigError, DependencyError, Problem
from harness.generate.values import ValueGenerator, derive_seed
from harness.spec.loader import display_path
from harness.spec.models import PostgresDependency, RefGen
from harness.spec.template import concrete

UNIQUE_DRAWS = 50  # draws a seed value of a unique column gets to be new in its table


async def load_postgres(
    db: Postgres,
    dep: PostgresDependency,
    root: Path,
    params: dict[str, Any],
    name: str,
    *,
    fresh: bool = True,
) -> float:
    """Run the schema files, then generate and COPY the seed tables; return seconds taken.
    A schema file the database refuses is the suite's mistake (exit 2, at its line and column),
    unless the database was not fresh (an external target loaded before: exit 3)."""
    started = time.perf_counter()
    for schema in dep.schema_files:
        path = root / schema
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problem = Problem(display_path(path), 1, 1, "", f"cannot read the schema file: {exc}")
            raise ConfigError([problem]) from exc
        try:
            await db.script(text)
        except Exception as exc:
            state = str(getattr(exc, "sqlstate", None) or "")
            if state in _ALREADY_EXISTS and not fresh:
                raise DependencyError(
                    f"loading schema {path} into {name} failed: {exc}",
                    hint=(
                        f"{name} is not a fresh database: its objects are there from an earlier "
                        "load. The schema files run as written and the harness drops nothing; "
                        "give it a fresh database (an external target needs one per run)"
                    ),
                ) from exc
            if not state or state[:2] in _SERVER_FAULTS:  # the server, not the file
                raise DependencyError(
                    f"loading schema {path} into {name} failed: {exc}",
                    hint="the database failed while loading it; see its message",
                ) from exc
            index, exc = await _failure_at(db, text, exc)
            raise schema_error(path, text, exc, name, index) from exc
    if dep.seed is not None:
        await _seed(db, dep, params, name)
    return time.perf_counter() - started


#: PostgreSQL's "already exists" errors (duplicate table, object, schema, function, database)
_ALREADY_EXISTS = {"42P07", "42710", "42P06", "42723", "42P04"}
#: classes of SQLSTATE that are the server's trouble, not the statement's: connection,
#: resources, operator intervention, system and internal errors
_SERVER_FAULTS = {"08", "53", "57", "58", "XX"}


def schema_error(
    path: Path, text: str, exc: Exception, name: str, index: int | None
) -> ConfigError:
    """The database's refusal of a schema file, at the line and column of character `index`."""
    lines = str(exc).strip().splitlines()
    message = lines[0] if lines else type(exc).__name__
    line = col = 1
    if index is not None:
        index = max(0, min(index, len(text)))
        line = text.count("\n", 0, index) + 1
        col = index - (text.rfind("\n", 0, index) + 1) + 1
    return ConfigError(
        [Problem(display_path(path), line, col, "", f"{name} refused the schema file: {message}")],
        hint="the schema files run as written, in order, on a fresh database before anything "
        "else; fix the statement there (psql -v ON_ERROR_STOP=1 -f FILE on a scratch database "
        "shows the same); no agent was started",
    )


async def _failure_at(db: Postgres, text: str, exc: Exception) -> tuple[int | None, Exception]:
    """Where in the file the database stopped: its own position when it gives one, else the
    statement it refuses when the file's statements run one by one (and then rolled back)."""
    position = _position(exc)
    if position is not None:
        return position - 1, exc
    import sqlparse  # only for a schema file that failed without a position

    statements, starts, at = [], [], 0
    for statement in sqlparse.split(text):
        start = text.find(statement, at)
        if start < 0:
            return None, exc
        statements.append(statement)
        starts.append(start)
        at = start + len(statement)
    try:
        found = await db.first_failure(statements)
    except Exception:
        return None, exc  # the database went away meanwhile: the file, unplaced
    if found is None:
        return None, exc
    i, refusal = found
    inner = _position(refusal)
    if inner is not None:
        return starts[i] + inner - 1, refusal
    return starts[i] + _COMMENTS.match(statements[i]).end(), refusal  # type: ignore[union-attr]


#: what precedes a statement's first word: white space and `--` comments
_COMMENTS = re.compile(r"(?:\s+|--[^\n]*)*")


def _position(exc: Exception) -> int | None:
    """The 1-based character PostgreSQL's error points at, if it says."""
    raw = getattr(getattr(exc, "diag", None), "statement_position", None)
    return int(raw) if raw and str(raw).isdigit() else None


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
