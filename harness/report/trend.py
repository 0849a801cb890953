"""pass@1 and pass^k per requirement over a suite's last runs, drawn as inline SVG.

One small chart per requirement, oldest run on the left: pass@1 as a solid line,
pass^k dashed, each point with its 95% interval as a whisker and a tooltip. The
page is one self-contained HTML file (no script, no external asset); the numbers
are also in a table under each chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup, escape

from harness.errors import ConfigError
from harness.report.html import render_template
from harness.report.reliability import METHODS, Rate, compute, interval, percent
from harness.report.runs import StoredRun, run_frame, stored_runs, suite_runs

WIDTH, HEIGHT, PAD_X, PAD_Y, AXIS = 360, 150, 34, 14, 22
COLOURS = {"pass@1": "#1570ef", "pass^k": "#b42318"}


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


@dataclass
class Trend:
    suite: str
    k: int
    runs: list[StoredRun]
    series: list[Series]
    methods: str = METHODS


def build_trend(root: Path, suite: str, last: int, k: int | None = None) -> Trend:
    runs = suite_runs(root, suite, last)
    if not runs:
        known = sorted({str(r.manifest.get("suite")) for r in stored_runs(root) if r.kind == "run"})
        raise ConfigError(
            f"no finished run of suite {suite!r} under {root}",
            hint=f"suites with runs there: {', '.join(known) or 'none'} "
            "(--reports-dir or HARNESS_REPORTS_DIR choose another folder)",
        )
    # one k for every run, so that the points are comparable: the fewest trials any run had
    k = k or min(int(r.manifest.get("trials") or 1) for r in runs)
    series: dict[str, Series] = {}
    for run in runs:
        rel = compute(run_frame(run), run.manifest, k=k)
        for r in rel.requirements:
            s = series.setdefault(r.requirement, Series(r.requirement, r.severity, r.title, []))
            s.points.append(
                Point(run.run_id, run.started_at, rel.trials, r.pass_at_1, r.pass_hat_k)
            )
    return Trend(suite, k, runs, list(series.values()))


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
        line = " ".join(
            f"{_x(i, n):.1f},{_y(r.value):.1f}" for i, r, _ in points if r.value is not None
        )
        if line:
            parts.append(
                f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>'
            )
        for i, r, p in points:
            if r.value is None:
                continue
            x = _x(i, n)
            if r.low is not None and r.high is not None:
                parts.append(
                    f'<line x1="{x:.1f}" y1="{_y(r.low):.1f}" x2="{x:.1f}" y2="{_y(r.high):.1f}" '
                    f'stroke="{colour}" stroke-opacity="0.35" stroke-width="6"/>'
                )
            tip = f"{p.run_id}: {label} {percent(r.value)} (95% interval {interval(r)})"
            parts.append(
                f'<circle cx="{x:.1f}" cy="{_y(r.value):.1f}" r="3.5" fill="{colour}">'
                f"<title>{escape(tip)}</title></circle>"
            )
    ends = {0: series.points[0], n - 1: series.points[-1]} if series.points else {}
    for i, p in ends.items():
        anchor = "start" if i == 0 and n > 1 else ("end" if n > 1 else "middle")
        parts.append(
            f'<text x="{_x(i, n):.1f}" y="{HEIGHT - 6}" font-size="10" text-anchor="{anchor}" '
            f'fill="#667085">{escape(p.started_at[:10])}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def render_trend(trend: Trend) -> str:
    charts = [(s, svg(s, len(trend.runs), trend.k)) for s in trend.series]
    return render_template("trend.html.j2", trend=trend, charts=charts)


def write_trend(trend: Trend, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_trend(trend), encoding="utf-8")
    return path
