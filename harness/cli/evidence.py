"""A replayed case's evidence for a person (`harness replay`): inputs, the conversation, what
the agent did on the way, every verdict. What the agent said is hostile: redacted, control
characters made visible, capped, escaped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

from harness.cli.common import err

if TYPE_CHECKING:
    from harness.core import CaseResult, Observation


def print_result(result: CaseResult) -> None:
    """A case's evidence for a person: inputs, the conversation, every verdict. What the
    agent said is hostile: redacted, control characters made visible, capped, escaped."""
    from harness.core.types import as_data
    from harness.report.faultturns import during
    from harness.report.text import turn_source
    from harness.report.view import NEGATED, cap
    from harness.spec.template import format_value

    def shown(value: object) -> str:
        return escape(cap(value))

    case, obs = result.case, result.observation
    style = {"pass": "green", "fail": "red", "error": "yellow"}[result.verdict.value]
    err.print(
        f"[bold]{shown(case.id)}[/] trial {result.trial}: [{style}]{result.verdict.value}[/] "
        f"(session {shown(obs.session_id)}, {obs.duration_ms:.0f} ms)"
    )
    if case.vars:
        err.print(
            "  inputs: " + shown(", ".join(f"{k}={format_value(v)}" for k, v in case.vars.items()))
        )
    for name, row in obs.entities.items():
        values = ", ".join(f"{k}={format_value(v)}" for k, v in row.items())
        err.print(f"  {shown(name)}: {shown(values)}")
    windows = as_data(obs.faults) if obs.faults else []
    for t in obs.turns:
        source = turn_source(t.source)  # a reactive answer, filler: not the script's own
        said = f"[dim]({shown(source)})[/] " if source else ""
        fault = during({"index": t.index, "sent_ns": t.sent_ns}, windows)
        said += f"[yellow]({shown(fault)})[/] " if fault else ""
        err.print(f"  > {said}{shown(t.text)}")
        if t.reply is not None:
            err.print(f"  < {shown(t.reply)}")
        if t.error:
            err.print(f"  [yellow]! {shown(t.error)}[/]")
    if result.verdict.value != "pass":
        _print_chain(obs)
    for c in result.checks:
        mark = {"pass": "[green]pass[/]", "fail": "[red]FAIL[/]", "error": "[yellow]ERROR[/]"}[
            c.verdict.value
        ]
        err.print(f"  {mark} " + shown(f"{c.check_id} [{','.join(c.requirements)}] {c.message}"))
        if c.verdict.value != "pass":
            label = NEGATED.get(c.check_type, "expected")  # a forbidden text is no wanted one
            err.print(f"       {label}: {shown(c.expected)}")
            err.print(f"       {'found:':{len(label) + 1}} {shown(c.found)}")


def _print_chain(obs: Observation) -> None:
    """What the agent did on the way (its spans per turn, the stubbed services' log), as the
    reports show it: capped and masked there, escaped here."""
    from harness.core.types import as_data
    from harness.report.chain import request_lines, trace_evidence

    trace = {"id": obs.trace_id, "spans": as_data(obs.spans), "dropped": obs.spans_dropped,
             "stray": obs.spans_stray, "late": obs.spans_late}  # fmt: skip
    evidence = trace_evidence(trace, len(obs.turns))
    if evidence is not None:
        err.print("  spans the agent sent:")
        for line in evidence.text.splitlines():
            err.print(f"    {escape(line)}", soft_wrap=True)
    requests = request_lines(as_data(obs.requests))
    if requests:
        err.print("  requests stubbed services received:")
        for line in requests:
            err.print(f"    {escape(line)}", soft_wrap=True)
