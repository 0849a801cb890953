"""Invariants during and after a load run: per duplicate pair, sampled, and swept at the end.

A duplicate pair (one case sent twice at once, on the same rows) is judged by the
suite's scoped invariants on its own rows: the scenario's checks describe what
one request leaves behind, not two, while an invariant (refunds within the order
total) says what must hold whatever arrives. While the load runs, every
invariant is checked over the whole database every few seconds; after it, a
sweep judges the rows no judged case owns, as `harness run` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from harness.check.registry import judge_error
from harness.check.scopes import is_value, owned_values, scope_ids, scoped_query
from harness.check.state import Targets, evaluate_invariant
from harness.core import CheckResult, FailureKind, Observation, to_jsonable
from harness.empty import empty_dict
from harness.spec.models import Invariant, Scenario
from harness.spec.suite import Suite
from harness.spec.template import Template, render_deep

SAMPLE_EVIDENCE_ROWS = 5
SETUP_GRACE = 5.0  # seconds a cancelled case's setup may take to finish its inserts

T = TypeVar("T")


class SetupGate:
    """Whole-database samples wait until no case is halfway through inserting its rows.

    A case's setup is several inserts (a refund, then its audit row); a sample taken
    between two of them would see a violation the harness itself made."""

    def __init__(self) -> None:
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._open = asyncio.Event()
        self._open.set()

    @asynccontextmanager
    async def setup(self) -> AsyncIterator[None]:
        await self._open.wait()
        self._active += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._active -= 1
            if self._active == 0:
                self._idle.set()

    async def whole(self, work: Awaitable[T]) -> T:
        """One case's setup, held off from samples and never cut halfway: when the load
        stops (the agent died, Ctrl-C), a cancel waits for the inserts already under way, since
        the final sample would otherwise read a refund without its audit row as a violation."""
        async with self.setup():
            task = asyncio.ensure_future(work)
            try:
                return await asyncio.shield(task)
            except asyncio.CancelledError:
                await asyncio.wait([task], timeout=SETUP_GRACE)
                task.cancel()  # a no-op once it is done; one stuck beyond the grace is cut
                raise

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        self._open.clear()
        try:
            await self._idle.wait()
            yield
        finally:
            self._open.set()


@dataclass
class Sample:
    """Every invariant over the whole database at one moment of the run."""

    at: float  # seconds since the load started
    violations: dict[str, int] = field(default_factory=empty_dict)  # invariant id -> violating rows
    #: first rows, evidence
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=empty_dict)
    errors: dict[str, str] = field(default_factory=empty_dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"at": round(self.at, 3), "violations": self.violations}
        if self.rows:
            out["rows"] = to_jsonable(self.rows)
        if self.errors:
            out["errors"] = self.errors
        return out


class InvariantWatch:
    """The suite's invariants, rendered once, and the rows judged cases own."""

    def __init__(self, suite: Suite, targets: Targets) -> None:
        self.suite = suite
        self.targets = targets
        cache: dict[str, Template] = {}
        self.cache = cache
        self.sql = {
            inv.id: str(render_deep(inv.query, {"params": suite.params}, cache))
            for inv in suite.invariants
        }
        self.owned: dict[str, set[Any]] = {}

    def _db(self, inv: Invariant) -> Any:
        return self.targets.databases[self.suite.database_for(inv.database, "postgres")]

    def own(self, scenario: Scenario, obs: Observation, ctx: dict[str, Any]) -> None:
        """Rows and conversation values of a judged case: its own verdicts covered them (see
        Engine.sweep_invariants)."""
        for inv in self.suite.invariants:
            for target in (inv.scope or {}).values():
                if is_value(target):
                    found = owned_values(target, ctx, [obs], self.cache)
                    self.owned.setdefault(target, set()).update(found)
        for name, row in obs.entities.items():
            table = scenario.setup[name].table
            for key, value in row.items():
                if not isinstance(value, dict | list):
                    self.owned.setdefault(f"{table}.{key}", set()).add(value)
            if "id" in row:
                self.owned.setdefault(table, set()).add(row["id"])

    async def scoped(
        self, scenario: Scenario, observations: list[Observation], ctx: dict[str, Any]
    ) -> list[CheckResult]:
        """The scoped invariants on the rows of one case (both halves of a pair share them)
        and the values their conversations own (each half its own)."""
        results: list[CheckResult] = []
        for inv in self.suite.invariants:
            if not inv.scope:
                continue
            ids = scope_ids(inv, scenario, observations, ctx, self.cache)
            if not any(ids):
                continue
            query = scoped_query(self.sql[inv.id], inv.scope)
            try:
                results.append(await evaluate_invariant(inv, query, self._db(inv), ids))
            except Exception as exc:
                results.append(_error(inv, f"invariant could not run: {exc}"))
        return results

    async def sample(self, at: float) -> Sample:
        """Every invariant over every row, owned or not: what the database holds right now."""
        sample = Sample(at)
        for inv in self.suite.invariants:
            try:
                rows = await self._db(inv).fetch(self.sql[inv.id])
            except Exception as exc:
                sample.errors[inv.id] = f"{type(exc).__name__}: {exc}"[:300]
                continue
            sample.violations[inv.id] = len(rows)
            if rows:
                sample.rows[inv.id] = rows[:SAMPLE_EVIDENCE_ROWS]
        return sample

    async def sweep(self) -> list[CheckResult]:
        """After the load: the violations no judged case owns (seed rows, cases cut short)."""
        results: list[CheckResult] = []
        for inv in self.suite.invariants:
            query, params = self.sql[inv.id], None
            if inv.scope:
                query = scoped_query(query, inv.scope, exclude=True)
                params = [sorted(self.owned.get(t, ())) for t in inv.scope.values()]
            try:
                results.append(await evaluate_invariant(inv, query, self._db(inv), params))
            except Exception as exc:
                results.append(_error(inv, f"invariant could not run: {exc}"))
        return results


def _error(inv: Invariant, message: str) -> CheckResult:
    return judge_error(inv, inv.id, message, FailureKind.CHECK, "invariant")
