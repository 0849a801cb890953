"""The sign-off's faults gate over faulted run folders written by the run log's own writer: a
requirement that degrades beyond noise below its severity's minimum fails, one that holds
passes, below the minimum within noise is a finding (or a failure with beyond_noise false),
too few trials to tell and an unfinished run are not measured; a faulted run joins its
group's sign-off and --with."""

from __future__ import annotations

from pathlib import Path

from harness.core.events import Status
from harness.report.signoff_faults import faulted_runs, faults_gate, r_fault_of
from harness.runlog.history import group_runs
from harness.runlog.read import open_run
from harness.runlog.store import RunLog
from harness.spec.policy import FaultsGate, load_policy
from tests.faultruns import fault_run

BROKEN = (["PP"] * 6, ["FF"] * 5 + ["PP"])
HELD = (["PP"] * 6, ["PP"] * 6)


def gate(
    folder: Path, related: list[Path] = (), **settings: object
) -> tuple[str, list[str], list[str]]:
    spec = {"min_r_fault": {"critical": 1.0, "major": 0.9}, **settings}
    runs, left_out = faulted_runs(open_run(folder), [open_run(r) for r in related])
    result = faults_gate(FaultsGate.model_validate(spec), runs, left_out)
    return result.status, result.findings, result.requirements


def test_a_requirement_degraded_below_its_minimum_fails_and_a_held_one_passes(
    tmp_path: Path,
) -> None:
    status, findings, reqs = gate(fault_run(tmp_path / "a", {"R-1": BROKEN, "R-2": HELD}))
    assert status == "fail" and reqs == ["R-1"]
    assert findings[0].startswith("R-1: R_fault 0.17 (its estimate) < 1 (critical)")
    assert "degrades under faults beyond noise" in findings[0]
    assert gate(fault_run(tmp_path / "b", {"R-1": HELD})) == ("pass", [], [])


def test_below_the_minimum_within_noise_is_a_finding_unless_beyond_noise_is_off(
    tmp_path: Path,
) -> None:
    noisy = fault_run(tmp_path / "a", {"R-1": (["PP"] * 6, ["PP"] * 5 + ["PF"])})
    status, findings, _ = gate(noisy)
    assert status == "pass" and findings[0].endswith("within noise")
    assert gate(noisy, beyond_noise=False)[0] == "fail"
    # a major requirement at 0.92 meets 0.9 by its estimate, not by its interval's lower end
    major = fault_run(
        tmp_path / "b",
        {"R-1": (["PPPPPPPPPPPP"] * 6, ["PPPPPPPPPPPP"] * 5 + ["PPPPPPFFFFFF"])},
        severities={"R-1": "major"},
    )
    assert gate(major)[0] == "pass"
    assert gate(major, bound="lower", beyond_noise=False)[0] == "fail"


def test_too_few_trials_or_no_faulted_run_is_not_measured(tmp_path: Path) -> None:
    status, findings, _ = gate(fault_run(tmp_path / "a", {"R-1": (["P"] * 3, ["F"] * 3)}))
    assert status == "not measured" and "too few trials to tell" in findings[0]
    plain = fault_run(tmp_path / "b", {"R-1": (["P"], [])}, windows=[], record_profile=False)
    status, findings, _ = gate(plain)
    assert status == "not measured" and "no faulted run belongs to this run" in findings[0]


def test_an_unfinished_faulted_run_of_the_group_is_left_out(tmp_path: Path) -> None:
    plain = fault_run(tmp_path / "a", {"R-1": (["P"], [])}, windows=[], record_profile=False)
    partial = fault_run(tmp_path / "b", {"R-1": HELD})
    log = RunLog.resume(partial.parent, partial.name)
    log.update(status=Status.INTERRUPTED)
    log.close()
    status, findings, _ = gate(plain, [partial])
    assert status == "not measured"
    assert findings[0].startswith(f"faulted run {partial.name} is interrupted, not finished")


def test_a_faulted_run_joins_its_group_and_the_matrix_shows_r_fault(tmp_path: Path) -> None:
    plain = fault_run(tmp_path, {"R-1": (["P"], [])}, windows=[], group="g", record_profile=False)
    faulted = fault_run(tmp_path, {"R-1": BROKEN}, group="g")
    other = fault_run(tmp_path, {"R-1": HELD})  # no group: only by --with
    related = group_runs(tmp_path, open_run(plain), (other.name,))
    assert [r.run_id for r in related] == [faulted.name, other.name]
    runs, _ = faulted_runs(open_run(plain), related)
    assert [r.run_id for r in runs] == [faulted.name, other.name]
    (broken, held) = r_fault_of(runs)["R-1"]
    assert broken.startswith("R_fault 0.17 under reset") and held.startswith("R_fault 1.00")


def test_the_policy_reads_the_faults_gate(tmp_path: Path) -> None:
    f = tmp_path / "policy.yaml"
    f.write_text(
        "title: t\ngates:\n  faults:\n    min_r_fault: {critical: 1.0, major: 0.9}\n"
        "    bound: lower\n",
        encoding="utf-8",
    )
    g = load_policy(f).gates.faults
    assert g is not None and g.bound == "lower" and g.beyond_noise
    assert g.min_r_fault.minimum("critical") == 1.0 and g.min_r_fault.minimum("minor") is None


def test_the_sign_off_of_a_faulted_run_judges_its_own_r_fault(tmp_path: Path) -> None:
    from harness.report.signoff import evaluate
    from harness.report.signoff_render import write_signoff

    f = tmp_path / "policy.yaml"
    f.write_text("title: t\ngates:\n  faults:\n    min_r_fault: {critical: 1.0}\n", "utf-8")
    run = open_run(fault_run(tmp_path / "runs", {"R-1": BROKEN, "R-2": HELD}))
    result = evaluate(run, load_policy(f), f, [])
    (faults,) = [g for g in result.gates if g.name == "faults"]
    assert faults.status == "fail" and faults.requirements == ["R-1"]
    assert result.verdict == "NO-GO"
    assert result.trace.faults["R-2"][0].startswith("R_fault 1.00 under reset")
    paths = write_signoff(result, run.dir)
    md = Path(paths["markdown"]).read_text(encoding="utf-8")
    assert "faults: R\\_fault 0.17 under reset" in md or "faults: R_fault 0.17" in md


def test_a_requirement_judged_in_one_phase_is_judged_on_that_phase(tmp_path: Path) -> None:
    """Only clean (its checks apply without faults): a note, never a block. Only under faults
    (a recovery check): passes when every faulted trial passed, fails otherwise."""
    run = fault_run(
        tmp_path / "a",
        {"R-1": (["PP"] * 6, []), "R-2": ([], ["PP"] * 6), "R-3": ([], ["PP"] * 5 + ["PF"])},
    )
    status, findings, reqs = gate(run)
    assert status == "fail" and reqs == ["R-3"], findings
    said = "\n".join(findings)
    assert "R-1: not judged under faults in" in said and "met its checks' `when:`" in said
    assert "R-2: judged only under faults" in said and "every faulted trial passed" in said
    assert "R-3: judged only under faults" in said and "fails there" in said
