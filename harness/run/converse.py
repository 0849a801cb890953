"""One conversation with the agent: opened (login, open), its turns, closed on every way out.

The turns are the scenario's script (a drift case's with its filler and remembered turns
placed, `run/drift.py`); after each reply a reactive user (`run/user.py`) may answer what
the agent asked, and the checks judged after every turn (`every_turn`) are judged, the
first failure of each kept with its turn. The session's captures and the last reply are in
the templates of later turns and of the checks (`session.*`, `reply.*`)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.agents.base import AgentAdapter, Reply
from harness.agents.protocol import not_given
from harness.agents.script import contract
from harness.core import Case, CheckResult, Failure, FailureKind, Observation, TurnRecord
from harness.run.faulting import CaseFaults, recover
from harness.run.judge import Judge
from harness.run.tracing import Watching
from harness.run.user import ReactiveUser
from harness.spec import models as m
from harness.spec.template import Template, TemplateError

#: a turn to play: its text template, its contract when written as a mapping, where it came
#: from (None: the scenario's script; `filler:<pool>`, `remember`, `probe`)
Step = tuple[Template, "m.Turn | None", "str | None"]
Writer = Callable[[Case, Template, Mapping[str, Any], int, int], str]
CLOSE_TIMEOUT = 5.0  # seconds a conversation's close may take (best effort)


class Talk:
    """Plays conversations for the engine."""

    def __init__(
        self, agent: AgentAdapter, judge: Judge, write: Writer, watching: Watching | None = None
    ) -> None:
        self.agent = agent
        self.watching = watching or Watching("")
        self.judge = judge
        self.write = write
        self.health: str | None = None  # the agent's health URL, for recovery checks
        self.ok: tuple[int, ...] = (200,)  # the statuses an http agent's turn expects
        self._users: dict[str, ReactiveUser] = {}

    def user(self, scenario: m.Scenario) -> ReactiveUser | None:
        if scenario.user is None:
            return None
        if scenario.id not in self._users:
            self._users[scenario.id] = ReactiveUser(scenario.user, self.judge.cache)
        return self._users[scenario.id]

    async def converse(
        self,
        case: Case,
        scenario: m.Scenario,
        steps: Sequence[Step],
        ctx: dict[str, Any],
        obs: Observation,
        broke: dict[str, CheckResult] | None = None,
        variant: int | None = None,
        faults: CaseFaults | None = None,
    ) -> None:
        """Play `steps` (the scenario's, or variant `variant`'s), watched from before its first
        request (`run/tracing.py`; the engine ends the watch: when the run traces, each turn
        carries its `traceparent`, which the adapters send as a header); `broke` collects the
        first failure of each check judged after every turn (by check id), for the verdicts.
        `faults`: the case's fault schedule, told of each turn; a turn that failed while a
        fault was active is recorded and the conversation goes on; after the last turn the
        `recovery` checks are measured in the same conversation (`run/faulting.py`)."""
        conversation = self.agent.conversation(ctx)
        ctx["session"] = conversation.session
        ctx["reply"] = None
        ctx["replies"] = {}  # every turn's reply by its number: {{ replies.1.state }}
        ctx["statuses"] = {}  # every turn's HTTP status by its number: {{ statuses.2 }}
        ctx["texts"] = {}  # every turn's reply text, whatever the agent's shape: {{ texts.2 }}
        ctx["tool_results"] = scenario.tool_results
        user = None if scenario.user is None else self.user(scenario)
        if user is not None:
            ctx["user"] = user.facts(ctx, self.judge.cache)
        per_turn = self.judge.per_turn(scenario)
        number = 0
        trial = int(ctx["case"]["trial"])
        watching = self.watching
        trace = None
        if watching.watchers or watching.traced:  # else nothing to begin (trace_id stays None)
            watching.begin(case, trial, variant, scenario, ctx, obs)
            trace = watching.trace(case, trial, variant)
        try:
            # a conversation that says it opens nothing (`opens`) needs no coroutine for it
            failure = await conversation.open(ctx) if getattr(conversation, "opens", True) else None
            if failure is not None:
                obs.fail(failure)
                return
            for i, (template, turn, source) in enumerate(steps):
                try:
                    text = self.write(case, template, ctx, i, len(steps))
                except TemplateError as exc:  # reads a capture the agent never gave
                    if (missing := not_given(exc, conversation.session)) is None:
                        raise
                    reply = Reply(None, 0.0, None, missing)
                    obs.turns.append(
                        record(number + 1, template.source, reply, source, time.time_ns())
                    )
                    obs.fail(missing.at(turn=number + 1))
                    return
                answers = 0
                while True:
                    number += 1
                    ctx["turn"] = {"text": text, "index": number}
                    if trace is not None:
                        ctx["traceparent"] = trace.traceparent(number - 1)
                    accept: tuple[int, ...] = ()
                    if faults is not None:
                        faults.before_turn(number)
                        accept = faults.accepting(number)
                    asked = contract(turn, accept, self.ok) if accept else turn
                    sent = time.time_ns()
                    reply = await conversation.send(text, asked, ctx)
                    if faults is not None and faults.accepts(number, reply.status):
                        reply = accepted(reply, number, faults, self.ok)
                    obs.turns.append(record(number, text, reply, source, sent))
                    key = str(number)
                    ctx["reply"] = ctx["replies"][key] = reply.data
                    ctx["statuses"][key] = reply.status
                    ctx["texts"][key] = reply.text
                    if faults is not None:
                        faults.after_reply(number)
                    excused = faults is not None and faults.excuses(number, reply.failure)
                    if reply.failure is not None and not excused:
                        obs.fail(reply.failure.at(turn=number))
                        return
                    if per_turn and broke is not None:
                        await self.judge.after_turn(scenario, ctx, obs, number, broke)
                    said = user.answer(reply.text, ctx) if user is not None else None
                    if said is None or user is None or answers >= user.spec.max_answers:
                        break
                    answers += 1
                    text, source, turn = said[0], f"answer:{said[1]}", None
            if faults is not None and variant is None:
                await recover(
                    scenario, faults, conversation, ctx, obs, number, self.health, record, trace
                )
        finally:
            if conversation.closes:
                with contextlib.suppress(Exception):  # best effort: recorded, never judged
                    async with asyncio.timeout(CLOSE_TIMEOUT):  # no task of its own
                        await conversation.close(ctx)
            obs.session = dict(conversation.session)
            obs.calls = [c.to_dict() for c in conversation.calls] if conversation.calls else []


def accepted(reply: Reply, number: int, faults: CaseFaults, ok: tuple[int, ...]) -> Reply:
    """A turn answered with a status its fault accepts: recorded with that status, judged by
    the checks (`fault.accepted`), never the agent's failure."""
    if reply.status not in ok:
        faults.context["accepted"].append(number)
    if reply.failure is not None and reply.failure.kind is FailureKind.STATUS:
        return dataclasses.replace(reply, failure=None)  # an adapter without turn contracts
    return reply


def record(
    index: int, text: str, reply: Reply, source: str | None = None, sent_ns: int = 0
) -> TurnRecord:
    return TurnRecord(
        index=index,
        text=text,
        reply=reply.text,
        latency_ms=round(reply.latency_ms, 3),
        status=reply.status,
        error=reply.failure,
        data=reply.data,
        first_byte_ms=None if reply.first_byte_ms is None else round(reply.first_byte_ms, 3),
        usage=reply.usage,
        tool_calls=reply.tool_calls,
        finish_reason=reply.finish_reason,
        source=source,
        sent_ns=sent_ns,
    )


_NOW: list[Any] = [0, ""]  # the second last formatted, and its text


def now_iso() -> str:
    """The current UTC time to the second, as ISO text (formatted once a second: cases
    start thousands of times a second)."""
    second = int(time.time())
    if second != _NOW[0]:
        _NOW[0], _NOW[1] = second, dt.datetime.fromtimestamp(second, dt.UTC).isoformat()
    return str(_NOW[1])


def step(turn: str | m.Turn) -> Step:
    if isinstance(turn, str):
        return Template(turn), None, None
    return Template(turn.text), turn, None


def case_fault(exc: BaseException, scenario: m.Scenario) -> Failure:
    """What a case raised: a template of the suite's own that cannot be rendered is the
    suite's mistake, named with its scenario; anything else is the harness's fault."""
    if isinstance(exc, TemplateError):
        return Failure(FailureKind.SUITE, f"suite template error in scenario {scenario.id}: {exc}")
    return Failure(FailureKind.HARNESS, f"harness fault: {type(exc).__name__}: {exc}")
