"""The statistics of the robustness number R_fault: a requirement's pass rate under a fault
profile against its pass rate in the same run without it.

R_fault = min(1, faulted / clean) ("Towards a Science of AI Agent Reliability", accuracy
under faults over baseline accuracy, capped at 1: doing better under faults is noise, not
robustness). Its 95% interval is MOVER-R (Donner & Zou 2012; Newcombe 2013, 7.3.3): the
ratio's limits recovered from each rate's own Wilson interval, which keeps its coverage near
95% with small counts and rates at 0 or 1, where the log-ratio (Katz) interval breaks down;
both limits are then capped at 1 as the estimate is.

Degraded beyond noise: Fisher's exact test, one-sided (H1: the faulted rate is lower than the
clean one; `driftstats.fisher_less`), the p-values of every requirement tested Holm-corrected
as one family, so that a robust but noisy agent is called degraded in at most alpha (0.05)
of runs whatever the number of requirements. With too few trials even every clean trial
passing and every faulted one failing gives a corrected p of alpha or more: then nothing can
be told, and the report says so (`underpowered`) instead of calling the requirement robust.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from harness.report.driftstats import ALPHA, fisher_less, holm
from harness.report.reliability import Rate, pass_at_1, wilson

# p-values are sums of floats: 1/20 comes out as 0.04999...; a p at alpha is not below it
_BELOW = 1 - 1e-9

METHODS = (
    "R_fault = min(1, faulted pass rate / clean pass rate), per requirement over the trials of "
    "the same cases played clean and faulted in this run (a trial passes a requirement when "
    "every check of it passes; an error is never a pass). Pass rates with 95% Wilson "
    "intervals; R_fault's 95% interval by MOVER-R (the ratio's limits recovered from the two "
    "Wilson intervals, Donner & Zou 2012), capped at 1. Degraded beyond noise: one-sided "
    "Fisher's exact test (faulted lower than clean), Holm-corrected across the requirements "
    'tested, alpha 0.05; with too few trials to ever reach it, "too few cases to tell".'
)


def ratio_interval(
    passes: int, trials: int, base_passes: int, base_trials: int
) -> tuple[float, float] | None:
    """MOVER-R 95% interval for (passes/trials) / (base_passes/base_trials), uncapped (high
    may be inf); None when the base rate is 0 or either side has no trials."""
    if trials <= 0 or base_trials <= 0 or base_passes <= 0:
        return None
    p1, p2 = passes / trials, base_passes / base_trials
    l1, u1 = wilson(passes, trials)
    l2, u2 = wilson(base_passes, base_trials)
    prod = p1 * p2
    low_disc = max(0.0, prod * prod - l1 * u2 * (2 * p1 - l1) * (2 * p2 - u2))
    low_den = u2 * (2 * p2 - u2)
    low = (prod - math.sqrt(low_disc)) / low_den if low_den > 0 else 0.0
    high_disc = max(0.0, prod * prod - u1 * l2 * (2 * p1 - u1) * (2 * p2 - l2))
    high_den = l2 * (2 * p2 - l2)
    high = (prod + math.sqrt(high_disc)) / high_den if high_den > 0 else math.inf
    estimate = p1 / p2
    return max(0.0, min(low, estimate)), max(high, estimate)


def r_fault(passes: int, trials: int, base_passes: int, base_trials: int) -> Rate:
    """R_fault = min(1, faulted/clean) with its capped 95% interval; not measured when the
    clean rate is 0 (nothing to keep) or a phase has no trials."""
    limits = ratio_interval(passes, trials, base_passes, base_trials)
    if limits is None:
        return Rate(None)
    estimate = (passes / trials) / (base_passes / base_trials)
    return Rate(min(1.0, estimate), min(1.0, limits[0]), min(1.0, limits[1]))


@dataclass(frozen=True)
class Comparison:
    """One requirement (or one fault): its pass rate clean and faulted, R_fault, the test."""

    clean_trials: int
    clean_passes: int
    faulted_trials: int
    faulted_passes: int
    clean: Rate
    faulted: Rate
    r_fault: Rate
    p: float | None = None  # one-sided Fisher, faulted lower than clean
    p_holm: float | None = None
    degraded: bool = False
    underpowered: bool = False  # no drop could have been seen beyond noise

    @property
    def tested(self) -> bool:
        return self.p is not None


def compare_all(
    counts: Sequence[tuple[int, int, int, int]], alpha: float = ALPHA
) -> list[Comparison]:
    """From (clean trials, clean passes, faulted trials, faulted passes) per requirement: the
    rates, R_fault and the one-sided Fisher test, Holm-corrected over those with trials in both
    phases. A requirement is underpowered when even all-pass clean against all-fail faulted
    with its trials would not be corrected below alpha."""
    tested = [i for i, (cn, _, fn, _) in enumerate(counts) if cn > 0 and fn > 0]
    raw = [fisher_less(counts[i][3], counts[i][2], counts[i][1], counts[i][0]) for i in tested]
    adjusted = dict(zip(tested, holm(raw), strict=True))
    p_of = dict(zip(tested, raw, strict=True))
    m = len(tested)
    out = []
    for i, (cn, cp, fn, fp) in enumerate(counts):
        p, p_h = p_of.get(i), adjusted.get(i)
        best = fisher_less(0, fn, cn, cn) if i in p_of else 1.0
        degraded = p_h is not None and p_h < alpha * _BELOW and fp * cn < cp * fn
        out.append(
            Comparison(
                cn, cp, fn, fp, pass_at_1(cn, cp), pass_at_1(fn, fp), r_fault(fp, fn, cp, cn),
                p, p_h,
                degraded=degraded,
                underpowered=not degraded and i in p_of and m * best >= alpha * _BELOW,
            )
        )  # fmt: skip
    return out


def trials_needed(tests: int, alpha: float = ALPHA) -> int:
    """The fewest trials per phase with which all-pass clean against all-fail faulted is seen
    beyond noise among `tests` Holm-corrected tests."""
    n = 1
    while n < 1000 and tests * fisher_less(0, n, n, n) >= alpha * _BELOW:
        n += 1
    return n


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
