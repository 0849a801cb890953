"""The one rule for a load run's levels, shared by the live feeder, the load report and the
sign-off: which level a judged conversation belongs to, whether it passed, what it violated.

A conversation belongs to the level of users the profile drove when it started; 0 users
(a profile ramping down) is no level, and a conversation failed by the agent process's
death measures the crash, not the load, so it is in no level either; nor is one that
overlapped a fault window of the profile (it measures the fault: the load report's fault
windows show it). It passes when every
check of it passed (an error is never a pass). Its failed invariant checks count as
violations, except for the second conversation of a duplicate pair, whose rows are the
first's (counted once).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from harness.core import Category, CheckResult, Verdict
from harness.runlog.models import LoadLevel, LoadTag, TrialRecord


def level_of(tag: LoadTag | None) -> int | None:
    if tag is None or tag.users is None or tag.users <= 0 or tag.agent_exited is not None:
        return None
    if tag.faults:
        return None
    return int(tag.users)


def passed(checks: Sequence[CheckResult]) -> bool:
    return all(c.verdict is Verdict.PASS for c in checks)


def violations(checks: Sequence[CheckResult], tag: LoadTag | None) -> int:
    if tag is not None and tag.role == "second":
        return 0
    return sum(1 for c in checks if c.category == Category.INVARIANT and c.verdict is Verdict.FAIL)


class Levels:
    """Conversations judged per level, as they come."""

    def __init__(self) -> None:
        self._by_users: dict[int, list[int]] = {}  # users -> [trials, passes, violations]

    def add(self, checks: Sequence[CheckResult], tag: LoadTag | None) -> None:
        users = level_of(tag)
        if users is None or not checks:  # no checks (an uncovered pair's half): no verdict
            return
        tally = self._by_users.setdefault(users, [0, 0, 0])
        tally[0] += 1
        tally[1] += passed(checks)
        tally[2] += violations(checks, tag)

    def table(self) -> list[LoadLevel]:
        """By users, fewest first."""
        return [
            LoadLevel(
                users=users,
                trials=t,
                passes=p,
                pass_rate=round(p / t, 6) if t else None,
                invariant_violations=v,
            )
            for users, (t, p, v) in sorted(self._by_users.items())
        ]


def levels_of(records: Iterable[TrialRecord]) -> list[LoadLevel]:
    levels = Levels()
    for record in records:
        levels.add(record.checks, record.load)
    return levels.table()
