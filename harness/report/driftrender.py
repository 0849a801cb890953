"""A drift run's section in every report: Markdown, HTML (each requirement's curve as inline
SVG) and JUnit (a testcase per requirement and length).

The curve is drawn here as SVG text, as the load plots are (report/loadrender.py): pass rate
against length with 95% interval bars, pass^k dashed when measured, the first degraded
length marked. Everything placed in it is a number or escaped. The messages of failing
checks are agent-made: capped and redacted by the numbers (report/drift.py), escaped here
for each format.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from markupsafe import Markup, escape

from harness.report.drift import Curve, DriftSummary, FirstFailure, Point
from harness.report.reliability import interval, percent
from harness.report.text import cell, code, num

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 520, 180, 44, 16, 14, 30
PASS, PASS_K, BAD = "#067647", "#1570ef", "#b42318"
FIRST_SHOWN = 20  # first failing turns listed per requirement in Markdown and HTML


def _turn(f: FirstFailure) -> str:
    where = f"turn {f.turn}" if f.turn is not None else "turn unknown"
    return where + (f" ({f.source})" if f.source else "")


def _trials(p: Point) -> str:
    errors = f", {p.errors} error(s)" if p.errors else ""
    return f"{p.passes}/{p.trials}{errors}"


def markdown_section(s: DriftSummary) -> list[str]:
    k = s.k
    out = ["## Drift", "", f"**{cell(s.headline)}**", ""]
    out += [
        f"{s.conversations} conversation(s), {s.turns} turn(s). Length: the filler turns before "
        f"the probe (the remembered turns at the start). {s.methods}",
        "",
    ]
    if s.tokens:
        out += [
            "Prompt tokens at the probe (mean): "
            + ", ".join(f"n={n}: {v:,.0f}" for n, v in s.tokens.items()),
            "",
        ]
    for c in s.curves:
        out += [f"### {c.requirement} {cell(c.title)} ({c.severity})", ""]
        out += [f"{cell(c.verdict)}. Scenarios: {', '.join(code(x) for x in c.scenarios)}.", ""]
        head = f" pass^{k} | 95% interval |" if k > 1 else ""
        rule = "---|---|" if k > 1 else ""
        tokens = any(p.tokens is not None for p in c.points)  # only where usage is reported
        out += [
            f"| length | passed | pass rate | 95% interval |{head} p vs baseline | Holm p |"
            + (" tokens |" if tokens else ""),
            f"|---|---|---|---|{rule}---|---|" + ("---|" if tokens else ""),
        ]
        for p in c.points:
            mark = "❌ " if p.degraded else ""
            at_k = f" {percent(p.pass_k.value)} | {interval(p.pass_k)} |" if k > 1 else ""
            base = " (baseline)" if p is c.baseline else ""
            out.append(
                f"| {mark}{p.length}{base} | {_trials(p)} | {percent(p.rate.value)} | "
                f"{interval(p.rate)} |{at_k} {num(p.p, '.3g')} | {num(p.p_holm, '.3g')} |"
                + (f" {num(p.tokens, ',.0f')} |" if tokens else "")
            )
        out.append("")
        if len(c.positions) > 1:
            at = "/".join(str(n) for n in c.position_lengths)
            out += [
                f"Position of the remembered turns at length {at} (Fisher p, best vs worst: "
                f"{num(c.position_p, '.3g')}):",
                "",
                "| position | passed | pass rate | 95% interval |",
                "|---|---|---|---|",
            ]
            out += [
                f"| {p.position} | {_trials(p)} | {percent(p.rate.value)} | {interval(p.rate)} |"
                for p in c.positions
            ]
            out.append("")
        if c.first_failures:
            out += [
                "First failing turn per case:",
                "",
                "| case | turn | check | trials failed | why |",
                "|---|---|---|---|---|",
            ]
            out += [
                f"| {code(f.case_id)} | {cell(_turn(f))} | {code(f.check_id)} | "
                f"{f.failed}/{f.trials} | {cell(f.message)} |"
                for f in c.first_failures[:FIRST_SHOWN]
            ]
            more = len(c.first_failures) - FIRST_SHOWN
            out += ["", f"... and {more} more case(s) in the HTML report."] if more > 0 else []
            out.append("")
    out += [
        "Every number is in `drift.parquet` (one row per requirement, length and position).",
        "",
    ]
    return out


# ---------------------------------------------------------------------------- SVG


def curve_svg(c: Curve, k: int) -> Markup:
    """Pass rate against length (evenly spaced, labelled), 95% interval bars, pass^k dashed,
    the first degraded length marked with a red line."""
    points = [p for p in c.points if p.trials]
    if not points:
        return Markup("")
    n = len(points)

    def x(i: int) -> float:
        return PAD_L + 12 + (W - PAD_L - PAD_R - 24) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return PAD_T + (H - PAD_T - PAD_B) * (1 - v)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        f'role="img" aria-label="{escape(f"drift curve of {c.requirement}")}">'
    ]
    for level in (0.0, 0.5, 1.0):
        parts.append(
            f'<line x1="{PAD_L}" y1="{y(level):.1f}" x2="{W - PAD_R}" y2="{y(level):.1f}" '
            f'stroke="#e4e7ec"/><text x="{PAD_L - 4}" y="{y(level) + 4:.1f}" font-size="10" '
            f'text-anchor="end" fill="#667085">{level * 100:.0f}%</text>'
        )
    for i, p in enumerate(points):
        parts.append(
            f'<text x="{x(i):.1f}" y="{H - PAD_B + 13}" font-size="10" text-anchor="middle" '
            f'fill="#667085">{p.length}</text>'
        )
        if p.length == c.first_degraded:
            right = x(i) > W / 2  # the label on the side with room
            at, anchor = (x(i) - 4, "end") if right else (x(i) + 4, "start")
            parts.append(
                f'<line x1="{x(i):.1f}" y1="{PAD_T}" x2="{x(i):.1f}" y2="{H - PAD_B}" '
                f'stroke="{BAD}" stroke-dasharray="3 3"/><text x="{at:.1f}" y="{PAD_T + 9}" '
                f'font-size="10" text-anchor="{anchor}" fill="{BAD}">'
                f"first degraded: n={p.length}</text>"
            )
    series: list[tuple[str, str, str, list[tuple[int, Any]]]] = [
        ("pass rate", PASS, "", [(i, p.rate) for i, p in enumerate(points)])
    ]
    if k > 1:
        dashed = ' stroke-dasharray="5 3"'
        series.append((f"pass^{k}", PASS_K, dashed, [(i, p.pass_k) for i, p in enumerate(points)]))
    for shift, (name, colour, dash, rates) in enumerate(series):
        known = [(i, r) for i, r in rates if r.value is not None]
        if len(known) > 1:
            line = " ".join(f"{x(i):.1f},{y(r.value):.1f}" for i, r in known)
            parts.append(
                f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>'
            )
        for i, r in known:
            if r.low is not None and r.high is not None:
                bar = x(i) + 7 * shift  # pass^k's bar beside the pass rate's
                parts.append(
                    f'<line x1="{bar:.1f}" y1="{y(r.low):.1f}" x2="{bar:.1f}" '
                    f'y2="{y(r.high):.1f}" stroke="{colour}" stroke-opacity="0.35" '
                    'stroke-width="6"/>'
                )
            p = points[i]
            over = f"{_trials(p)} trials passed" if shift == 0 else f"over {p.cases} case(s)"
            tip = f"n={p.length}: {name} {percent(r.value)} (95% interval {interval(r)}), {over}"
            fill = BAD if p.degraded else colour
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(r.value):.1f}" r="3.5" fill="{fill}">'
                f"<title>{escape(tip)}</title></circle>"
            )
    lx = PAD_L
    for name, colour, dash, _ in series:  # the legend, bottom left
        parts.append(
            f'<line x1="{lx}" y1="{H - 7}" x2="{lx + 16}" y2="{H - 7}" stroke="{colour}" '
            f'stroke-width="2"{dash}/><text x="{lx + 20}" y="{H - 4}" font-size="10" '
            f'fill="#344054">{escape(name)}</text>'
        )
        lx += 30 + 6 * len(name)
    parts.append(
        f'<text x="{W - PAD_R}" y="{H - 4}" font-size="10" text-anchor="end" fill="#667085">'
        "length (filler turns before the probe)</text></svg>"
    )
    return Markup("".join(parts))


def html_context(s: DriftSummary) -> dict[str, Any]:
    return {
        "summary": s,
        "charts": [(c, curve_svg(c, s.k)) for c in s.curves],
        "turn": _turn,
        "trials": _trials,
        "num": num,
        "shown": FIRST_SHOWN * 5,
    }


# ---------------------------------------------------------------------------- JUnit


def junit_suite(s: DriftSummary, parent: ET.Element, text: Callable[[Any], str]) -> None:
    """A testcase per requirement and length: failed when the requirement fails at the
    baseline, or when the length is at or beyond its first degraded length (or, with too few
    cases to tell, its first drop) with a pass rate below the baseline's; the rate is in
    every testcase's output."""
    cases: list[tuple[Curve, Point, str | None]] = []
    for c in s.curves:
        base = c.baseline
        for p in c.points:
            if base is None or not p.trials:
                continue
            failure = None
            below = (p.rate.value or 0.0) < (base.rate.value or 0.0)
            if c.fails_at_baseline:
                failure = f"{c.requirement} {c.verdict}"
            elif c.first_degraded is not None and p.length >= c.first_degraded and below:
                failure = (
                    f"{c.requirement} degraded at n={p.length}: {percent(p.rate.value)} vs "
                    f"{percent(base.rate.value)} at n={base.length} (Holm-corrected Fisher p = "
                    f"{num(p.p_holm, '.3g')}); first degraded at n={c.first_degraded}"
                )
            elif c.undetermined and p.length >= (c.dropped or 0) and below:
                failure = f"{c.requirement} {c.verdict}"
            cases.append((c, p, failure))
    suite = ET.SubElement(
        parent,
        "testsuite",
        name=text(f"{s.manifest.suite}.drift"),
        tests=str(len(cases)),
        failures=str(sum(1 for *_, f in cases if f)),
        errors="0",
        skipped="0",
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="trials", value=text(s.k))
    for c in s.curves:
        ET.SubElement(
            props, "property", name=text(f"first_degraded.{c.requirement}"),
            value=text(c.first_degraded),
        )  # fmt: skip
    for c, p, failure in cases:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=text(f"{s.manifest.suite}.drift.{c.requirement}"),
            name=text(f"{c.requirement} holds at length {p.length}"),
            time="0",
        )
        rate = (
            f"pass rate {percent(p.rate.value)} ({interval(p.rate)}), {_trials(p)} trials "
            f"passed at length {p.length}; one-sided Fisher p vs baseline "
            f"{num(p.p, '.3g')}, Holm {num(p.p_holm, '.3g')}"
        )
        ET.SubElement(case, "system-out").text = text(rate)
        if failure:
            firsts = [
                f for f in c.first_failures if (f.length, f.position) == (p.length, p.position)
            ][:5]
            detail = "\n".join(
                f"{f.case_id}: {_turn(f)}, check {f.check_id}: {f.message}" for f in firsts
            )
            ET.SubElement(case, "failure", message=text(failure), type="drift").text = text(
                rate + ("\n" + detail if detail else "")
            )
