"""The Markdown summary: pass rate per requirement, then every divergence with its evidence.

Agent text only ever appears inside code fences longer than any backtick run in
it, or escaped in table cells, so no reply can inject markup into the report.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson

from harness.report.reliability import Reliability, interval, percent
from harness.report.text import cell, code, fence, show
from harness.report.view import Divergence, Example, ReportView

if TYPE_CHECKING:  # a load's, a drift's and a faulted run's sections: imported when they ran
    from harness.report.drift import DriftSummary
    from harness.report.faults import FaultsSummary
    from harness.report.load import LoadSummary

REGRESSION_MARK = {"pass": "✅", "fail": "❌", "error": "⚠"}


def _ours(text: str) -> str:
    """The harness's own prose (never agent text): formulas as inline code, the rest as is,
    so `C(c,k)` reads the same wherever it appears."""
    return re.sub(r"C\(c,\s?(\w+)\)/C\(n,\s?(\w+)\)", lambda m: code(m.group(0)), text)


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def reliability_section(rel: Reliability) -> list[str]:
    """pass@1 and pass^k per requirement side by side, then the flaky cases."""
    k = rel.k
    out = [
        f"## Reliability over {rel.trials} trials per case",
        "",
        f"Capability is **pass@1**, the share of trials that pass; reliability is "
        f"**pass^{k}**, the chance that {k} trials of the same case all pass, estimated "
        f"without bias as {code(f'C(c,{k})/C(n,{k})')} (n trials, c passes). They are shown "
        f"side by side, never merged. {_ours(rel.methods)}",
        "",
        _ours(rel.counted),
        "",
        f"| requirement | severity | cases | trials | pass@1 | 95% interval | pass^{k} "
        "| 95% interval | flaky cases |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rel.requirements:
        out.append(
            f"| {r.requirement} | {r.severity} | {r.cases} | {r.trials} | "
            f"{percent(r.pass_at_1.value)} | {interval(r.pass_at_1)} | "
            f"{percent(r.pass_hat_k.value)} | "
            f"{interval(r.pass_hat_k)} | {len(r.flaky_cases)} |"
        )
    out += ["", "### Flaky cases", ""]
    if not rel.flaky:
        out += ["None: every case passed in all its trials or in none.", ""]
        return out
    out += [
        "Passed in some trials and not in others (P pass, F fail, E error, in trial order):",
        "",
        f"| case | scenario | trials | pass@1 (95% interval) | pass^{k} (95% interval) "
        "| requirements that flipped |",
        "|---|---|---|---|---|---|",
    ]
    for c in rel.flaky_shown:
        out.append(
            f"| {code(c.case_id)} | {cell(c.scenario)} | {code(c.outcomes)} | "
            f"{percent(c.pass_at_1.value)} ({interval(c.pass_at_1)}) | "
            f"{percent(c.pass_hat_k.value)} ({interval(c.pass_hat_k)}) | "
            f"{', '.join(rel.flaky_requirements(c.case_id))} |"
        )
    if rel.flaky_more:
        out += ["", f"… and {rel.flaky_more} more flaky case(s) (reliability.parquet lists them)."]
    return [*out, ""]


def _value_block(value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        cols: list[str] = []
        for r in value:
            cols.extend(c for c in r if c not in cols)
        lines = ["| " + " | ".join(cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(cell(show(r.get(c))) for c in cols) + " |" for r in value]
        return "\n".join(lines)
    if isinstance(value, list) and not value:
        return "_(no rows)_"
    if isinstance(value, str):
        return fence(value)
    return fence(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode(), "json")


def _example(ex: Example, full: bool = True, expected: str = "expected") -> list[str]:
    out = [f"**Case** {code(ex.case_id)} (trial {ex.trial}, session {code(ex.session_id)})", ""]
    if ex.message:
        out += [f"**Why:** {cell(ex.message)}", ""]
    if ex.case_error:
        out += ["**The case could not complete:**", "", fence(ex.case_error), ""]
    if ex.expected is not None or ex.found is not None:  # the crux first, then how it came
        out += [f"**{expected.capitalize()}:**", "", _value_block(ex.expected), ""]
        out += ["**Found:**", "", _value_block(ex.found), ""]
    if ex.entities:
        out += ["**Setup rows inserted for this case:**", ""]
        for name, row in ex.entities.items():
            out += [f"- {code(name)}: " + ", ".join(f"{cell(k)}={code(v)}" for k, v in row.items())]
        out.append("")
    if ex.vars:
        label = "Inputs of this trial" if ex.trial_inputs else "Generated inputs"
        out += [f"**{label}:** " + ", ".join(f"{cell(k)}={code(v)}" for k, v in ex.vars.items())]
        if ex.planned:
            out.append(
                "(the case's planned inputs, where this trial drew fresh unique values: "
                + ", ".join(f"{cell(k)}={code(v)}" for k, v in ex.planned.items())
                + ")"
            )
        out.append("")
    if ex.session:
        out += [
            "**Captured in the conversation:** "
            + ", ".join(f"{cell(k)}={code(v)}" for k, v in ex.session.items()),
            "",
        ]
    if ex.calls:
        out += ["**Requests around the turns:**", ""]
        out += [f"- {_call(c)}" for c in ex.calls]
        out.append("")
    out += _chain(ex)
    if ex.turns:
        out += ["**Conversation:**", ""]
        for t in ex.turns:
            source = f" ({cell(t['source'])})" if t.get("source") else ""
            fault = f" ({cell(t['during'])})" if t.get("during") else ""
            out += [f"Turn {t['index']}{source}{fault}, user:", "", fence(t["text"]), ""]
            if t["reply"] is not None:
                out += ["Agent replied:", "", fence(t["reply"]), ""]
            if t["error"]:
                out += ["Agent call failed:", "", fence(t["error"]), ""]
            out += _turn_extras(t)
    if ex.probes:
        out += [f"({ex.probes})", ""]  # the harness's own words and turn numbers
    return out


def _chain(ex: Example) -> list[str]:
    """What the agent did on the way: its spans per turn, the stubbed services' log."""
    out = []
    if ex.trace is not None:
        out += ["**Spans the agent sent, per turn:**", "", fence(ex.trace.text), ""]
    if ex.requests:
        out += ["**Requests stubbed services received:**", "", fence("\n".join(ex.requests)), ""]
    return out


def _turn_extras(t: dict[str, Any]) -> list[str]:
    """What came with a reply: its status, timing, tokens, tool calls and other fields."""
    facts = [f"HTTP status {code(t['status'])}"] if t["status"] is not None else []
    if t["first_byte_ms"] is not None:
        whole = f" of {t['latency_ms']:,.0f} ms" if t["latency_ms"] is not None else ""
        facts.append(f"first byte after {t['first_byte_ms']:,.0f} ms{whole}")
    if t["usage"]:
        facts.append("tokens: " + ", ".join(f"{cell(k)} {code(v)}" for k, v in t["usage"].items()))
    line = " · ".join(facts)
    out = [line[:1].upper() + line[1:], ""] if facts else []
    if t["tool_calls"]:
        out += ["Tool calls:", "", fence("\n".join(t["tool_calls"])), ""]
    if t["fields"] is not None:
        out += ["Other fields of the reply:", "", fence(t["fields"], "json"), ""]
    return out


def _call(c: dict[str, Any]) -> str:
    """A request around the turns (login, open, close): what it was and what became of it."""
    request = f"{show(c.get('method'))} {show(c.get('url'))}"
    what = f"{cell(c.get('purpose'))} {code(request)}"
    status = c.get("status")
    got = f"HTTP {code(status)}" if status is not None else "no answer"
    latency = c.get("latency_ms")
    if isinstance(latency, int | float) and not isinstance(latency, bool):
        got += f" after {latency:,.0f} ms"
    return f"{what}: {got}" + (f"; failed: {cell(c['error'])}" if c.get("error") else "")


def _divergence(d: Divergence) -> list[str]:
    reqs = ", ".join(f"{r} {cell(t)}" for r, t in zip(d.requirements, d.titles, strict=False))
    out = [
        f"### {_verdict(d)} · {reqs} ({d.severity}) · {cell(d.scenario)} / {cell(d.check_id)}",
        "",
        f"Scenario {code(d.scenario)}, check {code(d.check_id)} "
        f"({d.category} · {d.check_type}), "
        f"{d.count} case(s).",
        "",
    ]
    for ex in d.examples:
        out += _example(ex, expected=d.expected_label)
    if d.others:
        out += ["Same divergence in:", ""]
        out += [f"- {code(cid)}: {cell(msg)}" for cid, msg in d.others]
        if d.more:
            out.append(f"- … and {d.more} more case(s) (results.parquet lists every one)")
        out.append("")
    return out


def divergence_markdown(d: Divergence, anchor: str = "") -> list[str]:
    """One divergence group with its evidence; with an anchor that links can point to."""
    return ([f'<a id="{anchor}"></a>', ""] if anchor else []) + _divergence(d)


def _verdict(d: Divergence) -> str:
    return "ERROR (the suite's: the check could not run)" if d.suite else d.verdict.upper()


def _suites(view: ReportView) -> str:
    """How many errors are the suite's own: checks that could not run."""
    n = view.suite_errors
    return f" ({n} of them checks that could not run: the suite's)" if n else ""


def render_markdown(
    view: ReportView,
    load: LoadSummary | None = None,
    drift: DriftSummary | None = None,
    faults: FaultsSummary | None = None,
) -> str:
    m = view.manifest
    t = view.totals
    verdict = f"**{view.headline}**"
    out = [
        f"# harness report: {cell(m.suite)}",
        "",
        verdict,
        "",
        *(
            [f"**{cell(faults.headline)}** (see [Faults](#faults))", ""]
            if faults is not None and faults.profile is not None
            else []
        ),
        f"- run `{m.run_id}` · status {view.status} · started {m.started_at}",
        f"- spec: {cell(m.spec_title)} version {cell(m.spec_version)} "
        f"(sha256 {m.spec_hash}) · seed {m.seed} · "
        f"concurrency {m.concurrency}",
        f"- {view.cases} {view.unit}{_kept(view)}, {sum(t.values())} check verdicts: "
        f"{t['pass']} pass, {t['fail']} fail, {t['error']} error{_suites(view)} (an error is "
        "never a pass)",
        f"- harness {m.harness_version} · python {m.python}",
        "",
    ]
    if m.suite_warnings:  # likely mistakes in the suite, found by running it
        out += ["**Warnings about the suite:**", ""]
        out += [f"- {cell(w)}" for w in m.suite_warnings] + [""]
    if view.regressions or view.unreadable_regressions:
        out += [f"## Known regressions: {view.regressions_headline}", ""]
        if view.unreadable_regressions:
            out += [
                f"- regression file left out, it cannot be replayed: {cell(p)}"
                for p in view.unreadable_regressions
            ]
            out.append("")
        if view.regressions:
            out += [
                "| regression case | its requirement | its check | now |",
                "|---|---|---|---|",
            ]
            out += [
                f"| {code(r.case_id)} | {r.requirement} | {code(r.check)} | "
                f"{'⚠' if r.others and r.verdict == 'pass' else REGRESSION_MARK[r.verdict]} "
                f"{cell(r.now)} |"
                for r in view.regressions
            ]
            out.append("")
    deps = m.dependencies
    if deps:
        out += [
            "## Environment",
            "",
            "| dependency | kind | provider | image or source | digest | version | ready (s) "
            "| fixtures (s) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        out += [
            f"| {cell(d.name)} | {d.kind} | {d.provider} | {cell(d.source)} | "
            f"{cell(d.digest)} | {cell(d.version)} | "
            f"{d.ready_seconds:.2f} | {d.fixtures_seconds:.2f} |"
            for d in deps
        ]
        agent = m.agent
        if agent is not None and agent.command:
            out += [
                "",
                f"Agent: {code(agent.command)}, healthy after {agent.ready_seconds} s.",
            ]
        out.append("")
    out += [
        "## Requirements",
        "",
        "| requirement | severity | title | cases | checks | pass | fail | error | pass rate |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in view.requirements:
        mark = "❌ " if r["fail"] or r["error"] else ("⚪ " if r["checks"] == 0 else "✅ ")
        out.append(
            f"| {mark}{r['requirement']} | {r['severity']} | {cell(r['title'])} | {r['cases']} | "
            f"{r['checks']} | {r['pass']} | {r['fail']} | {r['error']} | {_pct(r['pass_rate'])} |"
        )
    uncovered = view.uncovered
    if uncovered:
        out += ["", f"Not covered by any check: {', '.join(uncovered)}."]
    unplayed = [r for r in view.unjudged if r not in uncovered]
    if unplayed and view.manifest.kind != "hunt":  # a hunt keeps the cases it found alone
        out += ["", f"Not judged in this {view.manifest.kind} (its checks' cases were not "
                f"played): {', '.join(unplayed)}."]  # fmt: skip
    out.append("")
    if view.traffic is not None:
        out += ["## Traffic", ""]
        out += [f"- {line}" for line in view.traffic.lines(code)]
        out.append("")
    rel = view.reliability
    if rel is not None and rel.trials > 1:
        out += reliability_section(rel)
    elif rel is not None and view.manifest.kind == "run":
        out += ["One trial per case: `harness run --trials k` measures pass^k and flaky cases.", ""]
    if load is not None:
        from harness.report.loadrender import markdown_section

        out += markdown_section(load)
    if drift is not None:
        from harness.report.driftrender import markdown_section as drift_section

        out += drift_section(drift)
    if faults is not None:
        from harness.report.faultrender import markdown_section as faults_section

        out += ['<a id="faults"></a>', "", *faults_section(faults)]
    out += ["## Divergences", ""]
    if not view.divergences:
        out.append("None.")
    for d in view.divergences:
        out += _divergence(d)
    out += ["", "---", "", "The same run in report.html; every check's row in results.parquet."]
    return "\n".join(out).rstrip() + "\n"


def _kept(view: ReportView) -> str:
    """A hunt's records are the cases of what it found, not all it tried: said beside them."""
    m = view.manifest
    return f" kept (a hunt keeps what it found; it tried {m.tried})" if m.kind == "hunt" else ""
