"""`harness compare` as Markdown: new failures first, then fixed, newly flaky, steady this time,
the known regressions that changed, then every requirement's pass@1 and pass^k."""

from __future__ import annotations

from harness.report.compare import (
    COUNTED,
    NOISE_RULES,
    CheckChange,
    Comparison,
    MetricChange,
)
from harness.report.driftruns import compare_markdown
from harness.report.faultruns import compare_markdown as faults_markdown
from harness.report.reliability import RequirementReliability, percent
from harness.report.text import code

LISTED = 100  # entries per section in the Markdown (a step summary must stay under 1 MiB)
LEGEND = (
    "Each entry: requirement(s) · case · check: its status in BASE -> in HEAD (pass: every "
    "trial passed, fail: none did, flaky: some did; not in BASE: the run had no such case; "
    "not judged in BASE: it had the case, but the check's `when:` did not hold), then HEAD's "
    "trials in order (P pass, F fail, E error: an error is no pass)."
)


_WAS = {"absent": "not in BASE", "unjudged": "not judged in BASE"}


def _change_line(c: CheckChange) -> str:
    why = f": {code(c.message)}" if c.message and c.head != "pass" else ""
    already = (
        " (requirement already flaky or failing in base)"
        if c.head == "flaky" and c.base != "flaky" and not c.reliable_before
        else ""
    )
    return (
        f"- {c.requirements} · {code(c.case_id)} · check {code(c.check_id)}: "
        f"{_WAS.get(c.base, c.base)} -> {c.head} "
        f"(trials {c.outcomes}){already}{why}"
    )


def _p(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def _summary(c: Comparison, way: str, items: list[MetricChange]) -> str:
    moved = [m.requirement for m in items if m.moved(way)]
    return (
        f"{way.capitalize()}: {', '.join(m.requirement for m in items) or 'none'}; beyond "
        f"noise: {', '.join(moved) or 'none'}."
    )


def _listed(items: list[CheckChange], limit: int | None) -> list[str]:
    """The first `limit` entries (in order: requirement, then case and check in natural
    order) and how many more there are; every entry when limit is None."""
    if not items:
        return ["None."]
    shown = items if limit is None else items[:limit]
    more = len(items) - len(shown)
    tail = [f"- … and {more} more (`harness compare --all` lists every one)"] if more else []
    return [_change_line(i) for i in shown] + tail


def render_comparison(c: Comparison, *, limit: int | None = LISTED) -> str:
    """Markdown: new failures first, then fixed, newly flaky, known regressions, metrics.
    Each list shows at most `limit` entries (None: all) and says how many more; its heading
    counts them all."""
    out = [
        f"# harness compare: {c.base.run_id} -> {c.head.run_id}",
        "",
        f"Suite {c.head.suite}; base {c.base.manifest.trials or 1} and "
        f"head {c.head.manifest.trials or 1} trial(s) per case; k = {c.k}. {COUNTED}",
        "",
    ]
    out += [f"> note: {n}" for n in c.notes]
    if c.notes:
        out.append("")
    out += [LEGEND, ""]
    for title, items in (
        ("New failures", c.new_failures),
        ("Fixed", c.fixed),
        ("Newly flaky", c.newly_flaky),
        ("Flaky before, every trial passed this time (not counted as fixed)", c.steady),
        ("Known regressions that changed", c.regressions),
    ):
        out += [f"## {title} ({len(items)})", ""]
        out += _listed(items, limit)
        out.append("")
    if c.added or c.removed:
        out += ["## Requirements in only one of the runs' specs", ""]
        out += [_only_in_one(r, "HEAD") for r in c.added]
        out += [_only_in_one(r, "BASE") for r in c.removed]
        out.append("")
    out += [
        "## Metric changes per requirement",
        "",
        f"Beyond noise: {NOISE_RULES}",
        "",
        f"| requirement | severity | pass@1 base -> head | change | p | beyond noise | "
        f"pass^{c.k} base -> head | all {c.k} passed (cases) | p | beyond noise |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in c.metrics:
        delta = "—" if m.delta is None else f"{m.delta * 100:+.1f} pts"
        mark = {"worse": "▼ ", "better": "▲ "}.get(m.direction, "")
        bk, hk = m.base_k_counts, m.head_k_counts
        counts = f"{bk[1]}/{bk[0]} -> {hk[1]}/{hk[0]}" if bk[0] and hk[0] else "—"
        out.append(
            f"| {mark}{m.requirement} | {m.severity} | "
            f"{percent(m.base_at_1.value)} ({m.base_counts[1]}/{m.base_counts[0]}) -> "
            f"{percent(m.head_at_1.value)} ({m.head_counts[1]}/{m.head_counts[0]}) | {delta} | "
            f"{_p(m.p_value)} | {'yes' if m.beyond_noise else 'no'} | "
            f"{percent(m.base_at_k.value)} -> {percent(m.head_at_k.value)} | {counts} | "
            f"{_p(m.p_value_k)} | {'yes' if m.beyond_noise_k else 'no'} |"
        )
    out += ["", _summary(c, "worse", c.worse), "", _summary(c, "better", c.better), ""]
    if c.drift is not None:
        out += compare_markdown(c.drift)
    if c.faults is not None:
        out += faults_markdown(c.faults)
    red = c.red
    out.append(
        f"**Red**: {'; '.join(red)}." if red else "**Green**: nothing new fails or got worse."
    )
    return "\n".join(out) + "\n"


def _only_in_one(r: RequirementReliability, which: str) -> str:
    from harness.report.text import cell  # renderers import the statistics, not back

    judged = (
        f"pass@1 {percent(r.pass_at_1.value)} ({r.passes}/{r.trials} trials)"
        if r.trials
        else "no check judged it: nothing to compare (the sign-off's coverage gate names it)"
    )
    return f"- {r.requirement} ({r.severity}) {cell(r.title)}: only in {which}; {judged}"
