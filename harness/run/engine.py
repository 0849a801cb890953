"""The engine: runs cases concurrently against the agent and judges each against the spec.

Each case inserts its own freshly generated rows, talks to the agent through its
adapter, then every check of its scenario (output, state, invariant) gives a
verdict. A finished case is handed to the sink at once (the store writes it) and
announced as an event. Nothing the agent does can raise out of here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.agents.base import AgentAdapter, Reply
from harness.check.output import evaluate_output
from harness.check.state import (
    Targets,
    evaluate_invariant,
    evaluate_redis,
    evaluate_sql,
    same_state,
    scope_ids,
    scoped_query,
)
from harness.core import Case, CaseResult, CheckResult, Observation, TurnRecord, Verdict
from harness.events import CaseFinished, Emit
from harness.generate.personas import write_turn
from harness.run.store import now_iso
from harness.spec import models as m
from harness.spec.suite import Suite
from harness.spec.template import Template, TemplateError, concrete, render_deep, truthy

Sink = Callable[[CaseResult], None]


@dataclass
class Prepared:
    """A case whose rows are inserted and turns rendered, waiting for its conversation."""

    case: Case
    trial: int
    ctx: dict[str, Any]
    obs: Observation
    error: str | None = None
    #: (text, context for request templates) of every turn
    turns: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)


class Engine:
    def __init__(
        self,
        suite: Suite,
        agent: AgentAdapter,
        targets: Targets,
        *,
        run_id: str,
        concurrency: int,
        case_timeout: float,
        emit: Emit,
        sink: Sink,
    ) -> None:
        self.suite = suite
        self.agent = agent
        self.targets = targets
        self.run_id = run_id
        self.concurrency = max(1, concurrency)
        self.case_timeout = case_timeout
        self.emit = emit
        self.sink = sink
        self.params = suite.params
        self._cache: dict[str, Template] = {}
        self._turns = {s.id: [Template(t) for t in s.turns] for s in suite.scenarios}
        self._variants = {
            s.id: [[Template(t) for t in v] for v in s.variants] for s in suite.scenarios
        }
        self._scenarios = {s.id: s for s in suite.scenarios}
        # rows the cases inserted, by "table" (its ids) and "table.column"; see sweep_invariants
        self._owned: dict[str, set[Any]] = {}
        self._invariant_sql = {
            inv.id: render_deep(inv.query, {"params": self.params}, self._cache)
            for inv in suite.invariants
        }

    async def run(self, cases: Iterable[Case], trials: int = 1) -> int:
        """Run every case `trials` times with `concurrency` workers; return how many ran.

        Trial-major: every case's trial 1 before any trial 2, so the trials of one case
        (same inputs, same names and PINs) rarely run at the same moment, and a run cut
        short has judged as many distinct cases as it could."""
        listed = list(cases)
        return await self.run_trials((c, t) for t in range(1, trials + 1) for c in listed)

    async def run_trials(self, pairs: Iterable[tuple[Case, int]]) -> int:
        """Run exactly these (case, trial) pairs; a resumed run passes the missing ones."""
        work: Iterator[tuple[Case, int]] = iter(pairs)
        done = 0

        async def worker() -> None:
            nonlocal done
            for case, trial in work:
                result = await self.run_case(case, trial)
                self.sink(result)
                self.emit(CaseFinished(result))
                done += 1

        await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        return done

    def context(self, case: Case, session_id: str, trial: int) -> dict[str, Any]:
        return {
            "params": self.params,
            "vars": case.vars,
            "case": {
                "id": case.id,
                "session_id": session_id,
                "seed": case.seed,
                "index": case.index,
                "scenario": case.scenario,
                "trial": trial,
            },
        }

    # -- steps of a case, for conversations driven from outside (load generators) ----------
    async def prepare(self, case: Case, trial: int = 1) -> Prepared:
        """Insert the case's own rows and render its turns; the conversation is then held
        by someone else (record each turn with `record`), and `conclude` judges it."""
        scenario = self._scenarios[case.scenario]
        session_id = case.session_id(self.run_id, trial)
        prepared = Prepared(
            case,
            trial,
            self.context(case, session_id, trial),
            Observation(session_id=session_id, started_at=now_iso()),
        )
        prepared.error = await self._setup(case, scenario, prepared.ctx, prepared.obs)
        if prepared.error is None:
            for i, template in enumerate(self._turns[case.scenario]):
                text = self._write(case, template, prepared.ctx, i)
                turn_ctx = {**prepared.ctx, "turn": {"text": text, "index": i + 1}}
                prepared.turns.append((text, turn_ctx))
        return prepared

    @staticmethod
    def record(prepared: Prepared, index: int, reply: Reply) -> None:
        text = prepared.turns[index][0]
        prepared.obs.turns.append(
            TurnRecord(index + 1, text, reply.text, reply.latency_ms, reply.status, reply.error)
        )
        if reply.error is not None and prepared.obs.error is None:
            prepared.obs.error = f"turn {index + 1}: {reply.error}"

    async def conclude(self, prepared: Prepared) -> CaseResult:
        """Judge a conversation held elsewhere, against the same checks as `run_case`."""
        scenario = self._scenarios[prepared.case.scenario]
        obs = prepared.obs
        if prepared.error is not None:
            obs.error = prepared.error
        try:
            async with asyncio.timeout(self.case_timeout):
                checks = await self._judge(scenario, prepared.ctx, obs, {})
        except Exception as exc:
            obs.error = f"harness fault: {type(exc).__name__}: {exc}"
            checks = self._errors(scenario, prepared.ctx, obs.error)
        obs.duration_ms = (time.perf_counter() - prepared.started) * 1000.0
        return CaseResult(prepared.case, prepared.trial, obs, checks)

    async def run_case(self, case: Case, trial: int = 1) -> CaseResult:
        scenario = self._scenarios[case.scenario]
        session_id = case.session_id(self.run_id, trial)
        obs = Observation(session_id=session_id, started_at=now_iso())
        ctx = self.context(case, session_id, trial)
        started = time.perf_counter()
        checks: list[CheckResult] = []
        try:
            async with asyncio.timeout(self.case_timeout):
                setup_error = await self._setup(case, scenario, ctx, obs)
                if setup_error:
                    obs.error = setup_error
                else:
                    await self._converse(case, self._turns[case.scenario], ctx, obs)
                states = (
                    await self._variants_run(case, scenario, ctx, obs) if scenario.variants else {}
                )
                checks = await self._judge(scenario, ctx, obs, states)
        except TimeoutError:
            obs.error = f"the case did not finish within {self.case_timeout:g} s"
            checks = self._errors(scenario, ctx, obs.error)
        except Exception as exc:  # a harness-side fault; recorded, the run goes on
            obs.error = f"harness fault: {type(exc).__name__}: {exc}"
            checks = self._errors(scenario, ctx, obs.error)
        obs.duration_ms = (time.perf_counter() - started) * 1000.0
        return CaseResult(case, trial, obs, checks)

    async def _setup(
        self,
        case: Case,
        scenario: m.Scenario,
        ctx: dict[str, Any],
        obs: Observation,
        variant: int = 0,
    ) -> str | None:
        setup = case.variant_setups[variant - 1] if variant else case.setup
        for name, values in setup.items():
            row_spec = scenario.setup[name]
            db = self.targets.databases[self.suite.database_for(row_spec.database, "postgres")]
            try:
                row = await db.insert(
                    row_spec.table, concrete(render_deep(values, ctx, self._cache))
                )
            except Exception as exc:
                return f"setup of {name} ({row_spec.table}) failed: {type(exc).__name__}: {exc}"
            ctx[name] = row
            obs.entities[name] = row
            for key, value in row.items():
                if not isinstance(value, dict | list):  # json columns cannot be scope keys
                    self._owned.setdefault(f"{row_spec.table}.{key}", set()).add(value)
            if "id" in row:
                self._owned.setdefault(row_spec.table, set()).add(row["id"])
        for item in scenario.redis_setup:
            kv = self.targets.kv[self.suite.database_for(item.database, "redis")]
            rendered = render_deep(item.model_dump(exclude={"database"}), ctx, self._cache)
            await kv.setup(rendered["key"], rendered["value"], rendered["hash"], rendered["ttl"])
        return None

    def _write(
        self, case: Case, template: Template, ctx: Mapping[str, Any], i: int, turns: int = 0
    ) -> str:
        """Turn i as the case's persona writes it."""
        if case.persona == "plain":
            return template.render_text(ctx)
        n = turns or len(self._turns[case.scenario])
        return write_turn(template, ctx, case.persona, case.persona_seed or case.seed, i, n)

    async def _converse(
        self, case: Case, templates: list[Template], ctx: dict[str, Any], obs: Observation
    ) -> None:
        for i, template in enumerate(templates):
            text = self._write(case, template, ctx, i, len(templates))
            ctx["turn"] = {"text": text, "index": i + 1}
            reply = await self.agent.send(text, ctx)
            obs.turns.append(
                TurnRecord(i + 1, text, reply.text, reply.latency_ms, reply.status, reply.error)
            )
            if reply.error is not None:
                obs.error = f"turn {i + 1}: {reply.error}"
                return

    def _applies(self, check: m.CheckBase, ctx: Mapping[str, Any]) -> bool:
        """A check with `when:` judges only the cases its condition holds for."""
        if check.when is None:
            return True
        try:
            return truthy(render_deep(check.when, ctx, self._cache))
        except TemplateError:
            return True  # cannot tell (e.g. setup failed): judged, and so an error

    def _errors(
        self, scenario: m.Scenario, ctx: Mapping[str, Any], message: str
    ) -> list[CheckResult]:
        """Every check the case would have had, as an error: a case that could not finish
        counts against each requirement it judges (invariants included), never drops out."""
        tables = {row.table for row in scenario.setup.values()}
        return [
            _error(c, self.suite.check_id(scenario, i), message)
            for i, c in enumerate(scenario.checks)
            if self._applies(c, ctx)
        ] + [
            _error(inv, inv.id, f"not judged: {message}", "invariant")
            for inv in self.suite.invariants
            if inv.scope and tables & {t.partition(".")[0] for t in inv.scope.values()}
        ]

    async def _judge(
        self,
        scenario: m.Scenario,
        ctx: dict[str, Any],
        obs: Observation,
        states: dict[str, list[list[dict[str, Any]]]],
    ) -> list[CheckResult]:
        results: list[CheckResult] = []
        replies = obs.replies
        for i, check in enumerate(scenario.checks):
            cid = self.suite.check_id(scenario, i)
            if not self._applies(check, ctx):
                continue
            if obs.error is not None:
                results.append(_error(check, cid, f"not judged: {obs.error}"))
                continue
            try:
                if isinstance(check, m.SameStateCheck):
                    results.append(same_state(check, cid, states[cid], obs))
                    continue
                results.append(await self._one(check, cid, replies, ctx))
            except Exception as exc:
                results.append(
                    _error(check, cid, f"check could not run: {type(exc).__name__}: {exc}")
                )
        results.extend(await self._invariants(scenario, obs))
        return results

    async def _one(
        self, check: m.CheckBase, cid: str, replies: list[str | None], ctx: Mapping[str, Any]
    ) -> CheckResult:
        if isinstance(check, m.SqlCheck):
            db = self.targets.databases[self.suite.database_for(check.database, "postgres")]
            return await evaluate_sql(check, cid, db, ctx, self._cache)
        if isinstance(check, m.RedisCheck):
            kv = self.targets.kv[self.suite.database_for(check.database, "redis")]
            return await evaluate_redis(check, cid, kv, ctx, self._cache)
        assert isinstance(check, m.OutputCheck)
        return evaluate_output(check, cid, replies, ctx, self._cache)

    async def _variants_run(
        self, case: Case, scenario: m.Scenario, ctx: dict[str, Any], obs: Observation
    ) -> dict[str, list[list[dict[str, Any]]]]:
        """Each rewording on its own fresh rows; the rows each same_state query sees after
        the scenario's own turns (first) and after every variant."""
        checks = [
            (self.suite.check_id(scenario, i), c)
            for i, c in enumerate(scenario.checks)
            if isinstance(c, m.SameStateCheck)
        ]
        states: dict[str, list[list[dict[str, Any]]]] = {cid: [] for cid, _ in checks}
        if obs.error is not None:
            return states
        for cid, check in checks:
            states[cid].append(await self._state(check, ctx))
        for k, templates in enumerate(self._variants[scenario.id], start=1):
            vobs = Observation(session_id=f"{obs.session_id}-v{k}")
            vctx = self.context(case, vobs.session_id, int(ctx["case"]["trial"]))
            error = await self._setup(case, scenario, vctx, vobs, variant=k)
            if error is None:
                await self._converse(case, templates, vctx, vobs)
            obs.variants.append(vobs)
            if vobs.error is not None:
                obs.error = f"variant {k}: {error or vobs.error}"
                return states
            for cid, check in checks:
                states[cid].append(await self._state(check, vctx))
        return states

    async def _state(self, check: m.SameStateCheck, ctx: Mapping[str, Any]) -> list[dict[str, Any]]:
        db = self.targets.databases[self.suite.database_for(check.database, "postgres")]
        query = render_deep(check.query, {"params": ctx["params"]}, self._cache)
        return await db.fetch(query, render_deep(check.params, ctx, self._cache))

    async def _invariants(self, scenario: m.Scenario, obs: Observation) -> list[CheckResult]:
        """Scoped invariants, restricted to the rows this case inserted."""
        results: list[CheckResult] = []
        for inv in self.suite.invariants:
            if not inv.scope:
                continue
            ids = scope_ids(inv, scenario, (obs, *obs.variants))
            if not any(ids):
                continue
            db = self.targets.databases[self.suite.database_for(inv.database, "postgres")]
            query = scoped_query(self._invariant_sql[inv.id], inv.scope)
            try:
                results.append(await evaluate_invariant(inv, query, db, ids))
            except Exception as exc:
                results.append(_error(inv, inv.id, f"invariant could not run: {exc}", "invariant"))
        return results

    async def sweep_invariants(self) -> list[CheckResult]:
        """Every invariant over the whole database, once, after the cases: the violations no
        case owns (seed data, rows of unscoped invariants). What a case owns was judged with
        that case, so it is never counted twice, and a resumed run judges the same."""
        results: list[CheckResult] = []
        for inv in self.suite.invariants:
            db = self.targets.databases[self.suite.database_for(inv.database, "postgres")]
            query, params = self._invariant_sql[inv.id], None
            if inv.scope:
                query = scoped_query(query, inv.scope, exclude=True)
                params = [sorted(self._owned.get(t, ())) for t in inv.scope.values()]
            try:
                results.append(await evaluate_invariant(inv, query, db, params))
            except Exception as exc:
                results.append(_error(inv, inv.id, f"invariant could not run: {exc}", "invariant"))
        return results


def _category(check: Any) -> str:
    return "state" if isinstance(check, m.SqlCheck | m.RedisCheck | m.SameStateCheck) else "output"


def _error(check: Any, cid: str, message: str, category: str | None = None) -> CheckResult:
    return CheckResult(
        check_id=cid,
        check_type=getattr(check, "type", "invariant"),
        category=category or _category(check),
        requirements=tuple(check.requirements),
        verdict=Verdict.ERROR,
        message=message,
    )
