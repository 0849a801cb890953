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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.core import Case
from harness.generate.values import ValueGenerator, derive_seed, is_generator
from harness.spec.models import Scenario
from harness.spec.order import order, paths
from harness.spec.template import Template, TemplateError, render_deep

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


class Identity:
    """Which setup columns and vars of each scenario must be fresh, and their fresh values."""

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
        self._plans: dict[str, tuple[dict[str, frozenset[str]], tuple[str, ...]]] = {}

    def unique_columns(self, scenario: Scenario, entity: str) -> frozenset[str]:
        """The columns of a setup row that must not repeat across trials and variants."""
        return self._plan(scenario)[0].get(entity, frozenset())

    def fresh_vars(self, scenario: Scenario) -> tuple[str, ...]:
        """The vars a unique column is written from (generators only), in declared order."""
        return self._plan(scenario)[1]

    def _plan(self, scenario: Scenario) -> tuple[dict[str, frozenset[str]], tuple[str, ...]]:
        plan = self._plans.get(scenario.id)
        if plan is None:
            columns: dict[str, frozenset[str]] = {}
            feeding: set[str] = set()
            for entity, row in scenario.setup.items():
                tables = self.keys.get(self.database_for(row.database, "postgres"), {})
                unique = {c for key in tables.get(row.table, ()) for c in key.columns}
                mine = frozenset(c for c in row.values if c in unique)
                if mine:
                    columns[entity] = mine
                for col in mine:
                    feeding |= vars_read(row.values[col])
            names = tuple(n for n, s in scenario.vars.items() if n in feeding and is_generator(s))
            plan = self._plans[scenario.id] = (columns, names)
        return plan

    def slot(self, scenario: Scenario, case: Case, trial: int, variant: int = 0) -> Slot:
        """The values trial `trial` (and variant `variant`, 0: the case's own turns) uses."""
        setup = case.variant_setups[variant - 1] if variant else case.setup
        columns, names = self._plan(scenario)
        if (trial, variant) == (1, 0) or not (columns or names):
            return Slot(case.vars, setup)
        order = self._slots(case, trial, variant)
        fresh_vars = dict(case.vars)
        for name in names:
            fresh_vars[name] = self._fresh(
                scenario.vars[name], case, order, ("var", name), [case.vars.get(name)], fresh_vars
            )
        rows = {entity: dict(values) for entity, values in setup.items()}
        for entity, cols in columns.items():
            for col in sorted(cols):
                spec = scenario.setup[entity].values[col]
                if not is_generator(spec):
                    continue  # a literal, or written from a var (refreshed above)
                inputs = [case.setup.get(entity, {}).get(col)]
                inputs += [v.get(entity, {}).get(col) for v in case.variant_setups]
                rows[entity][col] = self._fresh(
                    spec, case, order, (entity, col), inputs, fresh_vars
                )
        self._follow(scenario, case, trial, variant, fresh_vars, rows, columns, names)
        return Slot(fresh_vars, rows)

    def _follow(
        self,
        scenario: Scenario,
        case: Case,
        trial: int,
        variant: int,
        fresh_vars: dict[str, Any],
        rows: dict[str, dict[str, Any]],
        columns: Mapping[str, frozenset[str]],
        names: tuple[str, ...],
    ) -> None:
        """What was made from a fresh value is made again from it, in the case's order of
        evaluation: a var written from a unique column (`"{{ customer.email }}"`) must say
        the email this trial inserts, not the first trial's."""
        changed: set[tuple[str, str]] = {("vars", n) for n in names}
        changed |= {(entity, col) for entity, cols in columns.items() for col in cols}
        context: dict[str, Any] = {"params": self.params, "vars": fresh_vars}
        for entity, values in rows.items():
            context[entity] = {c: v for c, v in values.items() if not _templated(v)}
        for node in order(scenario).nodes:
            if node in changed:
                continue
            owner, key = node
            spec = scenario.vars[key] if owner == "vars" else scenario.setup[owner].values[key]
            if not any(tuple(p[:2]) in changed for p in paths(spec) if len(p) > 1):
                continue
            if is_generator(spec):
                seed = derive_seed(case.seed, "identity", trial, variant, "made", owner, key)
                value = self._draw(spec, seed, context)
            elif owner == "vars":
                value = render_deep(spec, context, {})
            else:
                continue  # a setup template: rendered at insert time from this trial's values
            if owner == "vars":
                fresh_vars[key] = value
            else:
                rows[owner][key] = context[owner][key] = value
            changed.add(node)

    def redraw(
        self,
        scenario: Scenario,
        case: Case,
        slot: Slot,
        entity: str,
        trial: int,
        variant: int,
        attempt: int,
    ) -> Slot:
        """The row's unique values drawn again (its generators, and the vars it is written
        from), after the database found them taken by a row that is not this case's (another
        case's, the seed data's): deterministic, by attempt."""
        fresh_vars = dict(slot.vars)
        context = {"params": self.params, "vars": fresh_vars}
        row = scenario.setup[entity]
        cols = sorted(self.unique_columns(scenario, entity))
        for name in self.fresh_vars(scenario):
            if any(name in vars_read(row.values[c]) for c in cols):
                seed = derive_seed(
                    case.seed, "identity", trial, variant, "var", name, "db", attempt
                )
                fresh_vars[name] = self._draw(scenario.vars[name], seed, context)
        values = dict(slot.setup[entity])
        for col in cols:
            if is_generator(row.values[col]):
                seed = derive_seed(
                    case.seed, "identity", trial, variant, entity, col, "db", attempt
                )
                values[col] = self._draw(row.values[col], seed, context)
        return Slot(fresh_vars, {**slot.setup, entity: values})

    def taken(self, scenario: Scenario, entity: str, exc: BaseException) -> bool:
        """The insert failed because a unique value of the row is already another row's,
        and drawing the row's generators again can change it."""
        if getattr(exc, "sqlstate", None) != UNIQUE_VIOLATION:
            return False
        constraint = getattr(getattr(exc, "diag", None), "constraint_name", None)
        row = scenario.setup[entity]
        tables = self.keys.get(self.database_for(row.database, "postgres"), {})
        fresh = set(self.fresh_vars(scenario))
        redrawn = {
            c
            for c in self.unique_columns(scenario, entity)
            if is_generator(row.values[c]) or vars_read(row.values[c]) & fresh
        }
        return any(
            key.name == constraint and redrawn & set(key.columns)
            for key in tables.get(row.table, ())
        )

    # -- the rule ---------------------------------------------------------------------------
    @staticmethod
    def _slots(case: Case, trial: int, variant: int) -> list[tuple[int, int]]:
        """Every slot up to this one, in order: each must differ from those before it."""
        variants = len(case.variant_setups)
        return [
            (t, v)
            for t in range(1, trial + 1)
            for v in range(variants + 1)
            if (t, v) != (1, 0) and (t < trial or v <= variant)
        ]

    def _fresh(
        self,
        spec: Any,
        case: Case,
        order: list[tuple[int, int]],
        name: tuple[str, str],
        inputs: list[Any],
        fresh_vars: Mapping[str, Any],
    ) -> Any:
        context = {"params": self.params, "vars": fresh_vars}
        taken = {_key(v) for v in inputs if v is not None}
        value: Any = None
        for trial, variant in order:
            for attempt in range(DRAWS):
                seed = derive_seed(case.seed, "identity", trial, variant, *name, attempt)
                value = self._draw(spec, seed, context)
                if _key(value) not in taken:
                    break
            taken.add(_key(value))
        return value

    def _draw(self, spec: Any, seed: int, context: Mapping[str, Any]) -> Any:
        gen = ValueGenerator(seed, kinds=self.kinds)
        # a sequence's number: one of its own per draw, not the case's index
        return gen.value(spec, context, n=100_000 + seed % 900_000)


def vars_read(value: Any) -> set[str]:
    """The vars a template reads (`{{ vars.NAME ... }}`)."""
    if not isinstance(value, str) or "{{" not in value:
        return set()
    try:
        paths = list(Template(value).paths())
    except TemplateError:
        return set()
    return {p[1] for p in paths if len(p) > 1 and p[0] == "vars"}


def _templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def _key(value: Any) -> str:
    return str(value).strip().casefold()
