"""The suite checked against the real schema once it is loaded, before the agent starts.

Setup tables and columns, `{{ row.column }}` references and every check's and
invariant's SQL are tried on the real database (queries with `limit 0` inside a
rolled-back transaction), so a misspelled column is a configuration error
(exit 2) rather than a wall of error verdicts that reads like divergences.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from typing import Any

from harness.check.registry import kind_of
from harness.check.state import SetupDatabase
from harness.generate.identity import Identity
from harness.run.sqlerrors import QueryError, result_columns
from harness.spec import models as m
from harness.spec.loader import PathKey, did_you_mean, format_loc, load_yaml
from harness.spec.positions import problem_at, strings, template_offset, value_at
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


async def check_against_schema(suite: Suite, databases: dict[str, SetupDatabase]) -> list[str]:
    """Every way the suite does not fit the loaded schema, each `path:line:col: key: message`
    (the line and column of the very token the database refused, when it says which)."""
    problems: list[str] = []
    columns = {name: await schema_columns(db) for name, db in databases.items()}
    cache: dict[str, Template] = {}
    params = {"params": suite.params}
    for scenario in suite.scenarios:
        at = Where(suite, scenario)
        tables: dict[str, set[str]] = {}
        for entity, row in scenario.setup.items():
            db_name = suite.database_for(row.database, "postgres")
            known = columns.get(db_name, {})
            loc = ("setup", entity)
            if row.table not in known:
                problems.append(
                    at.problem(
                        (*loc, "table"),
                        f"table {row.table!r} does not exist{did_you_mean(row.table, known)}",
                    )
                )
                continue
            tables[entity] = known[row.table]
            for col in row.values:
                if col not in known[row.table]:
                    problems.append(
                        at.problem(
                            (*loc, "values", col),
                            f"table {row.table} has no column {col!r}"
                            f"{did_you_mean(col, known[row.table])}",
                            key=True,
                        )
                    )
        problems += _references(scenario, tables, at)
        for i, check in enumerate(scenario.checks):
            hook = kind_of(check).schema_query
            sql = hook(check) if hook is not None else None
            if sql is not None:
                db = databases[suite.database_for(sql.database, "postgres")]
                found = await result_columns(db, render_deep(sql.query, params, cache), sql.params)
                cid = suite.check_id(scenario, i)
                if isinstance(found, QueryError):
                    problems.append(
                        at.query(
                            ("checks", i, "query"),
                            f"check {cid}: {found.message}",
                            found.offset,
                            params,
                        )
                    )
                    continue
                for r, row in enumerate(getattr(check, "expect_rows", None) or []):
                    problems += [
                        at.problem(
                            ("checks", i, "expect_rows", r, col),
                            f"check {cid}: {_not_returned(col, found)}",
                            key=True,
                        )
                        for col in row
                        if col not in found
                    ]
    problems += _declared_unique(suite, columns)
    for k, inv in enumerate(suite.invariants):
        db = databases[suite.database_for(inv.database, "postgres")]
        found = await result_columns(db, render_deep(inv.query, params, cache), [])
        source = suite.located.invariants
        if isinstance(found, QueryError):
            message = f"invariant {inv.id}: {found.message}"
            if source is None:
                problems.append(f"invariants.yaml: {message}")
                continue
            offset = _in_template(inv.query, params, found.offset)
            problems.append(str(problem_at(source, ("invariants", k, "query"), message, offset)))
            continue
        for col in (c for c in inv.scope or {} if c not in found):  # scope names its columns
            message = f"invariant {inv.id}: scope: {_not_returned(col, found)}"
            scope_key = ("invariants", k, "scope", col)
            problems.append(
                f"invariants.yaml: {message}"
                if source is None
                else str(source.problem(scope_key, message, key=True))
            )
    return problems


def _not_returned(column: str, returned: list[str]) -> str:
    return (
        f"the query returns no column {column!r}{did_you_mean(column, returned)}; it returns "
        f"{', '.join(returned) or 'no columns'}"
    )


class Where:
    """Problems of one scenario placed in its file (or named by the scenario, if unknown)."""

    def __init__(self, suite: Suite, scenario: m.Scenario) -> None:
        self.scenario = scenario
        self.found = suite.located.scenario(scenario.id)
        self.path = suite.scenario_sources.get(scenario.id, "")

    def problem(
        self, loc: PathKey, message: str, *, key: bool = False, offset: int | None = None
    ) -> str:
        if self.found is None:
            return f"{self.path}: scenario {self.scenario.id}: {format_loc(loc)}: {message}"
        source, base = self.found
        if offset is not None:
            return str(problem_at(source, (*base, *loc), message, offset))
        return str(source.problem((*base, *loc), message, key=key))

    def query(self, loc: PathKey, message: str, offset: int | None, context: dict[str, Any]) -> str:
        """At the query's character the database pointed at, through its templates."""
        if self.found is None or offset is None:
            return self.problem(loc, message)
        source, base = self.found
        template = value_at(source.data, (*base, *loc))
        if not isinstance(template, str):
            return self.problem(loc[:-1], message)
        return self.problem(loc, message, offset=_in_template(template, context, offset))


def _in_template(template: str, context: dict[str, Any], offset: int | None) -> int | None:
    return None if offset is None else template_offset(template, context, offset)


def _references(scenario: m.Scenario, tables: dict[str, set[str]], at: Where) -> list[str]:
    """`{{ entity.column }}` must name a column of the entity's table."""
    if at.found is None:
        return []
    source, base = at.found
    problems = []
    for loc, text in strings(value_at(source.data, base), ()):
        if "{{" not in text or (loc[0] == "checks" and loc[2:] == ("query",)):
            continue  # a check's query uses params only (its rows come through `params`)
        try:
            template = Template(text)
        except TemplateError:
            continue  # reported by the loader already
        for path in template.paths():
            if len(path) > 1 and path[0] in tables and path[1] not in tables[path[0]]:
                name = "{{ " + ".".join(path) + " }}"
                used = re.search(r"\{\{[^}]*?\b" + re.escape(".".join(path)), text)
                offset = used.end() - len(".".join(path)) if used else None
                problems.append(
                    at.problem(
                        loc,
                        f"{name}: the {path[0]} row has no column {path[1]!r}"
                        f"{did_you_mean(path[1], tables[path[0]])}",
                        offset=offset,
                    )
                )
    return sorted(set(problems))


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


def _scenario_at(suite: Suite, scenario_id: str, *loc: str) -> str:
    """path:line:col: key of a value of a scenario (its file alone when it is not located)."""
    home = suite.located.scenario(scenario_id)
    if home is None:
        return f"{suite.scenario_sources.get(scenario_id, '')}: {'.'.join(loc)}"
    source, at = home[0], (*home[1], *loc)
    line, col = source.where(at)
    return f"{source.display}:{line}:{col}: {format_loc(at)}"


def fixed_unique_values(suite: Suite, identity: Identity) -> list[str]:
    """Unique keys of setup rows that no drawn value reaches (every trial and variant inserts
    the same values, which the schema refuses or an agent cannot tell apart), and keys made
    unique only by drawing a value the case searches (a pool's hard name): said before a run."""
    notes = []
    for scenario in suite.scenarios:
        plan = identity.plan(scenario)
        at = functools.partial(_scenario_at, suite, scenario.id)
        for entity, key in plan.fixed:
            table = scenario.setup[entity].table
            cols = ", ".join(key.columns)
            notes.append(
                f"{at('setup', entity, 'values', key.columns[0])}: scenario {scenario.id}: "
                f"{table}.{cols} must be unique, but its value is fixed: a second trial or a "
                "variant inserts it again; give it a generator ({faker: ...}, {sequence: ...})"
            )
        for entity, key, searched in plan.replaced:
            table = scenario.setup[entity].table
            names = ", ".join(f"{a}.{b}" for a, b in searched)
            notes.append(
                f"{at('setup', entity)}: scenario {scenario.id}: {table} "
                f"({', '.join(key.columns)}) must be unique and only {names} can make it so: "
                "every later trial and variant draws another of its values, so trials do not "
                "repeat the same input; give a column of the key an ordinary generator "
                "({faker: ...}, {days_ago: ...}) to keep it"
            )
    return notes
