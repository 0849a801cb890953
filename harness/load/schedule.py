"""A load's fault windows as a conversation meets them: which statuses a turn sent at a
moment may be answered with (`accept_status`), and whether a failed turn is excused.

The same rules as a run's faults (run/faulting.py): a turn that failed (a status, a timeout,
a broken connection, a malformed reply) while in flight during a window is recorded and the
conversation goes on, unless the windows on while it was in flight list `accept_status`: then
one of those statuses is part of the turn's contract (recorded with its status and its body as
the reply, `{{ statuses.N }}`, `{{ fault.accepted }}`), and any other failed status is the
agent's. Outside every window nothing is excused.

A window is on the load's clock, not between turns as a run's faults are, so a turn sent
just before one starts may be answered inside it: a window's statuses count for every turn in
flight while it was on. The load generator plays by the profile's schedule (`planned`: the
load's start plus each window's `at` and `for`), a turn's contract holding the statuses of
every window that starts before its timeout, whether or not it has ended by the plan: the
harness removes a window on its own loop, a moment after its planned end or, on a busy
machine, later, and an accepted status must have been read as a reply (its body). The
harness judges again by the windows as they were applied (`FaultWindows.schedule`), which
decides: a status no window in flight accepted is the agent's failure (the conversation's
error), though the generator read its body and played the conversation on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.core.failures import Failure, FailureKind
from harness.core.types import Observation
from harness.run.faulting import EXCUSED

STATUS = FailureKind.STATUS


@dataclass(frozen=True, slots=True)
class Window:
    on: float  # epoch seconds
    off: float | None  # None: still on
    accept: tuple[int, ...] = ()


#: how long after a window's planned end the load generator still excuses a failed turn: the
#: harness removes the window on its own loop a moment after that end, and judges by the
#: windows as applied, so a turn that failed in between is excused there; the generator keeps
#: such a conversation going rather than ending it on a failure the harness will excuse
LATE_REMOVAL = 1.0


class Schedule:
    def __init__(
        self, windows: Sequence[Window], grace: float = 0.0, accept_grace: float = 0.0
    ) -> None:
        self.windows = list(windows)
        self.grace = grace  # a failure in flight this long after a window's end is excused
        self.accept_grace = accept_grace  # a window's statuses count this long after its end

    @classmethod
    def planned(cls, faults: Sequence[Sequence[Any]], t0: float) -> Schedule:
        """From the generator's config (`[at, end, [statuses]]` per window) and the start: a
        window's statuses are read as replies from its start on, however late the harness
        removes it; its failures are excused for `LATE_REMOVAL` past its end."""
        windows = [Window(t0 + float(a), t0 + float(e), tuple(s)) for a, e, s in faults]
        return cls(windows, grace=LATE_REMOVAL, accept_grace=math.inf)

    def accepting(self, at: float, end: float | None = None) -> tuple[int, ...]:
        """The statuses the windows on at any moment from `at` to `end` (or within the
        schedule's `accept_grace` after their end) accept."""
        out: list[int] = []
        for w in self._on(at, at if end is None else end, self.accept_grace):
            out += [s for s in w.accept if s not in out]
        return tuple(out)

    def in_flight(self, at: float, end: float) -> bool:
        """A turn sent at `at` and answered at `end` was in flight while a window was on (or
        within the schedule's grace after it ended)."""
        return bool(self._on(at, end, self.grace))

    def excuses(self, at: float, end: float, failure: Failure) -> bool:
        if failure.kind not in EXCUSED or not self.in_flight(at, end):
            return False
        return not (failure.kind is STATUS and self.accepting(at, end))

    def _on(self, at: float, end: float, grace: float = 0.0) -> list[Window]:
        return [w for w in self.windows if (w.off is None or at < w.off + grace) and end >= w.on]


def judge_turns(
    schedule: Schedule,
    obs: Observation,
    sent: Sequence[float],
    expected: Sequence[tuple[int, ...]],
    fault: dict[str, Any],
) -> None:
    """A load conversation's turns judged on the windows as applied: `obs.error` is its
    first failure no window excuses (or the failure its conversation ended on); a turn
    answered with a status outside its own contract (`expected`, per turn) that a window on
    when it was sent accepts goes into `fault["accepted"]`, else it is the agent's failure,
    also after the conversation's first (the generator plays on past a status some window
    accepts: each turn says what it was)."""
    if obs.error is not None and obs.error.turn is None:
        return  # the conversation could not be opened
    error: Failure | None = None
    accepted: list[int] = []
    for k, turn in enumerate(obs.turns, 1):
        at = sent[k - 1] if k - 1 < len(sent) else 0.0
        end = at + turn.latency_ms / 1000
        allowed = expected[k - 1] if k - 1 < len(expected) else (200,)
        accept = schedule.accepting(at, end)
        failure = turn.error
        outside = turn.status is not None and turn.status not in allowed
        if outside and turn.status in accept:
            if failure is None:
                accepted.append(k)  # part of the contract while the window was on
                continue
            if failure.kind is STATUS:
                # on by the windows as applied but not by the generator's plan (a generator
                # whose clock differs): excused, its body was not read as a reply
                turn.error = failure.with_message(
                    f"HTTP {turn.status}, accepted by a fault window the load generator did "
                    "not count as on (its clock differs): its body was not read as a reply"
                )
                continue
        if failure is None and outside:
            failure = turn.error = Failure(  # read as a reply: no window accepted it after all
                STATUS, f"HTTP {turn.status} while no fault window accepting it was on"
            )
        if failure is None or schedule.excuses(at, end, failure):
            continue
        if error is None:  # the conversation's error: its first; every turn's is kept
            error = failure.at(turn=k)
    if error is None and obs.turns and len(obs.turns) < len(expected):
        last = obs.turns[-1]
        if last.error is not None:  # the generator ended the conversation there
            error = last.error.at(turn=last.index)
    obs.error = error
    fault["accepted"] = accepted
