"""The clock of a load run: when the profile started, how many users it asked for and had.

Every conversation is placed on this clock: the window it started in, the users
the profile was driving then (its level) and the users actually running (as the
load generator last reported them).
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from harness.load.schedule import judge_turns
from harness.load.windows import FaultWindows
from harness.run.engine import Prepared
from harness.spec.load import Stage, users_at


class Timeline:
    def __init__(self, stages: list[Stage], length: float, window: float) -> None:
        self.stages = stages
        self.length = length
        self.window_seconds = window
        self.t0: float | None = None  # epoch seconds when the generator started the profile
        self._times: list[float] = []
        self._users: list[int] = []
        self.faults: FaultWindows | None = None  # the profile's fault windows, when it has any

    def start(self, t0: float) -> None:
        if self.t0 is None:
            self.t0 = t0

    def offset(self, epoch: float) -> float:
        if self.t0 is None:
            self.t0 = epoch  # results before the first status report: start the clock there
        return epoch - self.t0

    def report(self, epoch: float, users: int) -> None:
        """The generator's count of running users at a moment."""
        at = self.offset(epoch)
        if self._times and at < self._times[-1]:
            return  # reports from several processes may cross; keep the clock monotonic
        self._times.append(at)
        self._users.append(users)

    def mark(
        self, prepared: Prepared, sent: list[float], ok: tuple[int, ...] = (200,)
    ) -> list[int]:
        """The fault windows (1-based) a conversation overlapped, from its first turn sent to
        its last reply (epoch seconds), put into its observation and its checks' context. As
        in a run, a turn that failed while in flight during a window (an HTTP status, a
        timeout, a broken connection, a malformed reply) is recorded and the conversation
        went on: its checks judge it (`when: "{{ fault.applied }}"`); a status a window's
        `accept_status` lists is part of the contract then (`fault.accepted`); `ok`: the
        statuses a turn expects when it says none (load/schedule.py)."""
        if self.faults is None or not sent:
            return []
        obs = prepared.obs
        last = obs.turns[-1].latency_ms / 1000 if obs.turns else 0.0
        hit = self.faults.mark(obs, sent, sent[-1] + last, prepared.ctx)
        expected = [
            tuple(turn.expect_status) if turn is not None and turn.expect_status else ok
            for _, turn, _ in prepared.steps
        ]  # judged whether it overlapped one or not: the generator plays by the plan
        judge_turns(self.faults.schedule(), obs, sent, expected, prepared.ctx["fault"])
        return hit

    def level(self, at: float) -> int:
        """The users the profile asked for at `at` (its last stage's after the end)."""
        now = users_at(self.stages, max(at, 0.0), self.length)
        return now[0] if now is not None else self.stages[-1].users

    def active(self, at: float) -> int:
        i = bisect.bisect_right(self._times, at) - 1
        return self._users[i] if i >= 0 else 0

    def window(self, at: float) -> int:
        return max(0, math.floor(at / self.window_seconds))

    @property
    def current_users(self) -> int:
        return self._users[-1] if self._users else 0

    def samples(self) -> list[list[Any]]:
        """[[seconds, users], ...] with repeats of the same count dropped, for the manifest."""
        out: list[list[Any]] = []
        for t, u in zip(self._times, self._users, strict=True):
            if not out or out[-1][1] != u:
                out.append([round(t, 3), u])
        if self._times and out[-1][0] != round(self._times[-1], 3):
            out.append([round(self._times[-1], 3), self._users[-1]])
        return out
