"""Judging one trial: every check of its scenario through the check registry, then the
scoped invariants on the rows it inserted; and the run-wide invariant sweep.

A check that cannot run is an error verdict with the reason, never an exception; a case
that could not finish counts against every requirement its checks judge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.check.registry import Judging, judge_error, kind_of
from harness.check.scopes import covers, is_value, owned_values, scope_ids, scoped_query
from harness.check.state import Targets, evaluate_invariant
from harness.core import CheckResult, Failure, FailureKind, Observation, Verdict
from harness.spec import models as m
from harness.spec.suite import Suite
from harness.spec.template import Template, TemplateError, render_deep, truthy


class Judge:
    def __init__(self, suite: Suite, targets: Targets, cache: dict[str, Template]) -> None:
        self.suite = suite
        self.targets = targets
        self.cache = cache
        # rows the cases inserted, by "table" (its ids) and "table.column"; see sweep()
        self._owned: dict[str, set[Any]] = {}
        # each scenario's checks with their ids and kinds, looked up once
        self._checks = {
            sc.id: [
                (check, suite.check_id(sc, i), kind_of(check)) for i, check in enumerate(sc.checks)
            ]
            for sc in suite.scenarios
        }
        self._scoped = [inv for inv in suite.invariants if inv.scope]
        self._per_turn: dict[str, bool] = {}  # by scenario, found once
        self._invariant_sql = {
            inv.id: render_deep(inv.query, {"params": suite.params}, cache)
            for inv in suite.invariants
        }

    def per_turn(self, scenario: m.Scenario) -> bool:
        """Whether anything of this scenario is judged after every turn."""
        found = self._per_turn.get(scenario.id)
        if found is None:
            found = self._per_turn[scenario.id] = any(
                getattr(check, "every_turn", False) for check, _, _ in self._checks[scenario.id]
            ) or any(inv.every_turn for inv in self._scoped)
        return found

    async def after_turn(
        self,
        scenario: m.Scenario,
        ctx: Mapping[str, Any],
        obs: Observation,
        number: int,
        broke: dict[str, CheckResult],
    ) -> None:
        """Judge the checks and scoped invariants marked `every_turn` after turn `number`;
        the first failure of each is kept in `broke` with its turn (an error there is not
        kept: the check is judged again at the end)."""
        judging = Judging(self.suite, obs.replies, ctx, self.targets, self.cache, obs, {})
        for check, cid, kind in self._checks[scenario.id]:
            if not getattr(check, "every_turn", False) or cid in broke:
                continue
            if check.when is not None and not self.applies(check, ctx):
                continue
            try:
                now = kind.judge_now
                result = now(check, cid, judging) if now else await kind.judge(check, cid, judging)
            except Exception:
                continue
            if result.verdict is Verdict.FAIL:
                result.turn = number
                broke[cid] = result
        for inv in self._scoped:
            if not inv.every_turn or inv.id in broke:
                continue
            found = await self._scoped_one(inv, scenario, (obs,), ctx)
            if found is not None and found.verdict is Verdict.FAIL:
                found.turn = number
                broke[inv.id] = found

    def own(self, table: str, row: Mapping[str, Any]) -> None:
        """A row a case inserted: its violations are judged with that case, not the sweep."""
        for key, value in row.items():
            if not isinstance(value, dict | list):  # json columns cannot be scope keys
                self._owned.setdefault(f"{table}.{key}", set()).add(value)
        if "id" in row:
            self._owned.setdefault(table, set()).add(row["id"])

    def applies(self, check: m.CheckBase, ctx: Mapping[str, Any]) -> bool:
        """A check with `when:` judges only the cases its condition holds for."""
        if check.when is None:
            return True
        try:
            return truthy(render_deep(check.when, ctx, self.cache))
        except TemplateError:
            pass
        try:  # a turn the conversation never reached has no reply, status or text: null
            unplayed = {k: _Unplayed(ctx.get(k) or {}) for k in ("replies", "statuses", "texts")}
            return truthy(render_deep(check.when, {**ctx, **unplayed}, self.cache))
        except TemplateError:
            return True  # cannot tell (e.g. setup failed): judged, and so an error

    async def observe(
        self, scenario: m.Scenario, ctx: Mapping[str, Any], into: dict[str, list[Any]]
    ) -> None:
        """What each check with an `observe` hook sees now (after the turns or a variant)."""
        for i, check in enumerate(scenario.checks):
            hook = kind_of(check).observe
            if hook is not None:
                cid = self.suite.check_id(scenario, i)
                into.setdefault(cid, []).append(
                    await hook(check, self.suite, self.targets, ctx, self.cache)
                )

    def errors(
        self, scenario: m.Scenario, ctx: Mapping[str, Any], failure: Failure
    ) -> list[CheckResult]:
        """Every check the case would have had, as an error: a case that could not finish
        counts against each requirement it judges (invariants included), never drops out."""
        message, cause = str(failure), failure.kind
        for inv in self._scoped:  # what its conversation owns stays out of the sweep
            self._own_values(inv, ctx, [])
        return [
            judge_error(c, self.suite.check_id(scenario, i), message, cause)
            for i, c in enumerate(scenario.checks)
            if self.applies(c, ctx)
        ] + [
            judge_error(inv, inv.id, f"not judged: {message}", cause, "invariant")
            for inv in self.suite.invariants
            if covers(inv, scenario)
        ]

    def _own_values(
        self, inv: m.Invariant, ctx: Mapping[str, Any], observations: list[Observation]
    ) -> None:
        """The values a case owns through its conversations (`{{ case.session_id }}` ...):
        the violations they tie are judged with that case, not the sweep."""
        for target in (inv.scope or {}).values():
            if is_value(target):
                found = owned_values(target, ctx, observations, self.cache)
                if not observations:  # the case did not finish: its context still knows
                    found = owned_values(target, ctx, [_from_context(ctx)], self.cache)
                self._owned.setdefault(target, set()).update(found)

    async def case(
        self,
        scenario: m.Scenario,
        ctx: dict[str, Any],
        obs: Observation,
        observed: dict[str, list[Any]],
        broke: Mapping[str, CheckResult] | None = None,
    ) -> list[CheckResult]:
        """Every verdict of the trial; a check judged after every turn that failed on the way
        keeps that first failure (with its turn), and a failure found at the end says it was
        seen after the last turn."""
        results = await self._case(scenario, ctx, obs, observed)
        last = len(obs.turns) or None
        for i, result in enumerate(results):
            if broke:
                first = broke.get(result.check_id)
                if first is not None:
                    results[i] = result = first
            if result.verdict is Verdict.FAIL and result.turn is None:
                result.turn = last
        return results

    async def _case(
        self,
        scenario: m.Scenario,
        ctx: dict[str, Any],
        obs: Observation,
        observed: dict[str, list[Any]],
    ) -> list[CheckResult]:
        results: list[CheckResult] = []
        judging = Judging(self.suite, obs.replies, ctx, self.targets, self.cache, obs, observed)
        for check, cid, kind in self._checks[scenario.id]:
            if check.when is not None and not self.applies(check, ctx):
                continue
            if obs.error is not None:
                results.append(judge_error(check, cid, f"not judged: {obs.error}", obs.error.kind))
                continue
            try:
                now = kind.judge_now
                results.append(
                    now(check, cid, judging) if now else await kind.judge(check, cid, judging)
                )
            except Exception as exc:
                message = f"check could not run: {type(exc).__name__}: {exc}"
                results.append(judge_error(check, cid, message, FailureKind.CHECK))
        if self._scoped:
            results.extend(await self.invariants(scenario, obs, ctx))
        return results

    async def invariants(
        self, scenario: m.Scenario, obs: Observation, ctx: Mapping[str, Any]
    ) -> list[CheckResult]:
        """Scoped invariants, restricted to the rows this case inserted and the values its
        conversations own. A conversation that errored gives no pass: what it never did
        cannot have broken a rule (an error, as its checks are), but a violation in what it
        did write before it stopped stays a failure."""
        results: list[CheckResult] = []
        error = next((o.error for o in (obs, *obs.variants) if o.error is not None), None)
        for inv in self._scoped:
            self._own_values(inv, ctx, [obs, *obs.variants])
            result = await self._scoped_one(inv, scenario, (obs, *obs.variants), ctx)
            if result is not None and error is not None and result.verdict is Verdict.PASS:
                message = f"not judged: {error}"
                result = judge_error(inv, inv.id, message, error.kind, "invariant")
            if result is not None:
                results.append(result)
        return results

    async def _scoped_one(
        self,
        inv: m.Invariant,
        scenario: m.Scenario,
        observations: tuple[Observation, ...],
        ctx: Mapping[str, Any],
    ) -> CheckResult | None:
        """A scoped invariant on what these conversations own; None when they own nothing."""
        assert inv.scope is not None
        ids = scope_ids(inv, scenario, observations, ctx, self.cache)
        if not any(ids):
            return None
        query = scoped_query(self._invariant_sql[inv.id], inv.scope)
        return await self._invariant(inv, query, ids)

    async def _invariant(self, inv: m.Invariant, query: str, params: Any) -> CheckResult:
        db = self.targets.databases[self.suite.database_for(inv.database, "postgres")]
        try:
            return await evaluate_invariant(inv, query, db, params)
        except Exception as exc:
            message = f"invariant could not run: {exc}"
            return judge_error(inv, inv.id, message, FailureKind.CHECK, "invariant")

    async def sweep(self) -> list[CheckResult]:
        """Every invariant over the whole database, once, after the cases: the violations no
        case owns (seed data, rows of unscoped invariants). What a case owns was judged with
        that case, so it is never counted twice, and a resumed run judges the same."""
        results: list[CheckResult] = []
        for inv in self.suite.invariants:
            query, params = self._invariant_sql[inv.id], None
            if inv.scope:
                query = scoped_query(query, inv.scope, exclude=True)
                params = [sorted(self._owned.get(t, ())) for t in inv.scope.values()]
            results.append(await self._invariant(inv, query, params))
        return results


class _Unplayed(dict[str, Any]):
    """A turn's values by number where a turn never played reads as null."""

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key) or (isinstance(key, str) and key.isdigit())

    def __missing__(self, key: str) -> None:
        return None


def _from_context(ctx: Mapping[str, Any]) -> Observation:
    """A case's conversation as far as its context knows it (a case that did not finish)."""
    case = ctx.get("case") or {}
    obs = Observation(session_id=str(case.get("session_id", "")))
    obs.session = dict(ctx.get("session") or {})
    return obs
