"""Capability and reliability over repeated trials, from the stored results only.

pass@1 is the share of trials that pass (capability); pass^k is the chance that k
trials of the same case all pass (reliability), estimated without bias from n >= k
trials with c passes as C(c, k) / C(n, k), as tau-bench defines it. The two are
always reported side by side, never merged. A trial passes for a requirement when
every check of that requirement passes in it; an error is never a pass.

Counted are the run's own cases, as in the run's report: replayed known regression
cases (origin "regression") are left out, as the report shows them apart and the
sign-off judges them in its regressions gate; the run-wide invariant sweep is no
trial of any case. A run with a fault profile (`harness run --faults NAME`) counts its clean
phase only: its faulted cases (`<id>~NAME`) are judged by R_fault (report/faults.py) and the
sign-off's faults gate. So a run's numbers are the same in its report, its sign-off,
`harness compare` and `harness trend`.

The 95% intervals (METHODS says the same in words, for reports):
- pass@1: the Wilson score interval over all trials of the case or requirement.
- pass^k of one case: the case's Wilson interval for its per-trial pass rate p,
  raised to the power k (p^k grows with p, so it covers p^k exactly when the Wilson
  interval covers p), widened where needed to include the unbiased estimate: with
  fewer than k passes the estimate is 0, so the interval's lower end is 0 then.
- pass^k of a requirement: the Wilson score interval over its cases, each case
  counting its estimate C(c, k) / C(n, k) as one outcome between 0 and 1. With
  n = k trials the estimate is 0 or 1 and this is the plain Wilson interval over
  cases; with n > k it is wider than it needs to be (never narrower), since a value
  in [0, 1] varies at most as much as a 0/1 outcome with the same mean.

Two rates are compared with Fisher's exact test (`fisher_exact`), used by
`harness compare` and by load reports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from harness.empty import empty_list
from harness.report.frame import Row, as_rows
from harness.report.outcomes import MARKS as MARKS
from harness.report.outcomes import NOT_COUNTED as NOT_COUNTED
from harness.report.outcomes import REGRESSION_ORIGIN as REGRESSION_ORIGIN
from harness.report.outcomes import SWEEP_ORIGIN as SWEEP_ORIGIN
from harness.report.outcomes import missing, trial_outcomes
from harness.report.outcomes import natural_key as natural_key
from harness.report.outcomes import own_cases as own_cases
from harness.runlog.models import AnyManifest, RunManifest

if TYPE_CHECKING:
    import pandas as pd

FLAKY_SHOWN = 100  # flaky cases a report lists; the rest are counted
Z95 = 1.959963984540054  # the two-sided 95% normal quantile
METHODS = (
    "95% intervals: pass@1 by the Wilson score interval over trials; pass^k of a case by "
    "its Wilson interval for the per-trial pass rate raised to the power k, widened to "
    "include the estimate (so its lower end is 0 when the case passed fewer than k "
    "trials); pass^k of a requirement by the Wilson score interval over its cases, each "
    "case counting its unbiased estimate C(c,k)/C(n,k) as one outcome (exact when "
    "trials = k, wider than needed when trials > k). An error is never a pass."
)


@dataclass(frozen=True)
class Rate:
    """A measured rate and its 95% interval; value None means it was not measured."""

    value: float | None
    low: float | None = None
    high: float | None = None

    @property
    def measured(self) -> bool:
        return self.value is not None


NOT_MEASURED = Rate(None)


def percent(value: float | None) -> str:
    """A rate as reports show it, or — when it was not measured."""
    return "—" if value is None else f"{value * 100:.1f}%"


def interval(rate: Rate) -> str:
    """A rate's 95% interval as reports show it, or — when it was not measured."""
    if rate.low is None or rate.high is None:
        return "—"
    return f"{rate.low * 100:.1f}–{rate.high * 100:.1f}%"


@lru_cache(maxsize=4096)  # a large run asks for the same few (c, n) thousands of times
def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a proportion (successes may be fractional)."""
    if n <= 0:
        raise ValueError("a proportion needs at least one observation")
    p = min(max(successes / n, 0.0), 1.0)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at p = 0 or 1 the bound is exactly 0 or 1; keep float rounding from saying 0.9999...
    low = 0.0 if p == 0 else max(0.0, centre - half)
    high = 1.0 if p == 1 else min(1.0, centre + half)
    return low, high


@lru_cache(maxsize=4096)
def pass_hat_k(n: int, c: int, k: int) -> float | None:
    """The unbiased estimate of pass^k from n trials with c passes; None when n < k."""
    if k < 1 or n < k:
        return None
    return math.comb(c, k) / math.comb(n, k)


@lru_cache(maxsize=4096)
def pass_at_1(n: int, c: int) -> Rate:
    if n <= 0:
        return NOT_MEASURED
    return Rate(c / n, *wilson(c, n))


@lru_cache(maxsize=4096)
def case_pass_hat_k(n: int, c: int, k: int) -> Rate:
    """pass^k of one case with the transformed Wilson interval (see the module docstring)."""
    estimate = pass_hat_k(n, c, k)
    if estimate is None:
        return NOT_MEASURED
    low, high = wilson(c, n)
    return Rate(estimate, min(low**k, estimate), max(high**k, estimate))


def pooled(counts: Iterable[tuple[int, int]], k: int) -> tuple[Rate, Rate, int]:
    """pass@1 and pass^k of a group of cases, from each case's (trials, passes).

    Returns (pass@1, pass^k, cases with at least k trials)."""
    listed = [(n, c) for n, c in counts if n > 0]
    trials = sum(n for n, _ in listed)
    passes = sum(c for _, c in listed)
    estimates = [e for n, c in listed if (e := pass_hat_k(n, c, k)) is not None]
    at_k = NOT_MEASURED
    if estimates:
        at_k = Rate(sum(estimates) / len(estimates), *wilson(sum(estimates), len(estimates)))
    return pass_at_1(trials, passes), at_k, len(estimates)


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided p-value of Fisher's exact test for the table [[a, b], [c, d]]."""
    n1, n2, k = a + b, c + d, a + c
    n = n1 + n2
    if n1 == 0 or n2 == 0 or k == 0 or k == n:
        return 1.0

    def log_p(x: int) -> float:
        return _log_comb(n1, x) + _log_comb(n2, k - x) - _log_comb(n, k)

    observed = log_p(a)
    total = sum(
        math.exp(lp)
        for x in range(max(0, k - n2), min(k, n1) + 1)
        if (lp := log_p(x)) <= observed + 1e-7  # as R's fisher.test: ties within 1e-7 count
    )
    return min(1.0, total)


def _log_comb(n: int, r: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(r + 1) - math.lgamma(n - r + 1)


@dataclass(frozen=True)
class CaseReliability:
    """One case (all its checks, or those of one requirement) over its trials."""

    case_id: str
    scenario: str
    origin: str
    requirement: str  # "" for the case as a whole
    outcomes: str  # one mark per trial in trial order: P pass, F fail, E error
    pass_at_1: Rate
    pass_hat_k: Rate

    @property
    def trials(self) -> int:
        return len(self.outcomes)

    @property
    def passes(self) -> int:
        return self.outcomes.count("P")

    @property
    def flaky(self) -> bool:
        """Passed in some trials and not in others."""
        return 0 < self.passes < self.trials


@dataclass(frozen=True)
class RequirementReliability:
    requirement: str
    severity: str
    title: str
    cases: int
    trials: int
    passes: int
    cases_at_k: int  # cases with at least k trials: the ones pass^k is estimated from
    pass_at_1: Rate
    pass_hat_k: Rate
    flaky_cases: tuple[str, ...] = ()


@dataclass
class Reliability:
    k: int
    trials: int  # the trials per case the run asked for
    requirements: list[RequirementReliability]
    cases: list[CaseReliability]  # whole cases
    by_requirement: list[CaseReliability] = field(default_factory=empty_list)
    methods: str = METHODS
    regressions_left_out: int = 0  # replayed known regression cases, not counted here
    faulted_left_out: int = 0  # a fault profile's faulted cases: R_fault counts them
    fault_profile: str | None = None
    _flaky_by_case: dict[str, list[str]] | None = field(default=None, repr=False, compare=False)
    _flaky: list[CaseReliability] | None = field(default=None, repr=False, compare=False)

    @property
    def counted(self) -> str:
        """Which cases the numbers count, in words, for every report that shows them."""
        text = f"Counted: the run's own {len(self.cases)} case(s)"
        if self.regressions_left_out:
            text += (
                f"; the {self.regressions_left_out} replayed known regression case(s) are "
                "left out (they are reported apart and judged by the sign-off's "
                "regressions gate)"
            )
        if self.faulted_left_out:
            text += (
                f"; the {self.faulted_left_out} case(s) played under fault profile "
                f"{self.fault_profile} are left out (the Faults section's R_fault and the "
                "sign-off's faults gate judge them)"
            )
        return text + "."

    @property
    def flaky(self) -> list[CaseReliability]:
        if self._flaky is None:  # found once: each report asks, over every case
            self._flaky = [c for c in self.cases if c.flaky]
        return self._flaky

    @property
    def flaky_shown(self) -> list[CaseReliability]:
        """The flaky cases a report lists (reliability.parquet has every one)."""
        return self.flaky[:FLAKY_SHOWN]

    @property
    def flaky_more(self) -> int:
        return max(0, len(self.flaky) - FLAKY_SHOWN)

    def flaky_requirements(self, case_id: str) -> list[str]:
        if self._flaky_by_case is None:  # built once: a report asks for every flaky case
            self._flaky_by_case = {}
            for c in self.by_requirement:
                if c.flaky:
                    self._flaky_by_case.setdefault(c.case_id, []).append(c.requirement)
        return list(self._flaky_by_case.get(case_id, ()))

    def requirement(self, rid: str) -> RequirementReliability | None:
        return next((r for r in self.requirements if r.requirement == rid), None)

    def all_k(self, rid: str) -> tuple[int, int]:
        """(cases with at least k trials, those whose first k trials all passed) for a
        requirement: whole cases, each a Bernoulli outcome with chance pass^k, so two runs'
        counts can go into Fisher's exact test whatever their trials per case."""
        mine = [c for c in self.by_requirement if c.requirement == rid and c.trials >= self.k]
        return len(mine), sum(c.outcomes[: self.k] == "P" * self.k for c in mine)


def compute(
    results: list[Row] | pd.DataFrame, manifest: AnyManifest, k: int | None = None
) -> Reliability:
    """Every case's and requirement's pass@1 and pass^k; k defaults to the run's trials."""
    rows = as_rows(results)
    run_trials = manifest.trials or 1
    k = k or run_trials
    profile = manifest.fault_profile if isinstance(manifest, RunManifest) else None
    faulted = 0
    if profile:  # the faulted phase is R_fault's; pass@1 and pass^k are the clean phase's
        mark = f"~{profile}"
        under = {
            r["case_id"]
            for r in rows
            if isinstance(r["case_id"], str) and r["case_id"].endswith(mark)
        }
        faulted = len(under)
        rows = [r for r in rows if r["case_id"] not in under]
    every: list[CaseReliability] = []
    for (case_id, scenario, origin, rid), outcomes in trial_outcomes(rows).items():
        n, c = len(outcomes), outcomes.count("P")
        every.append(
            CaseReliability(
                case_id, scenario, origin, rid, outcomes, pass_at_1(n, c), case_pass_hat_k(n, c, k)
            )
        )
    cases = [c for c in every if not c.requirement]
    by_req = [c for c in every if c.requirement]
    requirements = []
    of_requirement: dict[str, list[CaseReliability]] = {}
    for one in by_req:
        of_requirement.setdefault(one.requirement, []).append(one)
    for req in manifest.requirements:
        mine = of_requirement.get(req.id, [])
        counts = [(len(c.outcomes), c.outcomes.count("P")) for c in mine]  # (trials, passes)
        at_1, at_k, at_least_k = pooled(counts, k)
        flaky = tuple(c.case_id for c, (n, p) in zip(mine, counts, strict=True) if 0 < p < n)
        trials, passes = sum(n for n, _ in counts), sum(p for _, p in counts)
        requirements.append(RequirementReliability(
            req.id, req.severity, req.title, len(mine), trials, passes, at_least_k, at_1, at_k,
            flaky,
        ))  # fmt: skip
    left_out = [r["case_id"] for r in rows if r["origin"] == REGRESSION_ORIGIN]
    regressions = len({case for case in left_out if not missing(case)})
    return Reliability(
        k,
        run_trials,
        requirements,
        cases,
        by_req,
        regressions_left_out=int(regressions),
        faulted_left_out=faulted,
        fault_profile=profile,
    )
