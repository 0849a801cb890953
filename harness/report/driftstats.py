"""The statistics of a drift curve: whether a length's pass rate is below the baseline's beyond
noise, over several lengths at once.

Each length L longer than the baseline (the shortest length run) is tested with Fisher's
exact test, one-sided (H1: L's pass rate is lower than the baseline's), and the p-values of
all the lengths tested are Holm-corrected together, so that the chance of calling a
correct but noisy agent degraded at any length stays within alpha (0.05) for the whole
curve, not for each length. Fisher's test is exact, and conservative for small counts: a
noisy agent is called degraded less often than alpha; a step from all-pass to all-fail
with 6 cases a length (p = 1/924 at each failing length) is found.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

ALPHA = 0.05


def fisher_less(passes: int, trials: int, base_passes: int, base_trials: int) -> float:
    """One-sided p-value of Fisher's exact test that the first rate is lower than the base's:
    the chance, were both the same, of at most `passes` passes among `trials`."""
    total, drawn, good = trials + base_trials, trials, passes + base_passes
    if trials == 0 or base_trials == 0:
        return 1.0
    low = max(0, drawn - (total - good))

    def log_p(x: int) -> float:
        return _log_comb(good, x) + _log_comb(total - good, drawn - x) - _log_comb(total, drawn)

    return min(1.0, sum(math.exp(log_p(x)) for x in range(low, passes + 1)))


def _log_comb(n: int, r: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(r + 1) - math.lgamma(n - r + 1)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the given order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


def degradation(
    counts: Sequence[tuple[int, int, int]], alpha: float = ALPHA
) -> tuple[list[float | None], list[float | None], int | None]:
    """From (length, trials, passes) per length, shortest first (the baseline, which needs
    trials): each length's one-sided p against the baseline, Holm-corrected p, and the first
    degraded length (None: none is). Lengths without trials are left out of the family."""
    p: list[float | None] = [None] * len(counts)
    if not counts or counts[0][1] == 0:
        return p, list(p), None
    _, base_n, base_c = counts[0]
    tested = [i for i, (_, n, _) in enumerate(counts) if i > 0 and n > 0]
    raw = [fisher_less(counts[i][2], counts[i][1], base_c, base_n) for i in tested]
    corrected: list[float | None] = [None] * len(counts)
    for i, value, adjusted in zip(tested, raw, holm(raw), strict=True):
        p[i], corrected[i] = value, adjusted
    first = next((counts[i][0] for i in tested if (corrected[i] or 1.0) < alpha), None)
    return p, corrected, first


def degradation_by(
    series: Mapping[str, Sequence[tuple[int, int, int]]], alpha: float = ALPHA
) -> tuple[dict[int, float], dict[int, float], int | None, bool]:
    """Degradation of one requirement judged by several scenarios, from (length, cases,
    cases passing) per scenario, its shortest length first: each scenario's lengths against
    its own shortest one (one-sided Fisher), the p-values of every scenario and length
    Holm-corrected as one family, so a scenario whose cases break is not diluted by others
    that never could. The unit is the case (a case passes a length when every trial of it
    there passed): repeating a deterministic case adds no evidence.

    Per length, the smallest raw and corrected p of any scenario; the first length any
    scenario degrades at; and whether any degradation could be seen at all: with too few
    cases a length, even every case passing at the baseline and failing at a length gives a
    corrected p of alpha or more (underpowered)."""
    tests: list[tuple[int, float, float]] = []  # length, p, the smallest p it could have
    for counts in series.values():
        if not counts or counts[0][1] == 0:
            continue
        _, base_n, base_c = counts[0]
        tests += [
            (length, fisher_less(c, n, base_c, base_n), fisher_less(0, n, base_n, base_n))
            for length, n, c in counts[1:]
            if n > 0
        ]
    raw: dict[int, float] = {}
    corrected: dict[int, float] = {}
    for (length, value, _), adjusted in zip(tests, holm([v for _, v, _ in tests]), strict=True):
        raw[length] = min(value, raw.get(length, 1.0))
        corrected[length] = min(adjusted, corrected.get(length, 1.0))
    first = min((n for n, value in corrected.items() if value < alpha), default=None)
    powered = any(len(tests) * best < alpha for _, _, best in tests)
    return raw, corrected, first, not powered and bool(tests)


def cases_needed(tests: int, alpha: float = ALPHA) -> int:
    """The fewest cases a length (and at the baseline) with which a drop from every case
    passing to every case failing is seen beyond noise among `tests` corrected tests."""
    n = 1
    while n < 1000 and tests * fisher_less(0, n, n, n) >= alpha:
        n += 1
    return n
