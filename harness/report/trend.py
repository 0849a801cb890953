"""pass@1 and pass^k per requirement over a suite's last runs, drawn as inline SVG.

One small chart per requirement, oldest run on the left: pass@1 as a solid line,
pass^k dashed, each point with its 95% interval as a whisker and a tooltip. The
page is one self-contained HTML file (no script, no external asset); the numbers
are also in a table under each chart.

Points are comparable or left out: k is one number for every run (default 5), and
a run with fewer trials per case than k shows pass^k as not measured (a gap, never
a 1-trial estimate); runs that judged only part of the suite (-k, or --faults with a
profile that plays only some of the scenarios, as the sign-off's complete gate says) and
runs of another spec than the newest run's are left out, and the page says which and why.

Drift runs (`harness drift`) are listed apart, under the charts: their pass rates mix
conversation lengths, so they are not points of these series; per requirement, each drift
run's pass rate at every length and its first degraded length (report/driftruns.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from markupsafe import Markup, escape

from harness.empty import empty_list
from harness.errors import ConfigError
from harness.report.driftruns import DriftRun, drift_history, trend_rows
from harness.report.faultruns import FaultRun, fault_history
from harness.report.faultruns import trend_rows as fault_rows
from harness.report.html import render_template
from harness.report.reliability import METHODS, Rate, compute, interval, percent
from harness.runlog.history import stored_runs, suite_runs
from harness.runlog.models import RunManifest
from harness.runlog.read import RunFolder

DEFAULT_K = 5
WIDTH, HEIGHT, PAD_X, PAD_Y, AXIS = 360, 150, 34, 14, 22
COLOURS = {"pass@1": "#1570ef", "pass^k": "#b42318"}
COUNTED = (
    "Counted: each run's own cases, as in its report; replayed known regression cases are left out."
)


@dataclass
class Point:
    run_id: str
    started_at: str
    trials: int
    pass_at_1: Rate
    pass_hat_k: Rate


@dataclass
class Series:
    requirement: str
    severity: str
    title: str
    points: list[Point]


class Apart(StrEnum):
    """Why a run is not comparable with the runs a trend shows."""

    PARTIAL = "partial"  # it judged only part of the suite (-k, or a --faults profile's)
    OTHER_SPEC = "other spec"  # it ran another spec than the newest run's
    OLDER_SPECS = "older specs"  # older runs of other specs, counted, not listed


@dataclass(frozen=True)
class LeftOut:
    """A run (or, for OLDER_SPECS, a count of runs) the trend leaves out, and why in words."""

    run_id: str  # "" for a count of runs
    apart: Apart
    why: str


@dataclass
class Trend:
    suite: str
    k: int
    runs: list[RunFolder]
    series: list[Series]
    left_out: list[LeftOut] = field(default_factory=empty_list)
    methods: str = METHODS
    counted: str = COUNTED
    drift: list[DriftRun] = field(default_factory=empty_list)  # the suite's drift runs, apart
    faults: list[FaultRun] = field(default_factory=empty_list)  # its faulted runs' R_fault, apart

    @property
    def short_runs(self) -> list[RunFolder]:
        """Runs with fewer trials per case than k: pass^k not measured there."""
        return [r for r in self.runs if (r.manifest.trials or 1) < self.k]


def when(started_at: str) -> str:
    """A run's start as the x axis shows it: date and time (UTC, as stored)."""
    text = started_at[:16].replace("T", " ")
    return text + (" UTC" if started_at.endswith(("+00:00", "Z")) else "")


def selected(run: RunFolder) -> list[str]:
    """The -k patterns a suite run judged only; none when it judged the whole suite."""
    return run.manifest.select if isinstance(run.manifest, RunManifest) else []


def fault_partial(run: RunFolder) -> list[str] | None:
    """The scenarios a run with --faults played when its profile plays only some of the
    selected scenarios (the sign-off's complete gate fails such a run); None for a run that
    played them all. A manifest that does not record the profile's scenarios counts as
    partial, as the sign-off counts a run without a check inventory."""
    m = run.manifest
    if not isinstance(m, RunManifest) or not m.fault_profile:
        return None
    return m.fault_scenarios if m.fault_unplayed or not m.fault_scenarios else None


def partial_why(run: RunFolder) -> str | None:
    """Why a run judged only part of the suite, in words; None when it judged all of it."""
    if parts := selected(run):
        return f"judged only part of the suite ({' '.join(f'-k {p}' for p in parts)})"
    played, m = fault_partial(run), run.manifest
    if played is None or not isinstance(m, RunManifest):
        return None
    return (
        f"played only the scenarios fault profile {m.fault_profile} lists "
        f"({', '.join(played) or 'not recorded'}), not the whole suite"
        + (f" (not played: {', '.join(m.fault_unplayed)})" if m.fault_unplayed else "")
    )


def comparable_runs(root: Path, suite: str, last: int) -> tuple[list[RunFolder], list[LeftOut]]:
    """The suite's last finished whole-suite runs of the newest spec, and the runs left
    out among them (or newer than the oldest kept) with the reason."""
    finished = suite_runs(root, suite)
    if not finished:
        known = sorted({r.suite for r in stored_runs(root) if r.kind == "run"})
        raise ConfigError(
            f"no finished run of suite {suite!r} under {root}",
            hint=f"suites with runs there: {', '.join(known) or 'none'} "
            "(--reports-dir or HARNESS_REPORTS_DIR choose another folder)",
        )
    whole = [r for r in finished if partial_why(r) is None]
    if not whole:
        raise ConfigError(
            f"every finished run of suite {suite!r} under {root} judged only part of the "
            "suite (-k, or --faults with a profile of some scenarios), so no two of them are "
            "comparable",
            hint=f"run the whole suite: harness run {suite}",
        )
    spec = whole[-1].manifest.spec_hash
    kept = [r for r in whole if r.manifest.spec_hash == spec][-last:]
    left_out = []
    for r in finished:
        if r in kept or r.started_at < kept[0].started_at:
            continue
        if (why := partial_why(r)) is not None:
            left_out.append(LeftOut(r.run_id, Apart.PARTIAL, why))
        elif r.manifest.spec_hash != spec:
            why = f"another spec (sha256 {r.manifest.spec_hash[:12]}…)"
            left_out.append(LeftOut(r.run_id, Apart.OTHER_SPEC, why))
    older = sum(1 for r in whole if r.manifest.spec_hash != spec and r not in kept)
    older -= sum(1 for x in left_out if x.apart is Apart.OTHER_SPEC)
    if older > 0:
        why = f"{older} older run(s) of another spec than the newest run's"
        left_out.append(LeftOut("", Apart.OLDER_SPECS, why))
    return kept, left_out


def build_trend(root: Path, suite: str, last: int, k: int = DEFAULT_K) -> Trend:
    drift = drift_history(root, suite, last)
    try:
        runs, left_out = comparable_runs(root, suite, last)
    except ConfigError:
        if not drift:
            raise
        runs, left_out = [], []  # only drift runs so far: their section alone
    series: dict[str, Series] = {}
    for run in runs:
        rel = compute(run.frame(), run.manifest, k=k)
        for r in rel.requirements:
            s = series.setdefault(r.requirement, Series(r.requirement, r.severity, r.title, []))
            s.points.append(
                Point(run.run_id, run.started_at, rel.trials, r.pass_at_1, r.pass_hat_k)
            )
    faults = fault_history(root, suite, last)
    return Trend(suite, k, runs, list(series.values()), left_out, drift=drift, faults=faults)


def _x(i: int, n: int) -> float:
    return PAD_X + (WIDTH - 2 * PAD_X) * (i / (n - 1) if n > 1 else 0.5)


def _y(value: float) -> float:
    return PAD_Y + (HEIGHT - PAD_Y - AXIS) * (1 - value)


def svg(series: Series, n: int, k: int) -> Markup:
    """One requirement's chart; every text in it is escaped."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(series.requirement)}">'
    ]
    for level in (0.0, 0.5, 1.0):
        y = _y(level)
        parts.append(
            f'<line x1="{PAD_X}" y1="{y:.1f}" x2="{WIDTH - PAD_X}" y2="{y:.1f}" '
            'stroke="#e4e7ec"/>'
            f'<text x="{PAD_X - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="#667085">{level * 100:.0f}%</text>'
        )
    for name, dash in (("pass@1", ""), ("pass^k", ' stroke-dasharray="5 3"')):
        colour = COLOURS[name]
        label = "pass@1" if name == "pass@1" else f"pass^{k}"
        points = [
            (i, p.pass_at_1 if name == "pass@1" else p.pass_hat_k, p)
            for i, p in enumerate(series.points)
        ]
        for segment in _segments(points):  # a run that did not measure it breaks the line
            if len(segment) > 1:
                line = " ".join(f"{_x(i, n):.1f},{_y(v):.1f}" for i, v in segment)
                parts.append(
                    f'<polyline points="{line}" fill="none" stroke="{colour}" '
                    f'stroke-width="2"{dash}/>'
                )
        for i, r, p in points:
            x = _x(i, n)
            if r.value is None:
                why = (
                    f"{p.trials} trial(s) per case, fewer than {k}"
                    if name == "pass^k" and p.trials < k and p.pass_at_1.measured
                    else "no check of it judged a case"
                )
                tip = f"{p.run_id} ({when(p.started_at)}): {label} not measured: {why}"
                y = _y(0) - (3 if name == "pass^k" else 13)
                parts.append(
                    f'<text x="{x:.1f}" y="{y:.1f}" font-size="9" text-anchor="middle" '
                    f'fill="#98a2b3">n/m<title>{escape(tip)}</title></text>'
                )
                continue
            if r.low is not None and r.high is not None:
                parts.append(
                    f'<line x1="{x:.1f}" y1="{_y(r.low):.1f}" x2="{x:.1f}" y2="{_y(r.high):.1f}" '
                    f'stroke="{colour}" stroke-opacity="0.35" stroke-width="6"/>'
                )
            tip = (
                f"{p.run_id} ({when(p.started_at)}): {label} {percent(r.value)} "
                f"(95% interval {interval(r)})"
            )
            parts.append(
                f'<circle cx="{x:.1f}" cy="{_y(r.value):.1f}" r="3.5" fill="{colour}">'
                f"<title>{escape(tip)}</title></circle>"
            )
    ends = {0: series.points[0], n - 1: series.points[-1]} if series.points else {}
    for i, p in ends.items():
        anchor = "start" if i == 0 and n > 1 else ("end" if n > 1 else "middle")
        x = {"start": 4.0, "end": WIDTH - 4.0}.get(anchor, _x(i, n))  # room for date and time
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - 6}" font-size="10" '
            f'text-anchor="{anchor}" fill="#667085">{escape(when(p.started_at))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _segments(points: list[tuple[int, Rate, Point]]) -> list[list[tuple[int, float]]]:
    """Runs of consecutive measured points."""
    out: list[list[tuple[int, float]]] = [[]]
    for i, r, _ in points:
        if r.value is None:
            out.append([])
        else:
            out[-1].append((i, r.value))
    return [s for s in out if s]


def render_trend(trend: Trend) -> str:
    charts = [(s, svg(s, len(trend.runs), trend.k)) for s in trend.series]
    drift = trend_rows(trend.drift)
    faults = fault_rows(trend.faults)
    return render_template(
        "trend.html.j2", trend=trend, charts=charts, when=when, drift=drift, faults=faults
    )


def write_trend(trend: Trend, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_trend(trend), encoding="utf-8")
    return path
