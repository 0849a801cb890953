"""Per-trial identity: what must be unique in setup rows is drawn afresh for every trial and
every variant, while the case's inputs stay what they are.

A case's inputs (its vars and setup values as planned) are its identity: replay, a hunt's
de-duplication and pass^k all key on them. But a second trial that inserts the same
customer reference or email as the first hits the schema's unique constraint, and a second
patient with the same name makes an agent that looks people up by name see two. So trial 1
of the case itself uses its inputs, and every other trial and every metamorphic variant
(a *slot*: (trial, variant)) re-draws, from the column's own generator, each value the
schema (or the suite's `unique:`) says must be unique, and each var such a column is
written from (`email: "{{ vars.email }}"`), so the turns that say it say the fresh value.

The rule is a pure function of (case, slot): a replay of (suite, seed, case id, trial)
inserts the same values. Within a case every slot's value differs from the inputs and from
every earlier slot's (drawn again, deterministically, until it does); a clash with a row
some other case or the seed data holds is the database's to find, and the engine draws
again with `attempt` (the run records the row it inserted).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.core import Case
from harness.generate.spaces import is_hard
from harness.generate.values import ValueGenerator, derive_seed, is_generator
from harness.spec.models import ChoiceGen, Scenario, SequenceGen
from harness.spec.order import order, paths
from harness.spec.template import render_deep

#: how often a value is drawn again until it differs from the case's other slots
DRAWS = 25
UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE for a duplicate key


@dataclass(frozen=True, slots=True)
class UniqueKey:
    """Columns whose values must not repeat in a table: a unique constraint or index of the
    real schema (its name), or a `unique:` the suite declares (enforced by nobody)."""

    name: str
    columns: tuple[str, ...]
    declared: bool = False


#: table -> its unique keys, for one database
TableKeys = Mapping[str, Iterable[UniqueKey]]


@dataclass(frozen=True, slots=True)
class Slot:
    """What one trial (or variant) of a case inserts and says: vars and setup values."""

    vars: dict[str, Any]
    setup: dict[str, dict[str, Any]]


Node = tuple[str, str]  # ("vars", name) or (row, column), as spec/order.py names them


@dataclass(frozen=True, slots=True)
class Plan:
    """What a scenario draws afresh for each slot, decided once from its unique keys."""

    drawn: dict[Node, frozenset[str]]  # node -> the rows whose keys it makes unique
    changeable: dict[str, frozenset[str]]  # row -> names of the keys a draw can change
    fixed: tuple[tuple[str, UniqueKey], ...]  # (row, key) nothing drawn can change
    replaced: tuple[tuple[str, UniqueKey, tuple[Node, ...]], ...]  # searched inputs drawn


class Identity:
    """Which values of each scenario must be fresh per slot, and their fresh values."""

    def __init__(
        self,
        keys: Mapping[str, TableKeys],
        database_for: Any,
        params: Mapping[str, Any],
        kinds: Mapping[str, str | None] | None = None,
    ) -> None:
        """`keys`: database name -> table -> unique keys; `database_for(name, kind)` names a
        setup row's database (the suite's rule)."""
        self.keys = keys
        self.database_for = database_for
        self.params = params
        self.kinds = kinds or {}
        self._plans: dict[str, Plan] = {}

    def unique_columns(self, scenario: Scenario, entity: str) -> frozenset[str]:
        """The columns of a setup row drawn afresh for its keys (generators of its own)."""
        return frozenset(c for (row, c) in self.plan(scenario).drawn if row == entity)

    def fresh_vars(self, scenario: Scenario) -> tuple[str, ...]:
        """The vars drawn afresh because a unique column is made from them, in declared order."""
        drawn = self.plan(scenario).drawn
        return tuple(n for n in scenario.vars if ("vars", n) in drawn)

    def plan(self, scenario: Scenario) -> Plan:
        """Per key of each setup row: its ordinary generated columns (faker, sequence, dates)
        are drawn afresh, so the values a case searches (a hard name from a pool, a trap, a
        choice) stay its inputs; a key with none is made unique through what its columns are
        made from (the generator vars at the root of their templates), and a key nothing
        drawn reaches is `fixed` (warned of before the run)."""
        found = self._plans.get(scenario.id)
        if found is not None:
            return found
        drawn: dict[Node, set[str]] = {}
        changeable: dict[str, set[str]] = {}
        fixed: list[tuple[str, UniqueKey]] = []
        replaced: list[tuple[str, UniqueKey, tuple[Node, ...]]] = []
        for entity, row in scenario.setup.items():
            tables = self.keys.get(self.database_for(row.database, "postgres"), {})
            for key in tables.get(row.table, ()):
                if not all(c in row.values for c in key.columns):
                    continue  # the database fills a column of it (a serial, a default)
                own = [(entity, c) for c in key.columns if _ordinary(scenario, row.values[c])]
                roots = own or sorted(
                    {r for c in key.columns for r in self._roots(scenario, (entity, c), set())}
                )
                if not roots:
                    if not any(_assigned(scenario, (entity, c), set()) for c in key.columns):
                        fixed.append((entity, key))
                    continue  # else made of what the database assigns each insert anew
                if not own:
                    searched = tuple(
                        r for r in roots if not _ordinary(scenario, self._spec(scenario, r))
                    )
                    if searched:
                        replaced.append((entity, key, searched))
                for node in roots:
                    drawn.setdefault(node, set()).add(entity)
                changeable.setdefault(entity, set()).add(key.name)
        found = self._plans[scenario.id] = Plan(
            {n: frozenset(e) for n, e in drawn.items()},
            {e: frozenset(k) for e, k in changeable.items()},
            tuple(fixed),
            tuple(replaced),
        )
        return found

    def _roots(self, scenario: Scenario, node: Node, seen: set[Node]) -> set[Node]:
        """The generators a value is made from: itself when it reads no other value of the
        case, else the roots of the vars and setup values it reads (a literal has none)."""
        if node in seen:
            return set()
        seen.add(node)
        spec = self._spec(scenario, node)
        read = _reads(scenario, spec)
        if is_generator(spec) and not read:
            return {node}
        return {root for r in read for root in self._roots(scenario, r, seen)}

    @staticmethod
    def _spec(scenario: Scenario, node: Node) -> Any:
        owner, key = node
        return scenario.vars[key] if owner == "vars" else scenario.setup[owner].values[key]

    def slot(
        self,
        scenario: Scenario,
        case: Case,
        trial: int,
        variant: int = 0,
        attempts: Mapping[str, int] | None = None,
    ) -> Slot:
        """The values trial `trial` (and variant `variant`, 0: the case's own turns) uses;
        `attempts`: row -> how often the database found its unique values taken by a row
        that is not this case's (another case's, the seed data's), each drawn again."""
        setup = case.variant_setups[variant - 1] if variant else case.setup
        plan = self.plan(scenario)
        if not plan.drawn:  # nothing of it must be unique: every slot uses the case's values
            return Slot(case.vars, setup)
        attempts = attempts or {}
        # a drift case's every point is a conversation of its own: fresh unique values, from
        # the point's own seed (the same inputs otherwise); the point a plain run plays (the
        # shortest length, at the start) inserts the case's own values, as trial 1 does
        own = scenario.drift is None or (
            case.length == min(scenario.drift.lengths) and case.position in (None, "start")
        )
        point = "" if case.length is None or own else f"{case.length}-{case.position}"
        base = derive_seed(case.seed, "point", point) if point else case.seed
        salt = {
            node: max([attempts.get(e, 0) for e in rows])
            for node, rows in plan.drawn.items()
            if (trial, variant) != (1, 0) or point or any(attempts.get(e, 0) for e in rows)
        }
        if not salt:
            return Slot(case.vars, setup)
        slots = self._slots(case, trial, variant, bool(point))
        fresh_vars = dict(case.vars)
        rows = {entity: dict(values) for entity, values in setup.items()}
        context: dict[str, Any] = {"params": self.params, "vars": fresh_vars}
        for entity, values in rows.items():
            context[entity] = {c: v for c, v in values.items() if not _templated(v)}
        changed: set[Node] = set()
        for node in order(scenario).nodes:
            owner, key = node
            spec = self._spec(scenario, node)
            if node in salt:
                if salt[node]:
                    seed = derive_seed(base, "identity", trial, variant, *node, salt[node])
                    value = self._draw(spec, seed, context)
                else:
                    inputs = self._inputs(case, node)
                    value = self._fresh(spec, base, slots, node, inputs, context)
            elif any(tuple(p[:2]) in changed for p in paths(spec) if len(p) > 1):
                # made from a fresh value: made again from it (a var `"{{ customer.email }}"`
                # says the email this slot inserts)
                if is_generator(spec):
                    seed = derive_seed(base, "identity", trial, variant, "made", *node)
                    value = self._draw(spec, seed, context)
                elif owner == "vars":
                    value = render_deep(spec, context, {})
                else:
                    continue  # a setup template: rendered at insert time from this slot's values
            else:
                continue
            if owner == "vars":
                fresh_vars[key] = value
            elif owner in rows:
                rows[owner][key] = context[owner][key] = value
            changed.add(node)
        return Slot(fresh_vars, rows)

    def declared(self, scenario: Scenario, entity: str) -> list[UniqueKey]:
        """The suite's declared keys of a setup row that a draw can change: enforced by
        nobody, so the engine looks for a row holding their values before it inserts."""
        row = scenario.setup[entity]
        tables = self.keys.get(self.database_for(row.database, "postgres"), {})
        changeable = self.plan(scenario).changeable.get(entity, frozenset())
        return [
            k
            for k in tables.get(row.table, ())
            if k.declared and k.name in changeable and all(c in row.values for c in k.columns)
        ]

    def taken(self, scenario: Scenario, entity: str, exc: BaseException) -> bool:
        """The insert failed because a unique value of the row is already another row's,
        and drawing the case's values again can change it."""
        if getattr(exc, "sqlstate", None) != UNIQUE_VIOLATION:
            return False
        constraint = getattr(getattr(exc, "diag", None), "constraint_name", None)
        return constraint in self.plan(scenario).changeable.get(entity, frozenset())

    @staticmethod
    def _inputs(case: Case, node: Node) -> list[Any]:
        owner, key = node
        if owner == "vars":
            return [case.vars.get(key)]
        return [case.setup.get(owner, {}).get(key)] + [
            v.get(owner, {}).get(key) for v in case.variant_setups
        ]

    # -- the rule ---------------------------------------------------------------------------
    @staticmethod
    def _slots(case: Case, trial: int, variant: int, point: bool = False) -> list[tuple[int, int]]:
        """Every slot up to this one, in order: each must differ from those before it (a
        drift point's first slot too: the case's own values are another point's)."""
        variants = len(case.variant_setups)
        return [
            (t, v)
            for t in range(1, trial + 1)
            for v in range(variants + 1)
            if ((t, v) != (1, 0) or point) and (t < trial or v <= variant)
        ]

    def _fresh(
        self,
        spec: Any,
        base: int,
        order: list[tuple[int, int]],
        name: Node,
        inputs: list[Any],
        context: Mapping[str, Any],
    ) -> Any:
        taken = {_key(v) for v in inputs if v is not None}
        value: Any = None
        for trial, variant in order:
            for attempt in range(DRAWS):
                seed = derive_seed(base, "identity", trial, variant, *name, attempt)
                value = self._draw(spec, seed, context)
                if _key(value) not in taken:
                    break
            taken.add(_key(value))
        return value

    def _draw(self, spec: Any, seed: int, context: Mapping[str, Any]) -> Any:
        gen = ValueGenerator(seed, kinds=self.kinds)
        return gen.value(spec, context, n=fresh_number(spec, seed))


#: the base of a format spec's type: `{n:05x}` counts in hex, `{n:05d}` and `{n:5}` in tens
_BASES = {"b": 2, "o": 8, "x": 16, "X": 16}
_WIDTH = re.compile(r"^(?:.?[<>=^])?[-+ ]?z?#?0?(\d+)[,_]?(?:\.\d+)?([bdoxXn]?)$")


def fresh_number(spec: Any, seed: int) -> int:
    """A sequence's number for a fresh draw: one of its own per draw, not the case's index,
    with no more digits than its pattern's width (`SHW-{n:05d}` stays five digits: the
    agent's format check is part of the case, and a sixth digit made a correct agent fail
    later trials only). `spec`: a value's generator, or several (a faulted copy's one number
    for every sequence of its scenario: the narrowest width holds)."""
    widths: list[int] = []
    for one in spec if isinstance(spec, list) else [spec]:
        if not isinstance(one, SequenceGen):
            continue
        for _, field, fmt, _ in string.Formatter().parse(one.sequence):
            if field == "n" and fmt and (match := _WIDTH.match(fmt)):
                widths.append(int(_BASES.get(match[2], 10) ** int(match[1])))
    if not widths:
        return 100_000 + seed % 900_000
    top = min(widths)
    low = top // 2 if top > 16 else 0  # the upper half: apart from the cases' own numbers
    return low + seed % (top - low)


def _reads(scenario: Scenario, spec: Any) -> set[Node]:
    """The case's own values a spec's templates read: vars and setup values."""
    read: set[Node] = set()
    for p in paths(spec):
        if len(p) < 2:
            continue
        if p[0] == "vars" and p[1] in scenario.vars:
            read.add(("vars", p[1]))
        elif p[0] in scenario.setup and p[1] in scenario.setup[p[0]].values:
            read.add((p[0], p[1]))
    return read


def _assigned(scenario: Scenario, node: Node, seen: set[Node]) -> bool:
    """Whether a setup value is made from what the database assigns another setup row (its
    `{{ slot.id }}`: a serial, a default), directly or through the setup values it reads:
    inserted anew for every trial and variant, so never the same twice."""
    if node in seen or node[0] == "vars":  # vars are made before any row is inserted
        return False
    seen.add(node)
    for p in paths(Identity._spec(scenario, node)):
        if len(p) < 2 or p[0] not in scenario.setup:
            continue
        if p[1] not in scenario.setup[p[0]].values:
            return True
        if _assigned(scenario, (p[0], p[1]), seen):
            return True
    return False


def _ordinary(scenario: Scenario, spec: Any) -> bool:
    """A generator of everyday values (faker, a sequence, a number, a date) reading no other
    value of the case: drawing it again changes nothing a case searches (hard parts and
    choices are its inputs)."""
    if not is_generator(spec) or is_hard(spec) or isinstance(spec, ChoiceGen):
        return False
    return not _reads(scenario, spec)


def _templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def _key(value: Any) -> str:
    return str(value).strip().casefold()


def sequences(scenario: Scenario) -> list[SequenceGen]:
    """The scenario's sequence generators: its vars' and its setup rows' values."""
    specs = [
        *scenario.vars.values(),
        *(v for r in scenario.setup.values() for v in r.values.values()),
    ]
    return [s for s in specs if isinstance(s, SequenceGen)]
