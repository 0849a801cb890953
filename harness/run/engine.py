"""The engine: runs cases concurrently against the agent and judges each against the spec.

Each case inserts its own freshly generated rows, talks to the agent through its
adapter, then every check of its scenario (output, state, invariant) gives a
verdict (run/judge.py). A finished case is handed to the sink at once (the run log
writes it) and announced as an event. Nothing the agent does can raise out of here:
what stops a case is a `Failure` with its kind on the observation.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.agents.base import AgentAdapter, Reply
from harness.agents.protocol import reads_conversation
from harness.check.state import Targets
from harness.core import Case, CaseResult, CheckResult, Failure, FailureKind, Observation
from harness.core.events import Emit
from harness.core.watch import Watcher
from harness.empty import empty_list
from harness.generate import filler
from harness.generate.identity import Identity
from harness.generate.personas import write_turn
from harness.run import drift, trials
from harness.run.converse import Step, Talk, case_fault, now_iso, record, step
from harness.run.deadline import Deadlines
from harness.run.faulting import CaseFaults, Plans, Shared
from harness.run.judge import Judge
from harness.run.rows import Held, RowWriter, row_values
from harness.run.tracing import Free, Watching
from harness.spec import clock
from harness.spec import models as m
from harness.spec.suite import Suite
from harness.spec.template import Template, TemplateError, concrete, format_value, render_deep

if TYPE_CHECKING:  # a run with faults imports it (session/faults)
    from harness.faults import LinkProxy

Sink = Callable[[CaseResult], None]


@dataclass
class Prepared:
    """A case whose rows are inserted and turns rendered, waiting for its conversation."""

    case: Case
    trial: int
    ctx: dict[str, Any]
    obs: Observation
    error: Failure | None = None
    #: every turn's text, written ahead; None for a turn that reads the session or the last
    #: reply (`session.*`, `reply.*`), written by whoever holds the conversation
    texts: list[str | None] = field(default_factory=empty_list)
    #: the turns played (a drift case's filler)
    steps: list[Step] = field(default_factory=empty_list)
    started: float = field(default_factory=time.perf_counter)
    now: dt.datetime = field(default_factory=clock.now)  # the case's moments resolve here


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
        identity: Identity | None = None,
        watchers: Sequence[Watcher] = (),
        traced: bool = False,
        links: Mapping[str, LinkProxy] | None = None,
    ) -> None:
        self.suite = suite
        self.agent = agent
        self.targets = targets
        self.run_id = run_id
        self.concurrency = max(1, concurrency)
        self.case_timeout = case_timeout
        self.deadlines = Deadlines(case_timeout)  # every case's timeout, on one timer
        self.emit = emit
        self.sink = sink
        self.params = suite.params
        self._cache: dict[str, Template] = {}
        self._turns = {s.id: [step(t) for t in s.turns] for s in suite.scenarios}
        self._variants: dict[str, list[list[Step]]] = {
            s.id: [[step(t) for t in v] for v in s.variants] for s in suite.scenarios
        }
        self._scenarios = {s.id: s for s in suite.scenarios}
        self._pools = filler.pools(suite.manifest.filler)
        self.judge = Judge(suite, targets, self._cache)
        self.watching = Watching(run_id, watchers, traced)
        self.talk = Talk(agent, self.judge, self._write, self.watching)
        http = suite.manifest.environment.agent.http
        self.talk.ok = tuple(http.ok_status) if http is not None else (200,)
        #: what each trial and variant inserts afresh (what must be unique)
        self.identity = identity or Identity({}, suite.database_for, self.params)
        self.rows = RowWriter()  # declared unique keys checked on the real rows
        self.links = dict(links or {})  # the fault proxies by link (runs that use faults)
        self.shared = Shared()  # a faulted phase's whole-case toxics, while its cases run
        self.plans = Plans(suite, self._scenarios)  # each scenario's faults, found once

    async def run(self, cases: Iterable[Case], trials: int = 1) -> int:
        """Run every case `trials` times with `concurrency` workers; return how many ran.

        Trial-major: every case's trial 1 before any trial 2, so the trials of one case
        (same inputs, same names and PINs) rarely run at the same moment, and a run cut
        short has judged as many distinct cases as it could."""
        listed = list(cases)
        return await self.run_trials((c, t) for t in range(1, trials + 1) for c in listed)

    async def run_trials(self, pairs: Iterable[tuple[Case, int]]) -> int:
        """Run exactly these (case, trial) pairs, `concurrency` at a time (a watched case in a
        concurrent run frees its place once its conversations end, while it waits for late
        spans: one at a time stays one case at a time); a resumed run passes the missing ones.
        See run/trials.py."""
        early = bool(self.watching.watchers) and self.concurrency > 1
        if not early and self.plans.never_alone:
            return await trials.pooled(self, pairs)
        return await trials.slotted(self, pairs, early)

    def alone(self, case: Case) -> bool:
        return self.plans.of(case)[1]

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
            "fault": {  # run_case's own
                "profile": case.fault,
                "applied": False,
                "turns": [],
                "hit": False,
                "accepted": [],
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
        with clock.pinned(prepared.now):
            try:
                prepared.error = await self._setup(case, scenario, prepared.ctx, prepared.obs)
                turns = self.script(case, prepared.ctx) if prepared.error is None else []
                prepared.steps = turns
                for i, (template, _, _) in enumerate(turns):
                    live = reads_conversation(template.source, self._cache)
                    prepared.texts.append(
                        None if live else self._write(case, template, prepared.ctx, i, len(turns))
                    )
            except TemplateError as exc:  # a template of the suite's own that cannot be rendered
                prepared.error = case_fault(exc, scenario)
        if prepared.error is None:
            self.watch(prepared)
        return prepared

    def watch(self, p: Prepared) -> None:
        """Begin a prepared conversation's watch (`conclude` or `unwatch` ends it)."""
        scenario = self._scenarios[p.case.scenario]
        self.watching.begin(p.case, p.trial, None, scenario, p.ctx, p.obs)

    async def unwatch(self, p: Prepared) -> None:
        """End the watch of a prepared conversation (judged, or never played)."""
        await self.watching.end_case(p.case.id, p.trial)

    @staticmethod
    def record(prepared: Prepared, index: int, text: str, reply: Reply, sent_ns: int = 0) -> None:
        source = prepared.steps[index][2] if index < len(prepared.steps) else None
        prepared.obs.turns.append(record(index + 1, text, reply, source, sent_ns))
        prepared.ctx["reply"] = reply.data
        said = {"replies": reply.data, "statuses": reply.status, "texts": reply.text}
        for name, value in said.items():
            prepared.ctx.setdefault(name, {})[str(index + 1)] = value
        prepared.ctx["turn"] = {"text": text, "index": index + 1}
        if reply.failure is not None:
            prepared.obs.fail(reply.failure.at(turn=index + 1))

    async def conclude(self, prepared: Prepared) -> CaseResult:
        """Judge a conversation held elsewhere, against the same checks as `run_case`."""
        scenario = self._scenarios[prepared.case.scenario]
        obs = prepared.obs
        if prepared.error is not None:
            obs.error = prepared.error
        await self.unwatch(prepared)  # bounded: before judging, whatever became of it
        try:
            # the run's case timeout, on the engine's one timer (run/deadline.py), as in
            # `run_case`: not a timer handle made and cancelled per conversation
            with self.deadlines(), clock.pinned(prepared.now):
                checks = await self.judge.case(scenario, prepared.ctx, obs, {})
        except TimeoutError:  # as in `run_case`: the case timeout, not a harness fault
            obs.error = Failure(
                FailureKind.CASE_TIMEOUT,
                f"judging the conversation did not finish within {self.case_timeout:g} s",
            )
            checks = self.judge.errors(scenario, prepared.ctx, obs.error)
        except Exception as exc:
            obs.error = case_fault(exc, scenario)
            checks = self.judge.errors(scenario, prepared.ctx, obs.error)
        obs.duration_ms = (time.perf_counter() - prepared.started) * 1000.0
        return CaseResult(case=prepared.case, trial=prepared.trial, observation=obs, checks=checks)

    async def run_case(self, case: Case, trial: int = 1, free: Free | None = None) -> CaseResult:
        """One trial of a case; `free` is called once its conversations have ended."""
        with clock.pinned():  # one clock for the case's rows, turns and checks
            scenario = self._scenarios[case.scenario]
            session_id = case.session_id(self.run_id, trial)
            obs = Observation(session_id=session_id, started_at=now_iso())
            ctx = self.context(case, session_id, trial)
            started = time.perf_counter()
            checks: list[CheckResult] = []
            broke: dict[str, CheckResult] = {}  # first failures of checks judged after every turn
            planned = self.plans.of(case)[0]  # none: no schedule, the `fault` context as made
            faults = CaseFaults(planned, self.links, self.shared, case.fault) if planned else None
            if faults is not None:
                ctx["fault"], obs.faults = faults.context, faults.windows
            try:
                with self.deadlines():
                    setup_error = await self._setup(case, scenario, ctx, obs)
                    if setup_error:
                        obs.error = setup_error
                    else:
                        steps = self.script(case, ctx)
                        if faults is not None:
                            faults.start()
                        await self.talk.converse(
                            case, scenario, steps, ctx, obs, broke, None, faults
                        )
                    observed = (
                        await self._variants_run(case, scenario, ctx, obs)
                        if scenario.variants
                        else {}
                    )
                    if free is not None:
                        free()  # the conversations are over: the next case may start
                    if self.watching.watchers:
                        await self.watching.end_case(case.id, trial)  # bounded, before judging
                    if faults is not None:
                        faults.observe()  # fault.hit as the proxy saw it until now
                    checks = await self.judge.case(scenario, ctx, obs, observed, broke)
            except TimeoutError:
                obs.error = Failure(
                    FailureKind.CASE_TIMEOUT,
                    f"the case did not finish within {self.case_timeout:g} s",
                )
                checks = self.judge.errors(scenario, ctx, obs.error)
            except Exception as exc:  # a harness-side fault; recorded, the run goes on
                obs.error = case_fault(exc, scenario)
                checks = self.judge.errors(scenario, ctx, obs.error)
            finally:  # every way out ends the watch (the spans are evidence of an error too)
                if faults is not None:
                    faults.close()  # and removes the case's faults still applied
                if self.watching.watchers:
                    await self.watching.end_case(case.id, trial)
            obs.duration_ms = (time.perf_counter() - started) * 1000.0
            return CaseResult(case=case, trial=trial, observation=obs, checks=checks)

    async def _setup(
        self,
        case: Case,
        scenario: m.Scenario,
        ctx: dict[str, Any],
        obs: Observation,
        variant: int = 0,
    ) -> Failure | None:
        trial = int(ctx["case"]["trial"])
        attempts: dict[str, int] = {}
        slot = self.identity.slot(scenario, case, trial, variant)
        ctx["vars"] = obs.vars = slot.vars  # the trial's own unique values, turns and checks
        for name in slot.setup:
            row_spec = scenario.setup[name]
            db = self.targets.databases[self.suite.database_for(row_spec.database, "postgres")]
            for attempt in range(1, TAKEN_RETRIES + 2):
                values = slot.setup[name]
                keys = self.identity.declared(scenario, name)
                try:
                    row = row_values(row_spec, values, ctx, self._cache)
                    row = await self.rows.insert(db, row_spec.table, keys, concrete(row))
                    break
                except Exception as exc:
                    taken = isinstance(exc, Held) or self.identity.taken(scenario, name, exc)
                    if attempt <= TAKEN_RETRIES and taken:
                        # another case's row or the seed data holds the value: draw again
                        attempts[name] = attempt
                        slot = self.identity.slot(scenario, case, trial, variant, attempts)
                        ctx["vars"] = obs.vars = slot.vars
                        continue
                    return Failure(
                        FailureKind.SETUP,
                        f"setup of {name} ({row_spec.table}) failed: {type(exc).__name__}: {exc}",
                    )
            ctx[name] = row
            obs.entities[name] = row
            self.judge.own(row_spec.table, row)
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
            return format_value(template.render(ctx))  # render_text without a literal
        n = turns or len(self._turns[case.scenario])
        return write_turn(template, ctx, case.persona, case.persona_seed or case.seed, i, n)

    def script(self, case: Case, ctx: Mapping[str, Any]) -> list[Step]:
        """The turns a case plays: its scenario's, or a drift case's at its point, the filler
        drawn from the case's seed and passing over any line that names one of its facts."""
        scenario = self._scenarios[case.scenario]
        turns = self._turns[case.scenario]
        if scenario.drift is None or case.length is None:
            return turns
        chosen = scenario.drift.pools or sorted(self._pools)
        lines = filler.filler(
            case.seed,
            {name: self._pools[name] for name in chosen},
            case.length,
            filler.facts_of(drift.facts(ctx)),
        )
        composed = drift.compose(scenario, turns, lines, case.length, case.position or drift.START)
        return [
            (item[0], item[1], source)
            if isinstance(item, tuple)
            else (self._line(item), None, source)
            for item, source in composed
        ]

    def _line(self, line: filler.Line) -> Template:
        if line.text not in self._cache:
            self._cache[line.text] = Template(line.text)
        return self._cache[line.text]

    async def _variants_run(
        self, case: Case, scenario: m.Scenario, ctx: dict[str, Any], obs: Observation
    ) -> dict[str, list[Any]]:
        """Each rewording on its own fresh rows; what the checks that compare variants
        observe after the scenario's own turns (first) and after every variant."""
        observed: dict[str, list[Any]] = {}
        if obs.error is not None:
            return observed
        await self.judge.observe(scenario, ctx, observed)
        for k, templates in enumerate(self._variants[scenario.id], start=1):
            vobs = Observation(session_id=f"{obs.session_id}-v{k}")
            vctx = self.context(case, vobs.session_id, int(ctx["case"]["trial"]))
            error = await self._setup(case, scenario, vctx, vobs, variant=k)
            if error is None:
                await self.talk.converse(case, scenario, templates, vctx, vobs, variant=k)
            else:
                vobs.error = error
            obs.variants.append(vobs)
            if vobs.error is not None:  # the variant's failure keeps its kind (the agent's?)
                obs.error = vobs.error.at(variant=k)
                return observed
            await self.judge.observe(scenario, vctx, observed)
        return observed

    async def sweep_invariants(self) -> list[CheckResult]:
        return await self.judge.sweep()


TAKEN_RETRIES = 5  # fresh draws of a setup row whose unique value another row already holds
