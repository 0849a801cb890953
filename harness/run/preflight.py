"""The suite checked against the real schema once it is loaded, before the agent starts.

Setup tables and columns, `{{ row.column }}` references and every check's and
invariant's SQL are tried on the real database (queries with `limit 0` inside a
rolled-back transaction), so a misspelled column is a configuration error
(exit 2) rather than a wall of error verdicts that reads like divergences.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from harness.check.registry import kind_of
from harness.check.state import SetupDatabase
from harness.generate.identity import Identity, vars_read
from harness.generate.values import is_generator
from harness.spec import models as m
from harness.spec.loader import did_you_mean, format_loc, load_yaml
from harness.spec.suite import SUITE_FILE, Suite
from harness.spec.template import Template, TemplateError, render_deep

COLUMNS = """
select table_name, column_name from information_schema.columns
where table_schema = any(current_schemas(false))
"""


async def schema_columns(db: SetupDatabase) -> dict[str, set[str]]:
    tables: dict[str, set[str]] = defaultdict(set)
    for row in await db.fetch(COLUMNS):
        tables[row["table_name"]].add(row["column_name"])
    return tables


async def _query_problem(db: SetupDatabase, query: str, params: Any) -> str | None:
    count = len(params) if isinstance(params, list) else 0
    args: Any = [None] * count if isinstance(params, list) else {k: None for k in params}
    probe = f"select * from ({query.rstrip().rstrip(';')}) as _probe limit 0"
    try:
        await db.fetch(probe, args or None)
    except Exception as exc:
        return str(exc).strip().splitlines()[0]
    return None


async def check_against_schema(suite: Suite, databases: dict[str, SetupDatabase]) -> list[str]:
    problems: list[str] = []
    columns = {name: await schema_columns(db) for name, db in databases.items()}
    cache: dict[str, Template] = {}
    params = {"params": suite.params}
    for scenario in suite.scenarios:
        where = f"{suite.scenario_sources.get(scenario.id, '')}: scenario {scenario.id}"
        tables: dict[str, set[str]] = {}
        for entity, row in scenario.setup.items():
            db_name = suite.database_for(row.database, "postgres")
            known = columns.get(db_name, {})
            if row.table not in known:
                problems.append(
                    f"{where}: setup.{entity}: table {row.table!r} does not exist"
                    f"{did_you_mean(row.table, known)}"
                )
                continue
            tables[entity] = known[row.table]
            for col in row.values:
                if col not in known[row.table]:
                    problems.append(
                        f"{where}: setup.{entity}.values.{col}: table {row.table} has no column "
                        f"{col!r}{did_you_mean(col, known[row.table])}"
                    )
        problems += _references(scenario, tables, where)
        for i, check in enumerate(scenario.checks):
            hook = kind_of(check).schema_query
            sql = hook(check) if hook is not None else None
            if sql is not None:
                db = databases[suite.database_for(sql.database, "postgres")]
                query = render_deep(sql.query, params, cache)
                problem = await _query_problem(db, query, sql.params)
                if problem:
                    problems.append(f"{where}: check {suite.check_id(scenario, i)}: {problem}")
    problems += _declared_unique(suite, columns)
    for inv in suite.invariants:
        db = databases[suite.database_for(inv.database, "postgres")]
        problem = await _query_problem(db, render_deep(inv.query, params, cache), [])
        if problem:
            problems.append(f"invariants.yaml: invariant {inv.id}: {problem}")
    return problems


def _references(scenario: m.Scenario, tables: dict[str, set[str]], where: str) -> list[str]:
    """`{{ entity.column }}` must name a column of the entity's table."""
    texts: list[str] = [*_strings([_dump(t) for t in scenario.turns])]
    texts += [t for v in scenario.variants for t in v]
    for row in scenario.setup.values():
        texts += [v for v in row.values.values() if isinstance(v, str)]
    for check in scenario.checks:
        texts += _strings(check.model_dump(exclude={"query"}))
    problems = []
    for text in texts:
        try:
            template = Template(text)
        except TemplateError:
            continue  # reported by the loader already
        for path in template.paths():
            if len(path) > 1 and path[0] in tables and path[1] not in tables[path[0]]:
                problems.append(
                    f"{where}: {{{{ {'.'.join(path)} }}}}: the {path[0]} row has no column "
                    f"{path[1]!r}{did_you_mean(path[1], tables[path[0]])}"
                )
    return sorted(set(problems))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if "{{" in value else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _dump(value: Any) -> Any:
    return value.model_dump(exclude_unset=True) if hasattr(value, "model_dump") else value


def _declared_unique(suite: Suite, columns: dict[str, dict[str, set[str]]]) -> list[str]:
    """A `unique:` must name tables and columns of the real schema."""
    problems: list[str] = []
    for name, dep in suite.manifest.environment.dependencies.items():
        if not isinstance(dep, m.PostgresDependency) or name not in columns:
            continue
        known = columns[name]
        for table, entries in dep.unique.items():
            loc: tuple[str | int, ...] = ("environment", "dependencies", name, "unique", table)
            if table not in known:
                where = _where(suite, loc, key=True)
                problems.append(
                    f"{where}: table {table!r} does not exist{did_you_mean(table, known)}"
                )
                continue
            for i, entry in enumerate(entries):
                cols = [entry] if isinstance(entry, str) else entry
                for j, col in enumerate(cols):
                    if col not in known[table]:
                        at = (*loc, i) if isinstance(entry, str) else (*loc, i, j)
                        problems.append(
                            f"{_where(suite, at)}: table {table} has no column {col!r}"
                            f"{did_you_mean(col, known[table])}"
                        )
    return problems


def _where(suite: Suite, loc: tuple[str | int, ...], *, key: bool = False) -> str:
    """path:line:col: key of a suite.yaml value: this suite's, else the one it extends."""
    homes = [suite.root]
    if suite.manifest.extends:
        homes.append((suite.root / suite.manifest.extends).resolve())
    for home in homes:
        source, _ = load_yaml(home / SUITE_FILE)
        if source is not None and (loc in source.values or loc in source.keys):
            line, col = source.where(loc, key=key)
            return f"{source.display}:{line}:{col}: {format_loc(loc)}"
    return f"{SUITE_FILE}: {format_loc(loc)}"


def fixed_unique_values(suite: Suite, identity: Identity) -> list[str]:
    """Setup values a unique key holds that no generator draws: every trial and variant
    inserts the same one, which the schema refuses (or an agent cannot tell apart)."""
    notes = []
    for scenario in suite.scenarios:
        fresh = set(identity.fresh_vars(scenario))
        for entity, row in scenario.setup.items():
            for col in sorted(identity.unique_columns(scenario, entity)):
                spec = row.values[col]
                if is_generator(spec) or (vars_read(spec) & fresh):
                    continue
                notes.append(
                    f"{suite.scenario_sources.get(scenario.id, '')}: scenario {scenario.id}: "
                    f"setup.{entity}.values.{col}: {row.table}.{col} must be unique, but its "
                    "value is fixed: a second trial or a variant inserts it again; give it a "
                    "generator ({faker: ...}, {sequence: ...})"
                )
    return notes
