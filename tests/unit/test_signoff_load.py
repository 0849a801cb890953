"""The sign-off's load gate and which load runs the sign-off reads: correctness under load below
the policy's minimum fails the gate whatever peak vs low load says, and the load and
invariants gates read the same runs, the newest of each load profile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.report.gates import FAIL, NOT_MEASURED, PASS
from harness.report.loadruns import LoadLevels, newest_loads
from harness.report.signoff import invariants_gate
from harness.report.signoff_load import load_gate
from harness.runlog.models import LoadLevel
from harness.runlog.read import RunFolder, parse_manifest
from harness.spec.policy import Gate, LoadGate, Minimums, load_policy

SEVERITY = {"SB-001": "critical", "SB-002": "major"}


def _run(run_id: str, started: str, profile: str = "ramp", **manifest: Any) -> RunFolder:
    data = {
        "kind": "load",
        "run_id": run_id,
        "suite": "seat_booking",
        "status": "finished",
        "started_at": started,
        "load": {"profile": profile},
        **manifest,
    }
    return RunFolder(Path("/nonexistent") / run_id, parse_manifest(data))


def _levels(table: dict[int, dict[str, tuple[int, int]]], violated: int = 0) -> LoadLevels:
    """Per level (users): per requirement (conversations, passes); a level's conversations
    are the most any requirement judged, its passes the fewest it passed."""
    levels = [
        LoadLevel(
            users=u,
            trials=max(n for n, _ in reqs.values()),
            passes=min(p for _, p in reqs.values()),
            invariant_violations=violated,
        )
        for u, reqs in sorted(table.items())
    ]
    by_req = {u: {rid: [n, p] for rid, (n, p) in reqs.items()} for u, reqs in table.items()}
    failing = [r for r, (n, p) in table[max(table)].items() if p < n]
    return LoadLevels(levels, failing, [], by_req)


# the reviewer's flaky ramp run: SB-002 fails about one conversation in four, a little less
# at peak than at low load, so peak vs low load alone saw no drop
FLAKY = {4: {"SB-002": (113, 74), "SB-001": (328, 328)}, 8: {"SB-002": (125, 94)}}
# the reviewer's race spike: SB-001 (critical) held in 20% at low load, 34% at peak
RACE = {2: {"SB-001": (107, 21)}, 10: {"SB-001": (191, 65)}}


def test_a_requirement_below_its_minimum_under_load_fails_although_peak_beats_low_load() -> None:
    run = _run("flaky", "2026-12-07T02:03:56+00:00")
    gate = load_gate(LoadGate(), [run], {"flaky": _levels(FLAKY)}, SEVERITY, {})
    assert gate.status == FAIL and gate.blocking
    assert gate.requirements == ["SB-002"]
    assert gate.findings == [
        "load run flaky: SB-002 (major) passed 65.5% at 4 users (74/113 conversations), "
        "75.2% at 8 users (94/125 conversations): below its minimum 100.0% (min_pass_rate, at "
        "every load level): correctness under load is below what the policy requires"
    ]
    assert "critical >= 100.0%, major >= 100.0%, minor >= 100.0%" in gate.title
    race = _run("race", "2026-12-07T02:06:03+00:00", profile="spike")
    gate = load_gate(LoadGate(), [race], {"race": _levels(RACE)}, SEVERITY, {})
    assert gate.status == FAIL and gate.requirements == ["SB-001"]
    assert "SB-001 (critical) passed 19.6% at 2 users (21/107 conversations)" in gate.findings[0]


def test_the_minimum_is_by_severity_and_a_severity_left_out_is_not_judged() -> None:
    run = _run("flaky", "2026-12-07T02:03:56+00:00")
    lenient = LoadGate(min_pass_rate=Minimums(critical=1.0, major=0.6))
    gate = load_gate(lenient, [run], {"flaky": _levels(FLAKY)}, SEVERITY, {})
    assert gate.status == PASS, gate.findings
    assert gate.detail.startswith("load run flaky: 75.2% at peak (94/125 trials, 8 users)")
    only_critical = LoadGate(min_pass_rate=Minimums(critical=1.0))
    assert load_gate(only_critical, [run], {"flaky": _levels(FLAKY)}, SEVERITY, {}).status == PASS
    # a requirement the signed-off run's spec does not know: held to the strictest minimum
    gate = load_gate(lenient, [run], {"flaky": _levels(FLAKY)}, {}, {})
    assert gate.status == FAIL and gate.requirements == ["SB-002"]
    assert "SB-002 (severity unknown to the spec)" in gate.findings[0]


def test_a_load_run_the_agent_died_in_fails_and_an_interrupted_one_is_not_measured() -> None:
    fine = _levels({2: {"SB-001": (10, 10)}, 10: {"SB-001": (20, 20)}})
    exited = {"profile": "spike", "agent_exit": {"code": -9, "at": 4.5}}
    died = _run("died", "2026-12-07T02:00:00+00:00", status="failed", load=exited)
    gate = load_gate(LoadGate(), [died], {"died": fine}, SEVERITY, {})
    assert gate.status == FAIL
    assert (
        "the agent process died under load (exit code -9, 4.5 s into the load)"
        in (gate.findings[0])
    )
    cut = _run("cut", "2026-12-07T02:00:00+00:00", status="interrupted")
    gate = load_gate(LoadGate(), [cut], {"cut": fine}, SEVERITY, {})
    assert gate.status == NOT_MEASURED and gate.blocking
    assert gate.findings[0].startswith("load run cut is interrupted, not finished")


def test_the_newest_run_of_each_profile_is_read_and_supersedes_the_older_ones() -> None:
    race = _run("race", "2026-12-07T01:56:52+00:00", profile="spike")
    ramp = _run("ramp", "2026-12-07T01:57:00+00:00", profile="ramp")
    fixed = _run("fixed", "2026-12-07T01:57:18+00:00", profile="spike")
    hunt = RunFolder(Path("/nonexistent/h"), parse_manifest({"kind": "hunt", "run_id": "h"}))
    read, superseded = newest_loads([fixed, hunt, ramp, race])  # --with comes last
    assert [r.run_id for r in read] == ["ramp", "fixed"]
    assert superseded == {"race": "fixed"}
    # a newer run cut short (interrupted, killed) supersedes nothing: it is read as not
    # measured beside the failed run it would have hidden (a GO beside 114 violations)
    cut = _run("cut", "2026-12-07T02:00:00+00:00", profile="spike", status="interrupted")
    read, superseded = newest_loads([race, fixed, cut])
    assert [r.run_id for r in read] == ["fixed", "cut"] and superseded == {"race": "fixed"}
    read, superseded = newest_loads([race, cut])
    assert [r.run_id for r in read] == ["race", "cut"] and superseded == {}


def test_the_invariants_gate_reads_the_load_runs_the_load_gate_reads() -> None:
    """What the sign-off passes both gates: a violation in a superseded run is in neither."""
    fixed = _levels({2: {"SB-001": (415, 415)}, 10: {"SB-001": (456, 456)}})
    manifest = parse_manifest({"kind": "run", "checks": []})
    gate = invariants_gate(Gate(), [], manifest, {"fixed": fixed}, {"race": "fixed"})
    assert gate.status == PASS
    assert "load run race superseded by fixed (same profile)" in gate.detail
    run = _run("fixed", "2026-12-07T01:57:18+00:00", profile="spike")
    load = load_gate(LoadGate(), [run], {"fixed": fixed}, SEVERITY, {"race": "fixed"})
    assert load.status == PASS and "load run race superseded by fixed" in load.detail


def test_a_policy_sets_min_pass_rate_by_severity(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("title: t\ngates:\n  load: {min_pass_rate: {major: 0.95}}\n")
    gate = load_policy(policy).gates.load_gate()
    assert gate is not None and gate.min_pass_rate.minimum("major") == 0.95
    assert gate.min_pass_rate.minimum("critical") is None  # left out: not judged
    policy.write_text("title: t\ngates:\n  load: true\n")
    default = load_policy(policy).gates.load_gate()
    assert default is not None and default.min_pass_rate.minimum("minor") == 1.0
    policy.write_text("title: t\ngates:\n  load: {min_pass_rate: {major: 1.5}}\n")
    with pytest.raises(ConfigError, match=r"min_pass_rate\.major"):
        load_policy(policy)


def test_violations_the_database_held_outside_judged_conversations_fail_the_invariants_gate() -> (
    None
):
    """An invariant without `scope:` judges no conversation: only the load's samples and the
    sweep after it see the double booking. The sign-off said "pass invariants" beside such a
    load run (exit 1, "samples saw up to 109 violating row(s)")."""
    from harness.core import CheckResult, Verdict
    from harness.report.loadruns import _outside
    from harness.runlog.models import SweepRecord

    run = _run(
        "race",
        "2026-12-07T02:44:04+00:00",
        load={
            "profile": "spike",
            "samples": [
                {"at": 5.0, "violations": {"one-holder": 40}},
                {"at": 10.0, "violations": {"one-holder": 109}},
            ],
        },
        checks=[
            {"check_id": "one-holder", "type": "invariant", "category": "invariant",
             "requirements": ["SB-001"]},
        ],
    )  # fmt: skip
    levels = _levels({2: {"SB-002": (40, 40)}, 10: {"SB-002": (80, 80)}})
    swept = CheckResult(
        check_id="one-holder", check_type="invariant", category="invariant",
        requirements=("SB-001",), verdict=Verdict.FAIL,
    )  # fmt: skip
    _outside(levels, run, [SweepRecord(key="(run)@1", attempt=1, checks=[swept])])
    assert levels.sampled_rows == 109 and levels.outside == {"one-holder": ["SB-001"]}
    manifest = parse_manifest({"kind": "run", "checks": []})
    gate = invariants_gate(Gate(), [], manifest, {"race": levels})
    assert gate.status == FAIL and gate.requirements == ["SB-001"], gate
    assert "up to 109 row(s) at once" in gate.findings[0], gate.findings
