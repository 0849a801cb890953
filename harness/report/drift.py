"""A drift run's numbers, from its stored records and manifest only: per requirement the drift
curve, the first degraded length, the first failing turn per case, the effect of position,
and the tokens per length.

A trial passes a requirement when every check of it (scoped invariants included) passed;
an error is never a pass (it is counted apart and as a non-pass). The curve is the pass
rate at each length, the remembered turns at the start, with its 95% Wilson interval, and
with --trials k > 1 pass^k over the cases at that length (`reliability.pooled`: a case
counts C(c,k)/C(n,k), which with exactly k trials is 1 when all k passed, else 0). Several
drift scenarios judging one requirement are pooled at each length.

The baseline is the shortest length run (normally n = 0); the first degraded length is
the shortest longer length whose pass rate is below the baseline's beyond noise
(`driftstats.py`: one-sided Fisher, Holm-corrected across the lengths, alpha 0.05). A
requirement that fails at the baseline (some trial there did not pass) "fails at the
shortest length": no drift, and it holds at no length; the curve still shows if longer
lengths are worse.

The effect of position: the pass rate per position of the remembered turns at each
scenario's position length, and Fisher's exact test (two-sided) between the best and the
worst position. Tokens: the mean prompt (input) tokens of the probe turn, or of the last
turn with usage, per length; none when the agent reports no usage.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.core.types import CheckResult, Observation
from harness.report.driftmodel import (
    MESSAGE_CAP,
    POSITIONS,
    TOKEN_KEYS,
    Curve,
    DriftSummary,
    FirstFailure,
    Point,
)
from harness.report.driftstats import ALPHA, cases_needed, degradation_by
from harness.report.reliability import REGRESSION_ORIGIN, fisher_exact, pass_at_1, pooled
from harness.report.view import cap
from harness.run.drift import START, split_id
from harness.runlog.models import DriftManifest, DriftPlan, TrialRecord

if TYPE_CHECKING:
    from harness.runlog.read import RunFolder

__all__ = ["Curve", "DriftSummary", "FirstFailure", "Point", "drift_summary", "summarize_drift"]

Broke = tuple[int | None, str | None, CheckResult]  # turn, its source, the check


@dataclass
class _Trial:
    case_id: str
    length: int
    position: str
    trial: int
    mark: str  # P, F or E
    tokens: float | None
    first: Broke | None  # where the requirement first broke in this trial


def _mark(checks: Sequence[CheckResult]) -> str:
    verdicts = {c.verdict.value for c in checks}
    return "P" if verdicts == {"pass"} else ("E" if "error" in verdicts else "F")


def probe_tokens(obs: Observation) -> float | None:
    """The prompt tokens of the probe turn, else of the last turn that reports usage."""
    turns = [t for t in obs.turns if t.usage]
    turn = next((t for t in turns if t.source == "probe"), turns[-1] if turns else None)
    if turn is None or not turn.usage:
        return None
    value = next((turn.usage[k] for k in TOKEN_KEYS if k in turn.usage), None)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _first(record: TrialRecord, checks: Sequence[CheckResult]) -> Broke | None:
    """The failing check of a requirement seen first (the lowest turn) in a trial."""
    bad = [c for c in checks if c.verdict.value != "pass"]
    if not bad:
        return None
    check = min(bad, key=lambda c: (c.turn is None, c.turn or 0))
    source = next((t.source for t in record.observation.turns if t.index == check.turn), None)
    return check.turn, source, check


def drift_trials(records: Iterable[TrialRecord]) -> dict[str, list[tuple[str, _Trial]]]:
    """requirement -> (scenario, trial outcome) for every trial of a drift point."""
    out: dict[str, list[tuple[str, _Trial]]] = {}
    for record in records:
        case = record.case
        if case.length is None or case.origin == REGRESSION_ORIGIN:
            continue
        tokens = probe_tokens(record.observation)
        by_req: dict[str, list[CheckResult]] = {}
        for check in record.checks:
            for rid in check.requirements:
                by_req.setdefault(rid, []).append(check)
        for rid, checks in by_req.items():
            trial = _Trial(
                case.id,
                case.length,
                case.position or START,
                record.trial,
                _mark(checks),
                tokens,
                _first(record, checks),
            )
            out.setdefault(rid, []).append((case.scenario, trial))
    return out


def _point(length: int, position: str, trials: list[_Trial], k: int) -> Point:
    point = Point(length, position, trials=len(trials))
    point.passes = sum(t.mark == "P" for t in trials)
    point.errors = sum(t.mark == "E" for t in trials)
    per_case: dict[str, list[int]] = {}
    for t in trials:
        n_c = per_case.setdefault(t.case_id, [0, 0])
        n_c[0] += 1
        n_c[1] += t.mark == "P"
    point.cases = len(per_case)
    point.case_passes = sum(1 for n, c in per_case.values() if c == n)
    point.rate = pass_at_1(point.trials, point.passes)
    if k > 1:
        point.pass_k = pooled(((n, c) for n, c in per_case.values()), k)[1]
    tokens = [t.tokens for t in trials if t.tokens is not None]
    point.tokens = sum(tokens) / len(tokens) if tokens else None
    return point


def _when(t: _Trial) -> tuple[bool, int, int]:
    """Earliest first: by the turn it broke at (unknown last), then by trial."""
    turn = t.first[0] if t.first is not None else None
    return turn is None, turn or 0, t.trial


def _first_failures(trials: list[_Trial]) -> list[FirstFailure]:
    by_case: dict[str, list[_Trial]] = {}
    for t in trials:
        by_case.setdefault(t.case_id, []).append(t)
    out = []
    for case_id, mine in by_case.items():
        failed = [t for t in mine if t.first is not None]
        if not failed:
            continue
        first = min(failed, key=_when)
        assert first.first is not None
        turn, source, check = first.first
        out.append(
            FirstFailure(
                case_id, first.length, first.position, first.trial, turn, source,
                check.check_id, check.verdict.value, cap(check.message, MESSAGE_CAP),
                len(failed), len(mine),
            )
        )  # fmt: skip
    order = {pos: i for i, pos in enumerate(POSITIONS)}
    return sorted(out, key=lambda f: (split_id(f.case_id)[0], f.length, order.get(f.position, 9)))


def curve(rid: str, trials: list[tuple[str, _Trial]], manifest: DriftManifest, k: int) -> Curve:
    """One requirement's numbers from its trials."""
    info = next((r for r in manifest.requirements if r.id == rid), None)
    scenarios = sorted({s for s, _ in trials})
    plans = {p.scenario: p for p in manifest.drift}
    # the curve's lengths are those the plans asked for (a position length outside them is
    # played for the positions only); a run without plans: the lengths played at the start
    lengths = {n for s in scenarios if s in plans for n in plans[s].lengths}
    if not lengths:
        lengths = {t.length for _, t in trials if t.position == START}
    points = [
        _point(n, START, [t for _, t in trials if t.length == n and t.position == START], k)
        for n in sorted(lengths)
    ]
    while points and not points[0].trials:  # the baseline is the shortest length run
        points.pop(0)
    series: dict[str, list[tuple[int, int, int]]] = {}  # per scenario: its cases, by length
    for s in scenarios:
        mine = [t for sc, t in trials if sc == s and t.position == START and t.length in lengths]
        series[s] = []
        for n in sorted({t.length for t in mine}):
            cases: dict[str, bool] = {}  # a case passes a length when all its trials there do
            for t in mine:
                if t.length == n:
                    cases[t.case_id] = cases.get(t.case_id, True) and t.mark == "P"
            series[s].append((n, len(cases), sum(cases.values())))
    raw, corrected, first, underpowered = degradation_by(series)
    for p in points:
        p.p, p.p_holm = raw.get(p.length), corrected.get(p.length)
        p.degraded = p.p_holm is not None and p.p_holm < ALPHA
    base = points[0] if points else None
    dropped = next(
        (
            p.length
            for p in points[1:]
            if base is not None and p.trials and (p.rate.value or 0.0) < (base.rate.value or 0.0)
        ),
        None,
    )
    tests = sum(max(0, len(v) - 1) for v in series.values())
    at = {s: _position_length(plans.get(s), trials, s) for s in scenarios}
    placed = [t for s, t in trials if at[s] is not None and t.length == at[s]]
    positions = []
    for pos in POSITIONS:
        mine = [t for t in placed if t.position == pos]
        if mine:
            positions.append(_point(max(t.length for t in mine), pos, mine, k))
    position_p = None
    measured = [p for p in positions if p.trials]
    if len(measured) > 1:  # over cases, as the lengths: a repeated trial adds no evidence
        best = max(measured, key=lambda p: p.case_passes / p.cases)
        worst = min(measured, key=lambda p: p.case_passes / p.cases)
        position_p = fisher_exact(
            best.case_passes,
            best.cases - best.case_passes,
            worst.case_passes,
            worst.cases - worst.case_passes,
        )
    return Curve(
        requirement=rid,
        severity=info.severity if info else "",
        title=info.title if info else "",
        scenarios=scenarios,
        points=points,
        positions=positions,
        position_lengths=sorted({n for n in at.values() if n is not None}),
        position_p=position_p,
        first_degraded=first,
        first_failures=_first_failures([t for _, t in trials]),
        dropped=dropped,
        underpowered=underpowered,
        needed=cases_needed(tests) if underpowered else None,
    )


def _position_length(
    plan: DriftPlan | None, trials: list[tuple[str, _Trial]], scenario: str
) -> int | None:
    """Where a scenario's positions are compared: its plan's position length, else the
    longest length any of its other positions was played at."""
    if plan is not None and plan.position_length is not None:
        return plan.position_length
    played = [t.length for s, t in trials if s == scenario and t.position != START]
    return max(played) if played else None


def summarize_drift(run: RunFolder, records: Sequence[object] | None = None) -> DriftSummary | None:
    """The drift numbers of a stored run, or None when it is no drift run."""
    manifest = run.manifest
    if not isinstance(manifest, DriftManifest):
        return None
    stored = run.records() if records is None else records
    trials = [r for r in stored if isinstance(r, TrialRecord)]
    return drift_summary(manifest, trials)


def drift_summary(manifest: DriftManifest, trials: Sequence[TrialRecord]) -> DriftSummary:
    k = manifest.trials or 1
    per_req = drift_trials(trials)
    order = {r.id: i for i, r in enumerate(manifest.requirements)}
    curves = [
        curve(rid, per_req[rid], manifest, k)
        for rid in sorted(per_req, key=lambda r: (order.get(r, len(order)), r))
    ]
    drift = [r for r in trials if r.case.length is not None and r.case.origin != REGRESSION_ORIGIN]
    by_length: dict[int, list[float]] = {}
    for r in drift:
        tokens = probe_tokens(r.observation)
        if tokens is not None and (r.case.position or START) == START:
            by_length.setdefault(r.case.length or 0, []).append(tokens)
    lengths = sorted({p.length for c in curves for p in c.points})
    return DriftSummary(
        manifest=manifest,
        k=k,
        curves=curves,
        lengths=lengths,
        conversations=len(drift),
        turns=sum(len(r.observation.turns) for r in drift),
        tokens={n: sum(v) / len(v) for n, v in sorted(by_length.items())},
    )
