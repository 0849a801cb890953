"""Cases for the load generator: planned, prepared ahead of demand, judged when they return.

The feeder plans an endless stream of the profile's scenarios (round robin, case `scenario#N`
replays with `harness replay`), inserts each case's setup rows a few seconds ahead of demand
in a bounded pool, hands prepared cases out (each watched: its trace, its service requests),
and judges each finished conversation with `Engine.conclude`, the same checks and scoped
invariants as `harness run`, storing the result at once with its place on the load's clock.
A share of cases goes out twice (a duplicate pair on the same rows; invariants.py), judged by
the scoped invariants that cover its rows alone (a pair no invariant covers: by nothing)."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import itertools
import random
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.agents.process import AgentProcessRunner
from harness.core import TWIN, Case, CaseResult, Failure, FailureKind, Observation, Verdict
from harness.empty import empty_list
from harness.load.ahead import Ahead
from harness.load.blame import blame, exit_to_blame
from harness.load.invariants import InvariantWatch, SetupGate
from harness.load.timeline import Timeline
from harness.load.wire import pack, read_outcome
from harness.run.engine import Engine, Prepared
from harness.run.plan import plan_case
from harness.runlog.levels import Levels, violations
from harness.runlog.models import LoadTag
from harness.runlog.store import RunLog
from harness.spec.load import ProfileBase, selected
from harness.spec.suite import Suite

CASE_COUNT = 1_000_000  # planned as one of many, so every case id carries its number
LOOKAHEAD = 2.0  # seconds of demand kept prepared
MIN_READY, MAX_READY = 8, 2000
MAX_JUDGING = 512  # conversations waiting for their verdicts before preparation pauses
PREPARERS = 4
JUDGES = 8  # database connections for judging (verdicts wait for one beyond that)


@dataclass
class Conversation:
    token: str
    prepared: Prepared
    wire: dict[str, Any]  # what the generator needs to play it (wire.py)
    at: list[float] = field(default_factory=empty_list)  # epoch seconds each turn was sent
    worker: int | None = None
    done: bool = False
    agent_exited: int | None = None  # the agent process's exit code, when its death failed this
    faults: list[int] = field(default_factory=empty_list)  # the fault windows it overlapped


@dataclass
class Item:
    """What one user plays: a conversation, or two identical ones at once (a pair)."""

    first: Conversation
    second: Conversation | None = None
    stagger: float = 0.0

    @property
    def conversations(self) -> list[Conversation]:
        return [self.first] if self.second is None else [self.first, self.second]

    def wire(self) -> dict[str, Any]:
        twin = None
        if self.second is not None:
            twin = {**self.second.wire, "stagger": self.stagger}
        return {**self.first.wire, "twin": twin}


@dataclass
class Counts:
    prepared: int = 0
    served: int = 0
    judged: int = 0  # conversations with verdicts stored
    passed: int = 0
    failed: int = 0
    errored: int = 0
    pairs: int = 0  # duplicate pairs judged
    violations: int = 0  # failed invariant checks among judged conversations
    abandoned: int = 0  # handed out, never came back (cut off by the end or an interrupt)
    unused: int = 0  # fetched by a generator process but never started
    setup_errors: int = 0
    agent_exited: int = 0  # failed because the agent process had exited: left out of the levels
    unjudged: int = 0  # conversations of pairs no scoped invariant covers


class Feeder:
    def __init__(
        self,
        suite: Suite,
        engine: Engine,
        log: RunLog,
        profile: ProfileBase,
        *,
        seed: int,
        watch: InvariantWatch,
        gate: SetupGate,
        timeline: Timeline,
        agent: AgentProcessRunner | None = None,
        ahead: Ahead | None = None,
    ) -> None:
        self.suite = suite
        self.ahead = ahead  # requests rendered here, for an http agent
        self.agent = agent  # the agent's process, when the harness started it
        self.engine = engine
        self.log = log
        self.watch = watch
        self.gate = gate
        self.timeline = timeline
        self.scenarios = selected(profile, list(suite.scenarios))
        self.duplicates = profile.duplicates
        self._rng = random.Random(seed)
        self._cases = self._stream(seed)
        self._tokens = itertools.count(1)
        self.ready: collections.deque[Item] = collections.deque()
        self._ready = asyncio.Event()
        self.outstanding: dict[str, tuple[Item, Conversation]] = {}
        self.judging: set[asyncio.Task[None]] = set()
        self.counts = Counts()
        self._served = 0
        self._rate = 0.0  # cases served per second, over the last second or so
        self._rate_mark = (time.monotonic(), 0)
        self._preparing = 0
        self.closed = False
        #: conversations judged per level (the users the profile drove); written to the
        #: manifest as `levels` during the run
        self.levels = Levels()
        #: the agent process's exit code and when (epoch seconds) the harness saw it gone
        self.agent_exit: int | None = None
        self.died_at: float | None = None

    def agent_died(self, code: int, at: float | None = None) -> None:
        if self.agent_exit is None:
            self.agent_exit, self.died_at = code, at if at is not None else time.time()

    # -- planning and preparing -----------------------------------------------------------
    def _stream(self, seed: int) -> Iterator[Case]:
        for index in itertools.count():
            for scenario in self.scenarios:
                yield plan_case(self.suite, scenario, index, seed, CASE_COUNT)

    def _target(self) -> int:
        now = time.monotonic()
        since, served = self._rate_mark
        if now - since >= 1.0:
            self._rate = (self._served - served) / (now - since)
            self._rate_mark = (now, self._served)
        t0 = self.timeline.t0
        elapsed = time.time() - t0 if t0 is not None else 0.0
        # before the first report, the users the profile starts with are coming
        users = max(self.timeline.current_users, self.timeline.level(elapsed))
        ahead = LOOKAHEAD
        if t0 is not None:  # never much more than the rest of the profile needs
            ahead = max(0.0, min(ahead, self.timeline.length - elapsed))
        return int(min(MAX_READY, MIN_READY + 2 * users + self._rate * ahead))

    def _needed(self) -> bool:
        if len(self.judging) >= MAX_JUDGING:
            return False  # judging lags: let users wait rather than grow without bound
        return len(self.ready) + self._preparing < self._target()

    async def fill(self) -> None:
        """Keep enough cases prepared; runs until the feeder is closed."""
        await asyncio.gather(*(self._preparer() for _ in range(PREPARERS)))

    async def _preparer(self) -> None:
        while not self.closed:
            if not self._needed():
                await asyncio.sleep(0.01)
                continue
            self._preparing += 1
            try:
                await self._prepare_one()
            finally:
                self._preparing -= 1

    async def _prepare_one(self) -> None:
        case = next(self._cases)
        pair = self._rng.random() < self.duplicates.share
        if case.setup and self.suite.invariants:  # rows a sample must not see half-inserted
            prepared = await self.gate.whole(self.engine.prepare(case, 1))
        else:
            prepared = await self.engine.prepare(case, 1)
        self.counts.prepared += 1
        if prepared.error is not None:  # the harness could not insert the rows: an error
            self.counts.setup_errors += 1
            self._store(
                Conversation("-", prepared, {}), await self.engine.conclude(prepared), "single"
            )
            return
        first = self._conversation(prepared)
        item = Item(first)
        if pair:
            item.second = self._conversation(self._twin(prepared))
            item.stagger = self.duplicates.stagger
        self.ready.append(item)
        self._ready.set()

    def _conversation(self, prepared: Prepared) -> Conversation:
        token = f"{next(self._tokens):x}"
        case = prepared.case
        ready, complete = (
            self.ahead.render(case.scenario, prepared.ctx, prepared.texts)
            if self.ahead is not None
            else ({}, False)
        )
        wire = {
            "token": token,
            "scenario": case.scenario,
            "persona": case.persona,
            "seed": case.persona_seed or case.seed,
            # params are sent once, in /config; nothing at all when nothing is left to render
            "ctx": None if complete else pack(prepared.ctx, leave=("params",)),
            "texts": prepared.texts,
            "ready": ready,
            "trace": prepared.obs.trace_id,  # its turns' traceparent (when the run traces)
        }
        return Conversation(token, prepared, wire)

    def _twin(self, prepared: Prepared) -> Prepared:
        """The same case again, on the same rows: its own session unless `session: same`."""
        case = prepared.case.renamed(prepared.case.id + TWIN)
        session = prepared.obs.session_id
        if self.duplicates.session == "separate":
            session = case.session_id(self.log.run_id, prepared.trial)
        case_ctx = {**prepared.ctx["case"], "id": case.id, "session_id": session}
        ctx = {**prepared.ctx, "case": case_ctx}
        rows, at = dict(prepared.obs.entities), prepared.obs.started_at
        obs = Observation(session_id=session, entities=rows, started_at=at)
        twin = Prepared(case, prepared.trial, ctx, obs, None, list(prepared.texts))
        self.engine.watch(twin)  # its own trace, its own service requests
        return twin

    # -- serving ---------------------------------------------------------------------------
    async def take(self, n: int, wait: float = 0.25) -> list[dict[str, Any]]:
        """Up to n prepared cases, waiting a moment for the first when none is ready."""
        if not self.ready and not self.closed:
            try:
                await asyncio.wait_for(self._ready.wait(), wait)
            except TimeoutError:
                return []
        out: list[dict[str, Any]] = []
        while self.ready and len(out) < n and not self.closed:
            item = self.ready.popleft()
            for conv in item.conversations:
                self.outstanding[conv.token] = (item, conv)
            self.counts.served += 1
            self._served += 1
            out.append(item.wire())
        if not self.ready:
            self._ready.clear()
        return out

    def returned(self, tokens: list[str]) -> None:
        """Cases a generator fetched but never started (it was stopping)."""
        for token in tokens:
            entry = self.outstanding.pop(str(token), None)
            if entry is not None:  # never played: its watch ends (spans, service requests)
                self._track(self.engine.unwatch(entry[1].prepared))
                self.counts.unused += entry[1] is entry[0].first

    def results(self, results: list[dict[str, Any]], worker: int | None) -> None:
        """Finished conversations: record their turns, judge each case once all are back."""
        for r in results:
            entry = self.outstanding.pop(str(r.get("token")), None)
            if entry is None:
                continue  # unknown or already returned: never judged twice
            item, conv = entry
            expected = len(conv.prepared.texts)
            obs = conv.prepared.obs
            obs.session = dict(r.get("session") or {})
            obs.calls = list(r.get("calls") or [])
            conv.prepared.ctx["session"] = obs.session
            conv.prepared.ctx.setdefault("reply", None)
            opened = Failure.from_stored(r.get("error"))
            if opened is not None:  # the conversation could not be opened
                obs.fail(opened)
            for i, turn in enumerate(r.get("turns") or []):
                if i >= expected:
                    break
                at, text, reply = read_outcome(turn)
                Engine.record(conv.prepared, i, text, reply, int(at * 1e9))
                conv.at.append(at)
            conv.faults = self.timeline.mark(conv.prepared, conv.at, self.engine.talk.ok)
            if len(obs.turns) < expected and obs.error is None:
                obs.error = Failure(
                    FailureKind.CUT_SHORT,
                    f"the load generator ended this conversation after {len(obs.turns)} of "
                    f"{expected} turns",
                )
            conv.worker, conv.done = worker, True
            if all(c.done for c in item.conversations):
                self._track(self._judge(item))

    def _track(self, work: Coroutine[Any, Any, None]) -> None:
        """Each conversation judged in a task of its own: a trace settling or a database check
        holds up no other, and the case timeout (and any timeout inside the judging) cancels
        that task, never the server's (a coroutine run eagerly in the caller's task, as
        Python 3.12's eager tasks do, would make the caller the one cancelled)."""
        self.judging.add(task := asyncio.create_task(work))  # `drain` waits for it
        task.add_done_callback(self.judging.discard)

    # -- judging ---------------------------------------------------------------------------
    async def _blame_exit(self, conv: Conversation) -> None:
        """Errors caused by the agent process's death say so (`load/blame.py`)."""
        obs = conv.prepared.obs
        if self.agent is None or (code := await exit_to_blame(obs, self.agent)) is None:
            return
        self.agent_died(code)
        died_at = self.died_at if self.died_at is not None else 0.0
        if blame(obs, conv.at, code, died_at):
            conv.agent_exited = code

    async def _judge(self, item: Item) -> None:
        convs = item.conversations  # each watch ended (both at once) before any judging
        if item.second is None:
            await self.engine.unwatch(item.first.prepared)
        else:
            await asyncio.gather(*(self.engine.unwatch(c.prepared) for c in convs))
        for conv in convs:
            await self._blame_exit(conv)
        if item.second is None:
            self._store(item.first, await self.engine.conclude(item.first.prepared), "single")
            return
        self.counts.pairs += 1  # judged pairs, as the report's count of judged conversations
        scenario = self.suite.scenario(item.first.prepared.case.scenario)
        first, second = item.first.prepared, item.second.prepared
        shared = await self.watch.scoped(scenario, [first.obs, second.obs], first.ctx)
        for conv, role in ((item.first, "first"), (item.second, "second")):
            p, checks = conv.prepared, list(shared)
            if p.obs.error is not None:  # the scenario's checks become errors, as in a run
                result = await self.engine.conclude(p)
            else:
                result = CaseResult(case=p.case, trial=p.trial, observation=p.obs, checks=checks)
            self._store(conv, result, role, pair=item.first.prepared.case.id)

    def _store(self, conv: Conversation, result: CaseResult, role: str, pair: str = "") -> None:
        obs = result.observation
        placed: dict[str, Any] = {}  # the tag made at once: a pydantic assignment each costs
        if conv.at:
            start = self.timeline.offset(conv.at[0])
            last = obs.turns[-1].latency_ms if obs.turns else 0.0
            obs.duration_ms = (conv.at[-1] - conv.at[0]) * 1000.0 + last
            obs.started_at = dt.datetime.fromtimestamp(conv.at[0], dt.UTC).isoformat(
                timespec="milliseconds"
            )
            placed = {
                "users": self.timeline.level(start),
                "active": self.timeline.active(start),
                "window": self.timeline.window(start),
                "start": round(start, 3),
                "at": [round(self.timeline.offset(a), 3) for a in conv.at],
            }
        load = LoadTag(
            role=role,
            pair=pair or None,
            worker=conv.worker,
            faults=conv.faults,
            # a conversation failed by the agent's death measures no load: out of the levels
            agent_exited=conv.agent_exited,
            **placed,
        )
        self.log.append(result, load=load)
        # both halves share their rows; each owns its own conversation's values
        self.watch.own(self.suite.scenario(result.case.scenario), obs, conv.prepared.ctx)
        c, judged = self.counts, bool(result.checks)
        c.judged += judged
        c.unjudged += not judged
        verdict = result.verdict
        c.passed += judged and verdict is Verdict.PASS
        c.failed += verdict is Verdict.FAIL
        c.errored += verdict is Verdict.ERROR
        c.violations += violations(result.checks, load)  # a pair's shared rows: once
        c.agent_exited += conv.agent_exited is not None
        self.levels.add(result.checks, load)

    async def drain(self, timeout: float) -> None:
        """Wait for the verdicts still being judged; those not done in time are cancelled."""
        if self.judging:
            _, pending = await asyncio.wait(set(self.judging), timeout=timeout)
            for task in pending:
                task.cancel()

    def close(self) -> None:
        """No more cases out; every one handed out and not back is abandoned (never judged:
        a conversation cut off is no observation)."""
        self.closed = True
        firsts = {id(item) for item, _ in self.outstanding.values()}
        self.counts.abandoned += len(firsts)
        self.outstanding.clear()
        self.ready.clear()
        self._ready.set()
