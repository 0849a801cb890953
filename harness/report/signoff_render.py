"""The sign-off report as Markdown, self-contained HTML, JSON and (optionally) PDF.

The HTML uses the run report's stylesheet and evidence macro, autoescaped, under
the same Content-Security-Policy; the PDF is printed from that HTML by WeasyPrint
when it is installed (`pip install 'harness[pdf]'`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.core import SWEEP_CASE
from harness.errors import ConfigError
from harness.report.html import render_template
from harness.report.markdown import divergence_markdown, reliability_section
from harness.report.signoff import Signoff
from harness.report.text import cell, code
from harness.report.traceability import Traceability, TracedCheck, evidence_anchor
from harness.runlog.models import AnyManifest, HuntManifest, LoadManifest
from harness.runlog.read import RunFolder

SHOWN_CASES = 6


def _short_cases(cases: list[str]) -> str:
    """How many cases a check ran in, and the first few; the run-wide invariant sweep is
    named apart, never counted as a case."""
    own = [c for c in cases if c != SWEEP_CASE]
    shown = ", ".join(own[:SHOWN_CASES])
    text = f"{len(own)}: {shown}" if own else "0"
    text += f" and {len(own) - SHOWN_CASES} more" if len(own) > SHOWN_CASES else ""
    return text + (" + the run-wide sweep" if SWEEP_CASE in cases else "")


SHOWN_FLAKY = 20


def first_cases(cases: Sequence[str], shown: int = SHOWN_FLAKY) -> str:
    """A list of case ids that stays readable at any size: the first `shown`, then how many
    more (a run of 100,000 cases may have thousands of flaky ones)."""
    text = ", ".join(cases[:shown])
    return text + (f" and {len(cases) - shown} more" if len(cases) > shown else "")


def _results(c: TracedCheck) -> str:
    if not c.judged:
        return f"not run: {c.why_not_run}"
    n = c.counts
    return f"{n.get('pass', 0)} pass · {n.get('fail', 0)} fail · {n.get('error', 0)} error"


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def agent_version(m: AnyManifest) -> str:
    """The agent's version as the suite states it, and its git commit when the harness
    started it from a git checkout."""
    agent = m.agent
    parts = []
    if agent is not None and agent.version:
        parts.append(f"version {agent.version}")
    git = (agent.git if agent is not None else None) or {}
    if git.get("commit"):
        changes = git.get("changes") or 0
        parts.append(
            f"commit {git['commit']}"
            + (f" with {changes} local change(s), untracked files included" if changes else "")
            + f" (git checkout {git.get('repository')})"
        )
    if not parts:
        return (
            "not recorded: set environment.agent.version in suite.yaml (e.g. "
            "{{ env.AGENT_VERSION }}), or start the agent from a git checkout"
        )
    return "; ".join(parts)


def environment(s: Signoff) -> dict[str, Any]:
    """What exactly was judged, from the run's manifest."""
    m = s.run.manifest
    source = m.source or {}
    commit = "not recorded (the suite is not in a git checkout)"
    if source:
        commit = source.get("commit", "") + (" (with local changes)" if source.get("dirty") else "")
    data_seeds = {f"data:{k}": v for k, v in m.data_seeds.items()}
    command = m.agent.command if m.agent is not None else None
    return {
        "spec": f"{m.spec_title} version {m.spec_version}",
        "spec_hash": m.spec_hash,
        "suite_hash": m.suite_hash,
        "commit": commit,
        "seeds": {"cases": m.seed, **data_seeds},
        "harness": m.harness_version,
        "python": m.python,
        "faker": m.faker_version,
        "hypothesis": m.hypothesis_version,
        "agent": command or "(already running; not started by harness)",
        "agent_version": agent_version(m),
        "trials": m.trials or 1,
        "concurrency": m.concurrency,
        "deps": m.deps.chosen if m.deps is not None else None,
        "dependencies": [d.to_dict() for d in m.dependencies],
        "policy": f"{s.policy_path} (sha256 {file_hash(s.policy_path)})",
        "status": s.run.status,
        "host": m.owner.host if m.owner is not None else None,
    }


def related_summary(run: RunFolder, superseded_by: str | None = None) -> list[str]:
    """A hunt's or load run's result in a few lines (a load run no gate read: by which)."""
    m = run.manifest
    head = f"{run.kind} {run.run_id}: status {run.status}, started {m.started_at}"
    lines = [head]
    if isinstance(m, HuntManifest):
        lines.append(
            f"searched {m.tried} case(s) in {m.budget_seconds:g} s"
            f"{' (plain baseline)' if m.plain else ''}; {len(m.found)} new divergence(s)"
        )
        lines += [
            f"found {f.requirement} in {f.case_id} (check {f.check})"
            + (f", saved as {f.path}" if f.path else "")
            for f in m.found
        ]
    elif isinstance(m, LoadManifest):
        load = m.load
        lines.append(
            f"profile {load.profile} ({load.shape}), peak {load.peak_users} users, "
            f"{load.length_s} s"
        )
        if superseded_by:
            lines.append(
                f"superseded by load run {superseded_by} of the same profile: read by no gate"
            )
    return lines


def render_signoff_markdown(s: Signoff) -> str:
    m = s.run.manifest
    env = environment(s)
    out = [
        f"# Sign-off: {cell(s.policy.title)}",
        "",
        f"## Verdict: **{s.verdict}**",
        "",
        f"Run {code(s.run.run_id)} of suite {cell(m.suite)} (status {s.run.status}), "
        f"judged against the policy {code(str(s.policy_path))} at k = {s.policy.k}.",
        "",
    ]
    if s.blocking:
        out += ["Why not GO:", ""]
        for g in s.blocking:
            out.append(f"- **{g.name}** ({g.status}): {cell(g.title)}")
            out += [f"  - {cell(f)}" for f in g.findings]
    else:
        unmeasured = any(g.status != "pass" for g in s.gates)
        out.append(
            "Every required gate passed"
            + ("; the optional ones not measured are listed below." if unmeasured else ".")
        )
    out += [
        "",
        "## Gates",
        "",
        "| gate | status | blocks the release | what it requires | measured |",
        "|---|---|---|---|---|",
    ]
    for g in s.gates:
        blocks = "yes" if g.blocking else ("no (optional)" if g.optional else "no")
        out.append(f"| {g.name} | {g.status} | {blocks} | {cell(g.title)} | {cell(g.detail)} |")
    for g in s.gates:
        if g.findings:
            out += ["", f"**{g.name}**:", ""] + [f"- {cell(f)}" for f in g.findings]
    out.append("")
    if s.reliability.trials > 1 or s.policy.k == 1:
        out += reliability_section(s.reliability)
    else:
        out += [
            "## Reliability",
            "",
            f"One trial per case: pass^{s.policy.k} needs `harness run --trials {s.policy.k}`.",
            "",
        ]
    out += [
        "## Traceability: requirement → checks → cases → results",
        "",
        "Counted: the run's own cases and its run-wide invariant sweep; replayed known "
        "regression cases are in the regressions gate.",
        "",
        "| requirement | check | kind | cases | results | evidence |",
        "|---|---|---|---|---|---|",
    ]
    for r in s.trace.requirements:
        head = f'<a id="{r.anchor}"></a>**{r.id}** ({r.severity}) {cell(r.title)}'
        if s.trace.drift:  # how far the group's drift runs judged it
            judged = s.trace.drift.get(r.id, ["not judged by a drift run"])
            head += f" · drift: {cell('; '.join(judged))}"
        if s.trace.faults:  # its R_fault in the group's faulted runs
            under = s.trace.faults.get(r.id, ["not judged by a faulted run"])
            head += f" · faults: {cell('; '.join(under))}"
        if not r.checks:
            out.append(f"| {head} | — | — | — | **no check names it** | — |")
            continue
        for i, c in enumerate(r.checks):
            name = f"{c.scenario}/{c.check_id}" if c.scenario else f"invariant {c.check_id}"
            links = ", ".join(f"[{a}](#{a})" for a in c.evidence) or "—"
            out.append(
                f"| {head if i == 0 else ''} | {code(name)} | {c.category} · {c.type} | "
                f"{cell(_short_cases(c.cases))} | {_results(c)} | {links} |"
            )
    out += ["", *chain_coverage(s.trace)]
    out += ["", "### Requirements no check covers", ""]
    out += [f"- {r}" for r in s.trace.uncovered] or ["None."]
    if s.trace.not_run:
        not_run = ", ".join(s.trace.not_run)
        out += ["", f"Requirements whose checks did not run in this run: {not_run}."]
    out += ["", "### Conditional checks whose condition never held", ""]
    out += [
        f"- {code(c.scenario + '/' + c.check_id)} ({', '.join(c.requirements)}): its "
        "when-condition held for none of its scenario's cases in this run, so it judged nothing"
        for c in s.trace.never_held
    ] or ["None."]
    out += ["", "### Checks that name no requirement", ""]
    out += [f"- {code(c.scenario + '/' + c.check_id)}" for c in s.trace.orphans] or [
        "None (every check and invariant must name a requirement of the spec)."
    ]
    out += [
        "",
        "## Spec and environment",
        "",
        f"- spec: {cell(env['spec'])}, sha256 {env['spec_hash']}; suite files sha256 "
        f"{env['suite_hash']}",
        f"- source: {cell(env['commit'])}",
        "- seeds: " + ", ".join(f"{k} {v}" for k, v in env["seeds"].items()),
        f"- harness {env['harness']} · python {env['python']} · faker {env['faker']} · "
        f"hypothesis {env['hypothesis']}",
        f"- agent: {code(env['agent'])}",
        f"- agent version: {cell(env['agent_version'])}",
        f"- {env['trials']} trial(s) per case, concurrency {env['concurrency']}, "
        f"dependencies via {env['deps']}",
        f"- policy: {cell(env['policy'])}",
        "",
    ]
    if env["dependencies"]:
        out += [
            "| dependency | kind | provider | image or source | digest | version |",
            "|---|---|---|---|---|---|",
        ]
        out += [
            f"| {cell(d.get('name'))} | {d.get('kind')} | {d.get('provider')} | "
            f"{cell(d.get('source'))} | {cell(d.get('digest'))} | {cell(d.get('version'))} |"
            for d in env["dependencies"]
        ]
        out.append("")
    out += ["## Hunt and load runs of this group", ""]
    if not s.related:
        group = m.group
        out.append(
            f"None in group {code(group)}."
            if group
            else "None: the run has no --group, and none was named with --with."
        )
    for run in s.related:
        lines = related_summary(run, s.superseded.get(run.run_id))
        out.append(f"- {cell(lines[0])}")
        out += [f"  - {cell(line)}" for line in lines[1:]]
        levels = s.loads.get(run.run_id)
        if levels is not None:
            out += [
                f"  - {v.users} users: {v.passes}/{v.trials} trials passed" for v in levels.levels
            ]
    out += ["", "## Evidence", ""]
    if not s.view.divergences:
        out.append("No divergence: every check passed.")
    for i, d in enumerate(s.view.divergences):
        out += divergence_markdown(d, evidence_anchor(i))
    return "\n".join(out).rstrip() + "\n"


def render_signoff_html(s: Signoff) -> str:
    return render_template(
        "signoff.html.j2",
        s=s,
        m=s.run.manifest,
        env=environment(s),
        related=[
            (run, related_summary(run, s.superseded.get(run.run_id)), s.loads.get(run.run_id))
            for run in s.related
        ],
        results=_results,
        short_cases=_short_cases,
        first_cases=first_cases,
        anchor=evidence_anchor,
        kinds=KINDS,
        marks=MARKS,
    )


def signoff_json(s: Signoff) -> dict[str, Any]:
    """The verdict and every gate, for scripts and CI."""
    m = s.run.manifest
    return {
        "verdict": s.verdict,
        "run_id": s.run.run_id,
        "suite": m.suite,
        "spec_hash": m.spec_hash,
        "spec_version": m.spec_version,
        "policy": str(s.policy_path),
        "k": s.policy.k,
        "gates": [
            {
                "name": g.name,
                "status": g.status,
                "blocking": g.blocking,
                "optional": g.optional,
                "title": g.title,
                "detail": g.detail,
                "findings": g.findings,
                "requirements": g.requirements,
            }
            for g in s.gates
        ],
        "uncovered": s.trace.uncovered,
        "not_run": s.trace.not_run,
        "judged_by": {
            r.id: {"categories": r.categories(), "mandatory_step": r.mandatory_step}
            for r in s.trace.requirements
        },
        "related": [r.run_id for r in s.related],
    }


#: how a kind of check covers a requirement, in the matrix of what judges it
MARKS = {"judged": "✓", "declared": "○", "none": "—"}
KINDS = {"state": "state", "invariant": "invariant", "call": "calls", "trace": "trace",
         "output": "output"}  # fmt: skip


def chain_coverage(trace: Traceability) -> list[str]:
    """What judges each requirement, by kind: the state, an invariant, a stubbed service's
    log (calls), the agent's spans (trace), its replies (output)."""
    out = [
        "### What judges each requirement",
        "",
        "✓ a check of this kind judged a case in this run · ○ declared, judged none here · "
        "— none. Mandatory steps (spec.yaml's `mandatory_step: true`) are steps of the real "
        "chain that must happen; calls and trace see them happen, not only their outcome.",
        "",
        "| requirement | mandatory step | " + " | ".join(KINDS.values()) + " |",
        "|---|---|" + "---|" * len(KINDS),
    ]
    for r in trace.requirements:
        marks = " | ".join(MARKS[r.coverage(k)] for k in KINDS)
        out.append(f"| {r.id} | {'yes' if r.mandatory_step else ''} | {marks} |")
    return out


def write_pdf(html: str, path: Path) -> Path:
    try:
        import weasyprint
    except ImportError as exc:
        raise ConfigError(
            f"--pdf needs WeasyPrint, which is not installed ({exc})",
            hint="pip install 'harness[pdf]' (on Debian/Ubuntu it also needs Pango: "
            "apt-get install libpango-1.0-0 libpangoft2-1.0-0), or drop --pdf",
        ) from None
    weasyprint.HTML(string=html).write_pdf(path)
    return path


def write_signoff(s: Signoff, out_dir: Path, *, pdf: bool = False) -> dict[str, Path]:
    """Write every form of the sign-off into the run's folder; return their paths."""
    html = render_signoff_html(s)
    paths = {
        "markdown": out_dir / "signoff.md",
        "html": out_dir / "signoff.html",
        "json": out_dir / "signoff.json",
    }
    paths["markdown"].write_text(render_signoff_markdown(s), encoding="utf-8")
    paths["html"].write_text(html, encoding="utf-8")
    paths["json"].write_text(json.dumps(signoff_json(s), indent=2) + "\n", encoding="utf-8")
    if pdf:
        paths["pdf"] = write_pdf(html, out_dir / "signoff.pdf")
    return paths
