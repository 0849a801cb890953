"""Requirement -> checks -> cases -> results from a manifest's inventory and stored rows."""

from __future__ import annotations

from typing import Any

from harness.report.traceability import build_traceability
from harness.report.view import Divergence
from harness.runlog.read import parse_manifest
from tests.helpers import results_frame, results_row


def _row(case: str, trial: int, check: str, reqs: str, verdict: str, category: str) -> Any:
    return results_row(
        case_id=case,
        scenario=case.split("#")[0],
        trial=trial,
        check_id=check,
        requirements=reqs,
        verdict=verdict,
        category=category,
        check_type="sql" if category != "invariant" else "invariant",
    )


MANIFEST = {
    "requirements": [
        {"id": f"R-00{i}", "severity": "major", "title": f"r{i}"} for i in (1, 2, 3, 4)
    ],
    "checks": [
        {
            "scenario": "s",
            "check_id": "a",
            "type": "sql",
            "category": "state",
            "requirements": ["R-001"],
        },
        {
            "scenario": "t",
            "check_id": "b",
            "type": "sql",
            "category": "state",
            "requirements": ["R-002"],
        },
        {
            "scenario": "",
            "check_id": "inv",
            "type": "invariant",
            "category": "invariant",
            "requirements": ["R-001"],
        },
        {
            "scenario": "s",
            "check_id": "gone",
            "type": "sql",
            "category": "state",
            "requirements": ["R-009"],
        },
    ],
}


def test_uncovered_not_run_orphans_and_links_to_evidence() -> None:
    frame = results_frame(
        [
            _row("s#1", 1, "a", "R-001", "pass", "state"),
            _row("s#1", 2, "a", "R-001", "fail", "state"),
            _row("s#1", 1, "inv", "R-001", "pass", "invariant"),
            _row("(run)", 1, "inv", "R-001", "fail", "invariant"),
        ]
    )
    evidence = [
        Divergence(["R-001"], "major", ["r1"], "s", "a", "sql", "state", "fail"),
        Divergence(["R-001"], "major", ["r1"], "(run)", "inv", "invariant", "invariant", "fail"),
    ]
    trace = build_traceability(frame, parse_manifest(MANIFEST), evidence)
    assert trace.inventory_from == "manifest"
    assert trace.uncovered == ["R-003", "R-004"]  # no check names them
    assert trace.not_run == ["R-002"]  # its check exists but judged nothing here
    assert [c.check_id for c in trace.orphans] == ["gone"]  # names no requirement of the spec
    r1 = trace.requirements[0]
    a, inv = r1.checks
    assert (a.counts, a.cases, a.failing) == (
        {"pass": 1, "fail": 1, "error": 0},
        ["s#1"],
        ["s#1 (trial 2)"],
    )
    assert a.evidence == ["ev-1"] and inv.evidence == ["ev-2"]
    assert inv.failing == ["the run-wide sweep"] and r1.status == "fail"
    assert r1.anchor == "req-r-001"


def test_a_conditional_check_that_never_applied_is_explained_and_warned_about() -> None:
    manifest = {
        "requirements": [{"id": "R-001", "severity": "major", "title": "r1"}],
        "checks": [
            {
                "scenario": "s",
                "check_id": "always",
                "type": "sql",
                "category": "state",
                "requirements": ["R-001"],
            },
            {
                "scenario": "s",
                "check_id": "vip-only",
                "type": "sql",
                "category": "state",
                "requirements": ["R-001"],
                "conditional": True,
            },
            {
                "scenario": "t",
                "check_id": "other",
                "type": "sql",
                "category": "state",
                "requirements": ["R-001"],
                "conditional": True,
            },
        ],
    }
    rows = [
        _row("s#1", 1, "always", "R-001", "pass", "state"),
        # a replayed known regression is judged by the regressions gate, not counted here
        {**_row("regression:q", 1, "vip-only", "R-001", "fail", "state"), "origin": "regression"},
    ]
    trace = build_traceability(results_frame(rows), parse_manifest(manifest), [])
    always, vip, other = trace.requirements[0].checks
    assert always.counts["pass"] == 1 and vip.judged == 0
    assert vip.never_held and vip.why_not_run == "its when-condition never held in this run"
    assert not other.never_held and other.why_not_run == "its scenario had no case in this run"
    assert trace.never_held == [vip]
    assert trace.requirements[0].status == "pass"

    from harness.report.signoff import coverage_gate
    from harness.spec.policy import CoverageGate

    warned = coverage_gate(CoverageGate(), trace)
    assert warned.status == "pass" and warned.findings == [
        "warning: check s/vip-only (R-001) judged no case: its when-condition never held in "
        "this run (conditions_never_held: fail makes this fail)"
    ]
    strict = coverage_gate(CoverageGate(conditions_never_held="fail"), trace)
    assert strict.status == "fail" and strict.findings[0].startswith("check s/vip-only")
