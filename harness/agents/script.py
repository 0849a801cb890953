"""One case's conversation as the load generator plays it, without I/O: opened, its turns
in order (each text written ahead by the harness, or now when it reads the session or the
last reply), closed; what came back kept for the harness to judge. The steps are the
dialogue's (agents/dialogue.py), so captures, cookies, histories and streams behave as in
`harness run`; only the HTTP client differs (load/generator.py drives these steps over
locust's, and can play two scripts in lockstep, turn by turn).

Under a load's fault windows (`faults`, the schedule on the load's clock), a turn sent inside
a window with `accept_status` has those statuses in its contract, and a turn that failed
while in flight during a window (a status, a timeout, a broken connection, a malformed
reply) does not end the conversation, as in `harness run` (run/faulting.py); the harness
judges the turns again on the windows as they were applied (load/schedule.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from harness.agents.base import Reply
from harness.agents.dialogue import Dialogue, Steps
from harness.agents.protocol import not_given
from harness.core.failures import Failure
from harness.otel.context import CaseTrace
from harness.spec.models.agents import Turn
from harness.spec.template import Template, TemplateError


class Windows(Protocol):
    """The fault windows a script is played under (load/schedule.py's `Schedule`)."""

    def accepting(self, at: float) -> tuple[int, ...]: ...

    def excuses(self, at: float, end: float, failure: Failure) -> bool: ...


#: writes turn i's text from its template and the conversation's context (the persona's)
Writer = Callable[[int, Template, Mapping[str, Any]], str]


class Script:
    def __init__(
        self,
        dialogue: Dialogue,
        turns: Sequence[tuple[Template, Turn | None]],
        texts: Sequence[str | None],
        ctx: dict[str, Any],
        tool_results: Mapping[str, Any],
        write: Writer,
        trace: str | None = None,
        faults: Windows | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> None:
        self.dialogue = dialogue
        #: the case's trace (when the run traces): each turn carries its `traceparent`
        self.trace = CaseTrace(trace) if trace else None
        self.turns = turns
        self.texts = texts
        self.ctx = ctx
        self.write = write
        ctx["session"] = dialogue.session
        ctx["reply"] = None
        ctx["replies"] = {}
        ctx["statuses"] = {}
        ctx["texts"] = {}
        ctx["tool_results"] = tool_results
        self.faults = faults  # the load's fault windows, when its profile has any
        self.ok = ok  # the statuses a turn expects when it says none
        self.failure: Failure | None = None  # the open's (or the harness's own)
        self.stopped = False  # a turn failed (and no fault window excuses it)
        self.played: list[tuple[float, str, Reply]] = []  # (sent at, text, reply)

    @property
    def live(self) -> bool:
        """Opened, and no turn failed: its next turn is to be played."""
        return self.failure is None and not self.stopped

    def open(self) -> Steps:
        self.failure = yield from self.dialogue.open(self.ctx)

    def turn(self, i: int) -> Steps:
        template, turn = self.turns[i]
        given = self.texts[i] if i < len(self.texts) else None
        try:
            text = given if given is not None else self.write(i, template, self.ctx)
        except TemplateError as exc:  # reads a capture the agent never gave
            if (missing := not_given(exc, self.dialogue.session)) is None:
                raise
            self.played.append((time.time(), template.source, Reply(None, 0.0, None, missing)))
            self.stopped = True
            return
        self.ctx["turn"] = {"text": text, "index": i + 1}
        if self.trace is not None:
            self.ctx["traceparent"] = self.trace.traceparent(i)
        at = time.time()
        if self.faults is not None:
            turn = contract(turn, self.faults.accepting(at), self.ok)
        reply: Reply = yield from self.dialogue.send(text, turn, self.ctx)
        self.played.append((at, text, reply))
        if reply.failure is not None:
            end = at + reply.latency_ms / 1000
            excused = self.faults is not None and self.faults.excuses(at, end, reply.failure)
            self.stopped = not excused
        self.ctx["reply"] = self.ctx["replies"][str(i + 1)] = reply.data
        self.ctx["statuses"][str(i + 1)] = reply.status
        self.ctx["texts"][str(i + 1)] = reply.text

    def close(self) -> Steps:
        yield from self.dialogue.close(self.ctx)


def contract(turn: Turn | None, accept: tuple[int, ...], ok: tuple[int, ...]) -> Turn | None:
    """A turn sent during a fault with `accept_status`: its contract also expects those
    statuses, so an http agent's answer with one is read from its body and judged."""
    if not accept:
        return turn
    expected = list(turn.expect_status if turn and turn.expect_status else ok)
    statuses = expected + [s for s in accept if s not in expected]
    if turn is None:
        return Turn(expect_status=statuses)
    return turn.model_copy(update={"expect_status": statuses})
