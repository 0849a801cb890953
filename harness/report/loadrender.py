"""A load run's section in every report: Markdown, HTML (with inline SVG plots) and JUnit.

The plots are drawn here as SVG text, so the HTML report stays one file with no
script and no external asset: users over time with the pass rate (and error
rate), users over time with latency p50/p95/p99, and pass rate and p95 latency
against users. Everything placed in them is a number or escaped; database rows
shown as evidence are escaped by the same renderers as the rest of the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from markupsafe import Markup, escape

from harness.report.load import LoadSummary
from harness.report.loadbucket import Bucket
from harness.report.loadfaults import EXPLAIN, HEADINGS
from harness.report.loadfaults import rows as fault_rows
from harness.report.text import cell as _md_cell
from harness.report.text import num, pct

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 640, 200, 46, 46, 14, 28
COLOURS = {"users": "#98a2b3", "pass": "#067647", "error": "#b42318", "p50": "#1570ef",
           "p95": "#b54708", "p99": "#b42318"}  # fmt: skip


def _profile_line(s: LoadSummary) -> str:
    load = s.load
    dup = load.duplicates
    workers = load.workers
    return (
        f"Profile {load.profile} ({load.shape}), {num(load.length_s, 'g')} s, "
        f"peak {load.peak_users} users; {pct(dup.get('share'))} of cases sent twice at "
        f"once ({dup.get('session', 'separate')} sessions); windows of "
        f"{num(load.window_s, 'g')} s; "
        + (
            f"{workers} locust worker processes under a master."
            if workers
            else "one locust process."
        )
    )


def _traffic(s: LoadSummary) -> list[str]:
    load, counts = s.load, s.load.counts
    out = [
        f"{counts.get('judged', 0)} conversations judged ({counts.get('pairs', 0)} duplicate "
        f"pairs sent, each judged by invariants scoped to its rows), {counts.get('abandoned', 0)} "
        f"cut off by the end (not judged), {counts.get('setup_errors', 0)} whose rows could not "
        "be set up (errors)."
    ]
    if unjudged := counts.get("unjudged"):  # see the suite's warning: a race there goes unseen
        why = "no invariant is scoped to their rows; not counted as judged"
        out.append(f"{unjudged} conversation(s) of duplicate pairs judged by nothing ({why}).")
    if s.faulted:
        out.append(
            f"{s.faulted} conversation(s) overlapped a fault window: they are in the time "
            "windows and the fault windows' table but in no level (they measure the fault)."
        )
    if s.ramping_down:
        out.append(
            f"{s.ramping_down} conversation(s) started while the profile ramped down to 0 users: "
            "they are in the time windows but in no level."
        )
    locust = load.locust
    if locust is not None:
        workers = locust.workers
        split = ""
        if workers:
            split = " = " + " + ".join(str(w.requests) for w in workers.values())
            split += f" from its {len(workers)} workers"
        out.append(f"Locust counted {locust.requests} requests{split}, {locust.failures} failed.")
    else:  # cut short before locust's totals came: what each process last reported
        counted = [p for p in load.processes if p.role != "master" and p.requests]
        if counted:
            parts = [p.requests for p in counted]
            split = " = " + " + ".join(map(str, parts)) if len(parts) > 1 else ""
            out.append(
                f"Locust's own totals did not arrive (the run was cut short); its "
                f"{len(parts)} process(es) last reported {sum(parts)} requests{split} "
                "(partial)."
            )
    waited = float(load.waited_s or 0.0)
    if waited and s.levels:
        busy = sum(lv.seconds for lv in s.levels) * max(lv.users for lv in s.levels) or 1.0
        out.append(
            f"Users waited {waited:.1f} s in all for prepared cases"
            + (
                " (more than a tenth of their time: the harness, not the agent, set the pace)."
                if waited / busy > 0.1
                else "."
            )
        )
    return out


def markdown_section(s: LoadSummary) -> list[str]:
    cell = _md_cell
    out = ["## Load", "", _profile_line(s), "", f"**{cell(s.verdict)}**", ""]
    out += [" ".join(_traffic(s)), ""]
    # the first byte's column only when some turn recorded one
    fb_head, fb_rule = (" p95 first byte ms |", "---|") if s.has_first_byte else ("", "")

    def fb(b: Bucket) -> str:
        return f" {num(b.first_byte(0.95), '.0f')} |" if s.has_first_byte else ""

    out += [
        "### By level (users the profile drove)",
        "",
        "| users | conversations | pass rate | vs lowest (Fisher p) | requests/s | p50 ms | p95 ms "
        f"| p99 ms |{fb_head} error rate | invariant violations | sampled rows |",
        f"|---|---|---|---|---|---|---|---|{fb_rule}---|---|---|",
    ]
    for lv in s.levels:
        mark = "❌ " if lv.degraded else ""
        out.append(
            f"| {mark}{lv.users} | {lv.conversations} | {pct(lv.pass_rate)} | "
            f"{num(lv.p_value, '.3g')} | {num(lv.rps, '.1f')} | {num(lv.percentile(0.5), '.0f')} | "
            f"{num(lv.percentile(0.95), '.0f')} | {num(lv.percentile(0.99), '.0f')} |{fb(lv)} "
            f"{pct(lv.error_rate)} | {lv.violations} | {lv.sampled} |"
        )
    reqs = [r for r in s.requirements if any(lv.by_requirement.get(r) for lv in s.levels)]
    if reqs:
        out += ["", "Pass rate per requirement and level:", ""]
        out += ["| users | " + " | ".join(reqs) + " |", "|---|" + "---|" * len(reqs)]
        for lv in s.levels:
            out.append(f"| {lv.users} | " + " | ".join(pct(lv.rate(r)) for r in reqs) + " |")
    out += [
        "",
        "### By time window",
        "",
        f"| window | seconds | users | requests/s | p50 ms | p95 ms | p99 ms |{fb_head} error rate "
        "| conversations | pass rate | invariant violations | sampled rows |",
        f"|---|---|---|---|---|---|---|{fb_rule}---|---|---|---|---|",
    ]
    for w in s.windows:
        out.append(
            f"| {w.key} | {w.start:g}–{w.end:g} | {w.users} | {num(w.rps, '.1f')} | "
            f"{num(w.percentile(0.5), '.0f')} | {num(w.percentile(0.95), '.0f')} | "
            f"{num(w.percentile(0.99), '.0f')} |{fb(w)} {pct(w.error_rate)} | {w.conversations} | "
            f"{pct(w.pass_rate)} | {w.violations} | {w.sampled} |"
        )
    out += ["", *fault_markdown(s)] if s.faults else []
    if s.first_violations:
        out += ["", "### Invariants violated in the database during the load", ""]
        for v in s.first_violations:
            out += [
                f"`{cell(v['invariant'])}`: {v['count']} violating row(s) at {v['at']:.1f} s; "
                "first rows:",
                "",
                _rows_md(v["rows"]),
                "",
            ]
    out += [
        "",
        "Every number is in `load.parquet` (one row per window or level and requirement); "
        "the manifest's `levels` holds trials and passes per level.",
        "",
    ]
    return out


def _rows_md(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_(no rows kept)_"
    cols: list[str] = []
    for r in rows:
        cols.extend(c for c in r if c not in cols)
    lines = ["| " + " | ".join(_md_cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_md_cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- SVG plots


def _scale(lo: float, hi: float, a: float, b: float) -> Callable[[float], float]:
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def _chart(
    title: str,
    xs: list[float],
    x_label: str,
    series: list[tuple[str, str, list[float | None], bool]],  # name, colour, values, on right
    left: tuple[str, float],  # label, max
    right: tuple[str, float] | None,
    step: list[float] | None = None,  # users as a grey step area on the right axis
    bands: Sequence[tuple[float, float, str]] = (),  # fault windows, shaded
) -> Markup:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">'
    ]
    if not xs:
        return Markup("")
    x = _scale(min(xs), max(xs), PAD_L, W - PAD_R)
    yl = _scale(0, left[1] or 1.0, H - PAD_B, PAD_T)
    yr = _scale(0, (right[1] if right else 1.0) or 1.0, H - PAD_B, PAD_T)
    for frac in (0.0, 0.5, 1.0):
        y = yl(frac * (left[1] or 1.0))
        parts.append(
            f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" stroke="#e4e7ec"/>'
            f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="#667085">{escape(_tick(frac * left[1], left[0]))}</text>'
        )
        if right:
            parts.append(
                f'<text x="{W - PAD_R + 4}" y="{y + 4:.1f}" font-size="10" fill="#667085">'
                f"{escape(_tick(frac * right[1], right[0]))}</text>"
            )
    lo, hi = min(xs), max(xs)
    for frac in (0.0, 0.5, 1.0):
        at = lo + frac * (hi - lo)
        anchor = ("start", "middle", "end")[int(frac * 2)]
        parts.append(
            f'<text x="{x(at):.1f}" y="{H - PAD_B + 12}" font-size="10" text-anchor="{anchor}" '
            f'fill="#667085">{escape(f"{at:g}")}</text>'
        )
    if step:  # users hold from one window's start to the next
        ends = [*xs[1:], xs[-1]]
        pts = " ".join(
            f"{x(a):.1f},{yr(u):.1f} {x(b):.1f},{yr(u):.1f}"
            for a, b, u in zip(xs, ends, step, strict=True)
        )
        parts.append(
            f'<polyline points="{x(xs[0]):.1f},{yr(0):.1f} {pts} {x(xs[-1]):.1f},{yr(0):.1f}" '
            f'fill="#f2f4f7" stroke="{COLOURS["users"]}" stroke-width="1"/>'
        )
    for a, b, label in bands:  # shaded over the users, under the lines, clamped to the plot
        a, b = min(max(a, lo), hi), min(max(b, lo), hi)
        parts.append(
            f'<rect x="{x(a):.1f}" y="{PAD_T}" width="{max(x(b) - x(a), 1.0):.1f}" '
            f'height="{H - PAD_B - PAD_T}" fill="#fee4e2"><title>{escape(label)}</title></rect>'
        )
    for name, colour, values, on_right in series:
        to_y = yr if on_right else yl
        known = [(a, v) for a, v in zip(xs, values, strict=True) if v is not None]
        if len(known) > 1:
            line = " ".join(f"{x(a):.1f},{to_y(v):.1f}" for a, v in known)
            parts.append(
                f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for a, v in known:
            px, py = x(a), to_y(v)
            parts.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{colour}">'
                f"<title>{escape(f'{name} at {a:g} {x_label}: {v:.3g}')}</title></circle>"
            )
    legend = [("users", COLOURS["users"])] if step else []
    legend += [(n, c) for n, c, _, _ in series]
    lx = PAD_L
    for name, colour in legend:
        parts.append(
            f'<rect x="{lx}" y="{H - 12}" width="10" height="3" fill="{colour}"/>'
            f'<text x="{lx + 14}" y="{H - 8}" font-size="10" fill="#344054">{escape(name)}</text>'
        )
        lx += 24 + 6 * len(name)
    parts.append(
        f'<text x="{W - PAD_R}" y="{H - 8}" font-size="10" text-anchor="end" fill="#667085">'
        f"{escape(x_label)}</text></svg>"
    )
    return Markup("".join(parts))


def _tick(value: float, unit: str) -> str:
    return f"{value * 100:.0f}%" if unit == "%" else f"{value:.0f}{unit}"


def charts(s: LoadSummary) -> list[tuple[str, Markup]]:
    """The plots of a load run: pass rate and latency against users, over time and by level."""
    ws = s.windows
    if not ws:
        return []
    xs = [w.start for w in ws]
    users = [float(w.users) for w in ws]
    top_users = max([*users, 1.0])
    lat = {q: [w.percentile(q) for w in ws] for q in (0.5, 0.95, 0.99)}
    top_lat = max([v for vals in lat.values() for v in vals if v is not None] + [1.0])
    bands = [(n.start, n.end, f"fault {n.number}: {n.window.toxic} on {n.window.link}")
             for n in s.faults]  # fmt: skip
    out = [
        (
            "Pass rate and error rate over time, with the users running",
            _chart(
                "pass rate over time",
                xs,
                "s",
                [
                    ("pass rate", COLOURS["pass"], [w.pass_rate for w in ws], False),
                    ("error rate", COLOURS["error"], [w.error_rate for w in ws], False),
                ],
                ("%", 1.0),
                (" users", top_users),
                users,
                bands,
            ),
        ),
        (
            "Latency over time, with the users running",
            _chart(
                "latency over time",
                xs,
                "s",
                [
                    (f"p{round(q * 100)}", COLOURS[f"p{round(q * 100)}"], v, False)
                    for q, v in lat.items()
                ],
                (" ms", top_lat),
                (" users", top_users),
                users,
                bands,
            ),
        ),
    ]
    if len(s.levels) > 1:
        lx = [float(lv.users) for lv in s.levels]
        p95 = [lv.percentile(0.95) for lv in s.levels]
        out.append(
            (
                "Pass rate and p95 latency against users",
                _chart(
                    "by users",
                    lx,
                    "users",
                    [
                        ("pass rate", COLOURS["pass"], [lv.pass_rate for lv in s.levels], False),
                        ("p95", COLOURS["p95"], p95, True),
                    ],
                    ("%", 1.0),
                    (" ms", max([v for v in p95 if v is not None] + [1.0])),
                ),
            )
        )
    return out


# ---------------------------------------------------------------------------- JUnit


def bucket_rows(buckets: list[Bucket]) -> list[dict[str, Any]]:
    """For the HTML template: the numbers of each window or level, formatted."""
    return [
        {
            "key": b.key,
            "span": f"{b.start:g}–{b.end:g}",
            "users": b.users,
            "conversations": b.conversations,
            "pass_rate": pct(b.pass_rate),
            "p_value": num(b.p_value, ".3g"),
            "rps": num(b.rps, ".1f"),
            "p50": num(b.percentile(0.5), ".0f"),
            "p95": num(b.percentile(0.95), ".0f"),
            "p99": num(b.percentile(0.99), ".0f"),
            "ttfb_p95": num(b.first_byte(0.95), ".0f"),
            "error_rate": pct(b.error_rate),
            "violations": b.violations,
            "sampled": b.sampled,
            "degraded": b.degraded,
            "by_requirement": b.by_requirement,
            "rate": b.rate,
        }
        for b in buckets
    ]


def html_context(s: LoadSummary) -> dict[str, Any]:
    return {
        "summary": s,
        "profile_line": _profile_line(s),
        "traffic": _traffic(s),
        "charts": charts(s),
        "levels": bucket_rows(s.levels),
        "windows": bucket_rows(s.windows),
        "has_first_byte": s.has_first_byte,  # a "p95 first byte ms" column only then
        "faults": [n.sentence() for n in s.faults],
        "fault_rows": fault_rows(s.faults),
        "fault_headings": HEADINGS,
        "fault_explain": EXPLAIN,
        "requirements": [
            r for r in s.requirements if any(lv.by_requirement.get(r) for lv in s.levels)
        ],
        "pct": pct,
    }


def fault_markdown(s: LoadSummary) -> list[str]:
    """The fault windows: before, during and after each, and the recovery."""
    if not s.faults:
        return []
    cell = _md_cell
    heads = list(HEADINGS.values())
    out = ["### Fault windows", ""] + [f"- {cell(n.sentence())}" for n in s.faults] + [""]
    out += ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for row in fault_rows(s.faults):
        out.append("| " + " | ".join(cell(row[k]) for k in HEADINGS) + " |")
    return [*out, "", EXPLAIN, ""]
