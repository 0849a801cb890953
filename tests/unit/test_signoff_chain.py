"""Coverage of the chain in the sign-off: the traceability matrix says what judges each
requirement (state, invariant, calls, trace, output), and the coverage gate can ask that
every requirement marked `mandatory_step: true` is judged by a trace or a call check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.report.gates import FAIL, PASS
from harness.report.signoff import coverage_gate
from harness.report.traceability import build_traceability
from harness.runlog.read import parse_manifest
from harness.spec.policy import CoverageGate, load_policy
from tests.helpers import results_frame, results_row


def _check(scenario: str, cid: str, kind: str, category: str, *reqs: str) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "check_id": cid,
        "type": kind,
        "category": category,
        "requirements": list(reqs),
    }


MANIFEST = {
    "requirements": [
        {"id": "RD-001", "severity": "critical", "title": "refund recorded"},
        {"id": "RD-002", "severity": "critical", "title": "compliance", "mandatory_step": True},
        {"id": "RD-003", "severity": "major", "title": "identity", "mandatory_step": True},
        {"id": "RD-004", "severity": "major", "title": "screen", "mandatory_step": True},
    ],
    "checks": [
        _check("big", "refund-row", "sql", "state", "RD-001", "RD-002"),
        _check("big", "compliance-span", "span", "trace", "RD-002"),
        _check("big", "compliance-call", "call", "call", "RD-002"),
        _check("big", "reply", "contains", "output", "RD-003"),
        _check("other", "screen-call", "call", "call", "RD-004"),  # its scenario did not run
        _check("", "inv", "invariant", "invariant", "RD-001"),
    ],
}


def _row(check: str, reqs: str, category: str, verdict: str = "pass") -> dict[str, Any]:
    return results_row(
        case_id="big#1",
        scenario="big",
        trial=1,
        check_id=check,
        requirements=reqs,
        verdict=verdict,
        category=category,
        origin="scenario",
    )


def _trace() -> Any:
    frame = results_frame(
        [
            _row("refund-row", "RD-001,RD-002", "state"),
            _row("compliance-span", "RD-002", "trace", "fail"),
            _row("compliance-call", "RD-002", "call"),
            _row("reply", "RD-003", "output"),
            _row("inv", "RD-001", "invariant"),
        ]
    )
    return build_traceability(frame, parse_manifest(MANIFEST), [])


def test_the_matrix_says_what_judges_each_requirement() -> None:
    trace = _trace()
    by_id = {r.id: r for r in trace.requirements}
    assert by_id["RD-001"].categories() == ["state", "invariant"]
    assert by_id["RD-002"].categories() == ["state", "call", "trace"]
    assert by_id["RD-003"].categories() == ["output"]
    assert by_id["RD-004"].categories() == []  # declared only: its scenario did not run
    assert by_id["RD-004"].categories(judged=False) == ["call"]
    assert by_id["RD-004"].coverage("call") == "declared"
    assert by_id["RD-003"].coverage("trace") == "none"
    assert [r.id for r in trace.mandatory] == ["RD-002", "RD-003", "RD-004"]


def test_the_gate_asks_a_trace_or_call_check_of_every_mandatory_step() -> None:
    result = coverage_gate(CoverageGate(mandatory_steps=["trace", "call"]), _trace())
    assert result.status == FAIL
    assert "every mandatory step is judged by trace or call" in result.title
    assert "3 requirement(s) marked mandatory_step" in result.detail
    steps = [f for f in result.findings if "mandatory step" in f]
    assert steps == [
        "RD-003: a mandatory step, but no trace or call check names it (judged by: output)",
        "RD-004: a mandatory step, but no trace or call check judged a case in this run "
        "(its trace or call checks did not run)",
    ]
    assert {"RD-003", "RD-004"} <= set(result.requirements)
    assert "RD-002" not in result.requirements  # a failing trace check still judges it


def test_without_mandatory_steps_the_gate_judges_only_coverage() -> None:
    frame = results_frame(
        [
            _row("refund-row", "RD-001,RD-002", "state"),
            _row("reply", "RD-003", "output"),
            _row("inv", "RD-001", "invariant"),
        ]
    )
    manifest = {**MANIFEST, "checks": MANIFEST["checks"][:1] + MANIFEST["checks"][3:4]}
    manifest["requirements"] = MANIFEST["requirements"][:3]
    manifest["checks"] = [*manifest["checks"], MANIFEST["checks"][-1]]
    trace = build_traceability(frame, parse_manifest(manifest), [])
    assert coverage_gate(CoverageGate(), trace).status == PASS
    # the same run, asked for the chain: RD-002 and RD-003 have neither trace nor call
    result = coverage_gate(CoverageGate(mandatory_steps=["trace", "call"]), trace)
    assert result.status == FAIL
    assert [f.split(":")[0] for f in result.findings] == ["RD-002", "RD-003"]
    # state is enough when the policy says so
    assert coverage_gate(CoverageGate(mandatory_steps=["state", "output"]), trace).status == PASS


def test_the_policy_reads_as_written_and_refuses_a_kind_it_does_not_know(tmp_path: Path) -> None:
    f = tmp_path / "policy.yaml"
    f.write_text("title: t\ngates:\n  coverage:\n    mandatory_steps: [trace, call]\n")
    policy = load_policy(f)
    gate = policy.gates.coverage_gate()
    assert gate is not None and gate.mandatory_steps == ["trace", "call"]
    f.write_text("title: t\ngates:\n  coverage:\n    mandatory_steps: [traces]\n")
    with pytest.raises(ConfigError) as info:
        load_policy(f)
    (problem,) = info.value.problems
    assert str(problem).startswith(f"{f}:4:")
    assert "gates.coverage.mandatory_steps[0]" in str(problem)
    f.write_text("title: t\ngates:\n  coverage:\n    mandatory_steps: []\n")
    with pytest.raises(ConfigError):
        load_policy(f)


def test_the_sign_off_shows_the_matrix_in_markdown_and_html() -> None:
    from harness.report.html import _env
    from harness.report.signoff_render import KINDS, MARKS, chain_coverage

    lines = chain_coverage(_trace())
    assert "| requirement | mandatory step | state | invariant | calls | trace | output |" in lines
    assert "| RD-002 | yes | ✓ | — | ✓ | ✓ | — |" in lines
    assert "| RD-004 | yes | — | — | ○ | — | — |" in lines
    assert "| RD-001 |  | ✓ | ✓ | — | — | — |" in lines
    # the HTML template's own table, rendered alone from the same data
    template = _env.get_template("signoff.html.j2")
    source = _env.loader.get_source(_env, "signoff.html.j2")[0]  # type: ignore[union-attr]
    start = source.index("<h3>What judges each requirement</h3>")
    part = _env.from_string(source[start : source.index("<h3>Requirements no check covers")])
    html = part.render(s=type("S", (), {"trace": _trace()}), kinds=KINDS, marks=MARKS)
    assert template is not None
    assert '<td class="cov-declared" title="declared">○</td>' in html
    assert html.count("<tr>") == 5


def test_a_signoffs_flaky_cases_stay_a_readable_list_at_any_size() -> None:
    from harness.report.signoff_render import first_cases

    assert first_cases(["c-1", "c-2"]) == "c-1, c-2"
    many = [f"c-{i}" for i in range(2500)]
    text = first_cases(many)
    assert text.startswith("c-0, c-1,") and text.endswith("c-19 and 2480 more")
    assert "c-20" not in text.split(" and ")[0]
