"""A drift failure shrunk to the shortest conversation that still fails.

A hunt draws a drift scenario's length (and, when it has remembered turns, their position)
with its other inputs. A case that fails is then played again, with the same inputs, filler
and position, at shorter lengths: at 0 first, then by bisection between the longest length
seen passing and the shortest seen failing, so the saved case is the shortest conversation
that still fails the same way (its check, or its root cause), on the scenario's grid of
lengths or not. Bisection assumes that a failure seen at some length is seen at every longer
one (a context window's shape); a failure that comes and goes with length may be saved at a
longer length than its shortest.

Each probe is confirmed by replaying it, by the rule the hunt confirms a failure with: a
length where the failure shows in one run fails (a failure seen is a failure; the saved case
is confirmed and its rate measured as any other), and a length passes only when it passes
every run of as many as a failure of the rate seen at the found length needs to show with
95% probability (`regressions.flaky_trials`), at least MIN_PASSES.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.core import CaseResult, CheckResult, Verdict
from harness.run import drift, regressions
from harness.spec import models as m

if TYPE_CHECKING:
    from harness.modes.hunter import Divergence, Hunter

MIN_PASSES = 2  # a passing probe is replayed at least once: one pass of it proves little


def bisect(fails: Callable[[int], bool], failing: int, floor: int = 0) -> tuple[int, int | None]:
    """(the shortest length in [floor, failing] at which `fails` holds, the longest length
    seen passing below it or None), given that `failing` fails: `floor` first, then halving
    the gap between the longest passing and the shortest failing length. At most
    ceil(log2(failing - floor)) + 1 probes."""
    if failing <= floor or fails(floor):
        return min(failing, floor), None
    passing = floor
    while failing - passing > 1:
        mid = (passing + failing) // 2
        if fails(mid):
            failing = mid
        else:
            passing = mid
    return failing, passing


def probe(once: Callable[[], bool], passes: int) -> bool:
    """Whether the failure shows in one of up to `passes` runs (it stops at the first)."""
    return any(once() for _ in range(passes))


def passes_needed(failures: int, replays: int) -> int:
    """The runs a probe must pass: as many as the hunt's confirmation rule gives a failure seen
    `failures` times in `replays` runs (1 for a steady one), at least MIN_PASSES."""
    return max(MIN_PASSES, regressions.flaky_trials(failures, replays))


def space(scenario: m.Scenario, max_length: int | None) -> tuple[int, Sequence[str]]:
    """The longest length a hunt draws (--max-length, else the scenario's longest) and the
    positions (start only without remembered turns: there is nothing to move)."""
    assert scenario.drift is not None
    longest = max_length if max_length is not None else max(scenario.drift.lengths)
    positions = scenario.drift.positions if drift.remembered(scenario) else [drift.START]
    return longest, positions


@dataclass
class Shortened:
    """The failure at its shortest length, its confirmation, and how it was found: the length
    the search first saw it fail at (before hypothesis shrank it and this bisected it)."""

    exc: Divergence
    confirmed: tuple[int, int]
    found_at: int
    passing_length: int | None

    def lengths(self) -> dict[str, int | None]:
        """What a regression file and the hunt's record keep of the shrinking."""
        return {"found_at_length": self.found_at, "longest_passing_length": self.passing_length}


def same_failure(exc: Divergence, result: CaseResult) -> CheckResult | None:
    """The check of `result` that fails as `exc` did: its root cause first, else its check."""
    failing = [c for c in result.checks if c.verdict is not Verdict.PASS]
    for c in failing:
        if str(result.shape(c)) == exc.signature:
            return c
    key = exc.check.key(exc.result.case.scenario)
    return next((c for c in failing if c.key(result.case.scenario) == key), None)


def shorten(hunter: Hunter, exc: Divergence) -> Shortened:
    """Confirm a drift case's failure at the length it was found at, then find the shortest
    length at which the same case still fails the same way; that case, confirmed, is kept."""
    case = exc.result.case
    assert case.length is not None
    position = case.position or drift.START
    confirmed = hunter.confirm(exc)
    passes = passes_needed(*confirmed)
    trials = itertools.count(confirmed[1] + 1)  # the trials after the confirmations
    seen: dict[int, tuple[CaseResult, CheckResult]] = {}

    def fails(length: int) -> bool:
        point = drift.at_point(case, length, position)

        def once() -> bool:  # a later trial: unique values fresh, inputs and filler the same
            result = hunter.run(point, trial=next(trials))
            check = same_failure(exc, result)
            if check is not None:
                seen.setdefault(length, (result, check))
            return check is not None

        return probe(once, passes)

    length, passing = bisect(fails, case.length)
    if length == case.length:
        return Shortened(exc, confirmed, case.length, passing)
    result, check = seen[length]
    shorter = type(exc)(result, check)
    return Shortened(shorter, hunter.confirm(shorter, first=next(trials)), case.length, passing)
