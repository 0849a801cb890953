"""State checks and invariants: oracles on the real systems, never on the agent's account.

They run SQL against the real PostgreSQL and read keys from the real Redis after
a case, and compare what they find with what the spec says must be there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Protocol

from harness.check.registry import CheckKind, Judging, SchemaQuery, register
from harness.core import Category, CheckResult, Verdict, to_jsonable
from harness.empty import empty_dict
from harness.spec import models as m
from harness.spec.template import Template, concrete, format_value, render_deep, to_decimal

if TYPE_CHECKING:
    from harness.spec.suite import Suite

MAX_EVIDENCE_ROWS = 20


class Database(Protocol):
    """What state checks need from a database: rows as dicts for a parameterised query."""

    async def fetch(self, query: str, params: Any = None) -> list[dict[str, Any]]: ...


class KeyValue(Protocol):
    async def exists(self, key: str) -> bool: ...
    async def get(self, key: str) -> str | None: ...
    async def hgetall(self, key: str) -> dict[str, str]: ...
    async def ttl(self, key: str) -> int: ...


class SetupDatabase(Database, Protocol):
    """A database a case can also insert its own rows into."""

    async def insert(self, table: str, values: dict[str, Any]) -> dict[str, Any]: ...
    async def holds(self, table: str, values: dict[str, Any]) -> bool: ...


class SetupKeyValue(KeyValue, Protocol):
    async def setup(
        self, key: str, value: str | None, hash_: dict[str, str] | None, ttl: int | None
    ) -> None: ...


@dataclass
class Targets:
    """The real systems the harness itself reads and writes, by dependency name."""

    databases: dict[str, SetupDatabase] = field(default_factory=empty_dict)
    kv: dict[str, SetupKeyValue] = field(default_factory=empty_dict)


def values_equal(expected: Any, found: Any) -> bool:
    """Compare a value written in YAML with one read from a database, by meaning not type."""
    if expected is None or found is None:
        return expected is None and found is None
    if isinstance(found, bool) or isinstance(expected, bool):
        return format_value(expected).lower() == format_value(found).lower()
    if isinstance(found, int | float | Decimal):
        try:
            return to_decimal(expected) == to_decimal(found)
        except (ValueError, InvalidOperation):
            return False
    if isinstance(found, dt.datetime | dt.date):
        if isinstance(expected, dt.datetime) or (
            isinstance(expected, dt.date) and not isinstance(found, dt.datetime)
        ):
            return bool(expected == found)
        # a day (a date, or its text) matches any moment of that day, as the text always did
        return (
            format_value(found).startswith(format_value(expected))
            and len(format_value(expected)) >= 10
        )
    if isinstance(found, dict | list):
        return bool(to_jsonable(expected) == to_jsonable(found))
    return format_value(expected) == format_value(found)


def _row_matches(expected: Mapping[str, Any], row: Mapping[str, Any]) -> bool:
    return all(k in row and values_equal(v, row[k]) for k, v in expected.items())


def compare_rows(
    expected: list[dict[str, Any]], found: list[dict[str, Any]], ordered: bool
) -> str | None:
    """None when found holds exactly the expected rows (on the expected columns)."""
    if ordered:
        for i, (e, f) in enumerate(zip(expected, found, strict=False)):
            if not _row_matches(e, f):
                return f"row {i + 1} differs"
        if len(expected) != len(found):
            return f"expected {len(expected)} row(s), found {len(found)}"
        return None
    fits = [[j for j, f in enumerate(found) if _row_matches(e, f)] for e in expected]
    for e, options in zip(expected, fits, strict=True):
        if not options:
            missing = ", ".join(f"{k}={format_value(v)}" for k, v in e.items())
            if not found:
                return f"no row with {missing}: the query found no rows at all"
            return f"no row with {missing} among the {len(found)} row(s) the query found"
    pairs = _pairing(fits)
    if len(pairs) < len(expected):  # every row fits one, but not each its own
        left = [expected[i] for i in range(len(expected)) if i not in pairs]
        missing = ", ".join(f"{k}={format_value(v)}" for k, v in left[0].items())
        return f"no row with {missing} among the {len(found)} row(s) the query found"
    if len(found) > len(expected):
        extra = len(found) - len(expected)
        return f"expected {len(expected)} row(s), found {len(found)}: {extra} unexpected"
    return None


def _pairing(fits: list[list[int]]) -> dict[int, int]:
    """A largest matching of expected rows to found rows (augmenting paths, Kuhn's method):
    a row that fits several must not take the one a more specific expected row needs."""
    owner: dict[int, int] = {}  # found row -> expected row

    def take(i: int, seen: set[int]) -> bool:
        for j in fits[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or take(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(fits)):
        take(i, set())
    return {i: j for j, i in owner.items()}


def _result(
    check: m.CheckBase | m.Invariant,
    cid: str,
    category: str,
    verdict: Verdict,
    message: str,
    expected: Any,
    found: Any,
) -> CheckResult:
    return CheckResult(
        check_id=cid,
        check_type=getattr(check, "type", "invariant"),
        category=category,
        requirements=tuple(check.requirements),
        verdict=verdict,
        message=message,
        expected=to_jsonable(expected),
        found=to_jsonable(found),
    )


async def evaluate_sql(
    check: m.SqlCheck,
    cid: str,
    db: Database,
    context: Mapping[str, Any],
    cache: dict[str, Template],
) -> CheckResult:
    query = render_deep(check.query, {"params": context["params"]}, cache)
    rows = await db.fetch(query, _params(check, context, cache))
    shown = rows[:MAX_EVIDENCE_ROWS]
    if check.expect_rows is not None:
        expected = render_deep(check.expect_rows, context, cache)
        problem = compare_rows(expected, rows, check.ordered)
        verdict = Verdict.FAIL if problem else Verdict.PASS
        return _result(check, cid, "state", verdict, problem or "", expected, shown)
    if check.expect_count is not None:
        want = int(to_decimal(render_deep(check.expect_count, context, cache)))
        ok = len(rows) == want
        message = "" if ok else f"expected {want} row(s), found {len(rows)}"
        return _result(
            check, cid, "state", Verdict.PASS if ok else Verdict.FAIL, message, want, shown
        )
    if check.expect_empty is not None:
        ok = (len(rows) == 0) == check.expect_empty
        want_text = "no rows" if check.expect_empty else "at least one row"
        message = "" if ok else f"expected {want_text}, found {len(rows)}"
        return _result(
            check, cid, "state", Verdict.PASS if ok else Verdict.FAIL, message, want_text, shown
        )
    want = render_deep(check.expect_value, context, cache)
    got = next(iter(rows[0].values()), None) if rows else None
    ok = values_equal(want, got)
    message = (
        ""
        if ok
        else f"expected {format_value(want)!r}, found {format_value(got)!r}"
        + (" (no rows)" if not rows else "")
    )
    return _result(check, cid, "state", Verdict.PASS if ok else Verdict.FAIL, message, want, got)


async def evaluate_redis(
    check: m.RedisCheck,
    cid: str,
    kv: KeyValue,
    context: Mapping[str, Any],
    cache: dict[str, Template],
) -> CheckResult:
    key = format_value(render_deep(check.key, context, cache))
    expected: dict[str, Any] = {"key": key}
    found: dict[str, Any] = {"key": key}
    problems: list[str] = []
    exists = await kv.exists(key)
    found["exists"] = exists
    if check.exists is not None:
        expected["exists"] = check.exists
        if exists != check.exists:
            problems.append(f"key {'is missing' if check.exists else 'exists'}")
    if check.value is not None:
        want = format_value(render_deep(check.value, context, cache))
        got = await kv.get(key)
        expected["value"], found["value"] = want, got
        if got != want:
            problems.append(f"value is {got!r}, expected {want!r}")
    if check.hash is not None:
        want_hash = {k: format_value(v) for k, v in render_deep(check.hash, context, cache).items()}
        got_hash = await kv.hgetall(key)
        expected["hash"], found["hash"] = want_hash, got_hash
        for field, value in want_hash.items():
            if got_hash.get(field) != value:
                problems.append(
                    f"hash field {field} is {got_hash.get(field)!r}, expected {value!r}"
                )
    if check.ttl_min is not None or check.ttl_max is not None:
        ttl = await kv.ttl(key)
        found["ttl"] = ttl
        lo = (
            int(to_decimal(render_deep(check.ttl_min, context, cache)))
            if check.ttl_min is not None
            else None
        )
        hi = (
            int(to_decimal(render_deep(check.ttl_max, context, cache)))
            if check.ttl_max is not None
            else None
        )
        expected["ttl"] = {"min": lo, "max": hi}
        if ttl < 0:
            problems.append("key has no expiry" if ttl == -1 else "key does not exist")
        elif (lo is not None and ttl < lo) or (hi is not None and ttl > hi):
            problems.append(f"ttl {ttl}s outside [{lo}, {hi}]")
    verdict = Verdict.FAIL if problems else Verdict.PASS
    return _result(check, cid, "state", verdict, "; ".join(problems), expected, found)


def _row_key(row: Mapping[str, Any]) -> str:
    return repr(sorted((k, format_value(v)) for k, v in to_jsonable(dict(row)).items()))


def same_state(
    check: m.SameStateCheck, cid: str, states: list[list[dict[str, Any]]], obs: Any
) -> CheckResult:
    """Metamorphic verdict: every rewording left the same rows as the scenario's own turns."""
    base = sorted(_row_key(r) for r in states[0]) if states else []
    texts = [[t.text for t in obs.turns], *([t.text for t in v.turns] for v in obs.variants)]
    found = [
        {
            "variant": k,
            "turns": texts[k] if k < len(texts) else [],
            "rows": rows[:MAX_EVIDENCE_ROWS],
        }
        for k, rows in enumerate(states)
    ]
    differing = [k for k, rows in enumerate(states) if sorted(_row_key(r) for r in rows) != base]
    if not differing:
        return _result(check, cid, "state", Verdict.PASS, "", states[0] if states else [], found)
    counts = ", ".join(str(len(states[k])) for k in differing)
    message = (
        f"variant(s) {', '.join(map(str, differing))} left different rows than the scenario's "
        f"own wording ({len(states[0])} row(s) vs {counts})"
    )
    return _result(check, cid, "state", Verdict.FAIL, message, states[0], found)


async def evaluate_invariant(
    inv: m.Invariant, query: str, db: Database, params: list[Any] | None
) -> CheckResult:
    rows = await db.fetch(query, params)
    if not rows:
        return _result(inv, inv.id, "invariant", Verdict.PASS, "", "no violating rows", [])
    message = f"{len(rows)} violating row(s): {inv.description}"
    return _result(
        inv,
        inv.id,
        "invariant",
        Verdict.FAIL,
        message,
        "no violating rows",
        rows[:MAX_EVIDENCE_ROWS],
    )


# --------------------------------------------------------------------------- registration


def _database(suite: Suite, targets: Targets, name: str | None) -> SetupDatabase:
    return targets.databases[suite.database_for(name, "postgres")]


async def _judge_sql(check: m.SqlCheck, cid: str, j: Judging) -> CheckResult:
    db = _database(j.suite, j.targets, check.database)
    return await evaluate_sql(check, cid, db, j.context, j.cache)


async def _judge_redis(check: m.RedisCheck, cid: str, j: Judging) -> CheckResult:
    kv = j.targets.kv[j.suite.database_for(check.database, "redis")]
    return await evaluate_redis(check, cid, kv, j.context, j.cache)


async def _judge_same_state(check: m.SameStateCheck, cid: str, j: Judging) -> CheckResult:
    return same_state(check, cid, j.observed.get(cid, []), j.observation)


async def _rows_now(
    check: m.SameStateCheck,
    suite: Suite,
    targets: Targets,
    context: Mapping[str, Any],
    cache: dict[str, Template],
) -> list[dict[str, Any]]:
    """The rows a same_state query sees now (after the turns, or after a variant)."""
    db = _database(suite, targets, check.database)
    query = render_deep(check.query, {"params": context["params"]}, cache)
    return await db.fetch(query, _params(check, context, cache))


def _params(
    check: m.SqlCheck | m.SameStateCheck, context: Mapping[str, Any], cache: dict[str, Template]
) -> Any:
    """A query's parameters for the database: rendered, a relative date as the day it means."""
    return concrete(render_deep(check.params, context, cache))


def _query(check: m.SqlCheck | m.SameStateCheck) -> SchemaQuery:
    return SchemaQuery(check.database, check.query, check.params)


register(CheckKind(("sql",), Category.STATE, _judge_sql, schema_query=_query))
register(CheckKind(("redis",), Category.STATE, _judge_redis))
register(
    CheckKind(
        ("same_state",), Category.STATE, _judge_same_state, observe=_rows_now, schema_query=_query
    )
)
