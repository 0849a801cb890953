"""The robustness number R_fault: the pure statistics (the ratio's interval keeps its coverage,
a robust but noisy agent is rarely called degraded, a collapse is found, too few trials are
said), and the numbers of faulted run folders written by the run log's own writer and read
back by its reader."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness.report.faults import FaultsSummary, base_id, summarize_faults
from harness.report.faultstats import compare_all, r_fault, ratio_interval, trials_needed
from harness.runlog.read import open_run
from tests.faultruns import fault_run, window


def summary(folder: Path) -> FaultsSummary:
    result = summarize_faults(open_run(folder))
    assert result is not None
    return result


# ------------------------------------------------------------------ statistics


def test_r_fault_is_the_ratio_capped_at_one_and_not_measured_without_a_clean_pass() -> None:
    assert r_fault(10, 20, 20, 20).value == pytest.approx(0.5)
    better = r_fault(20, 20, 18, 20)
    assert better.value == 1.0 and better.high == 1.0 and better.low is not None
    assert better.low < 1.0
    assert not r_fault(5, 10, 0, 10).measured
    assert not r_fault(0, 0, 5, 10).measured
    nothing = r_fault(0, 20, 20, 20)
    assert nothing.value == 0.0 and nothing.low == 0.0 and nothing.high is not None
    assert 0.0 < nothing.high < 0.3


def test_the_ratio_interval_contains_the_estimate_and_narrows_with_more_trials() -> None:
    for fp, fn, cp, cn in [(3, 10, 9, 10), (30, 100, 90, 100), (10, 10, 10, 10), (0, 5, 5, 5)]:
        limits = ratio_interval(fp, fn, cp, cn)
        assert limits is not None
        assert limits[0] <= (fp / fn) / (cp / cn) <= limits[1]
    small = ratio_interval(3, 10, 9, 10)
    large = ratio_interval(30, 100, 90, 100)
    assert small is not None and large is not None
    assert large[1] - large[0] < small[1] - small[0]


def test_the_ratio_interval_covers_the_true_ratio_about_95_percent_of_the_time() -> None:
    """Seeded simulation: MOVER-R over Wilson keeps coverage near 95% with small counts."""
    rng = random.Random(3)
    for clean, faulted, n in ((0.9, 0.6, 20), (0.95, 0.95, 30), (0.7, 0.35, 15)):
        covered = runs = 0
        for _ in range(1500):
            cp = sum(rng.random() < clean for _ in range(n))
            fp = sum(rng.random() < faulted for _ in range(n))
            limits = ratio_interval(fp, n, cp, n)
            if limits is None:
                continue
            runs += 1
            covered += limits[0] <= faulted / clean <= limits[1]
        assert covered / runs > 0.92, (clean, faulted, covered / runs)


def test_a_robust_but_noisy_agent_is_rarely_called_degraded_and_a_collapse_is_found() -> None:
    rng = random.Random(11)
    runs, called = 1000, 0
    for _ in range(runs):
        counts = []
        for _ in range(4):  # four requirements at 90% in both phases
            counts.append((20, sum(rng.random() < 0.9 for _ in range(20)), 20,
                           sum(rng.random() < 0.9 for _ in range(20))))  # fmt: skip
        called += any(c.degraded for c in compare_all(counts))
    assert called / runs < 0.05
    steady, broken = (10, 10, 10, 10), (10, 10, 10, 2)
    numbers = compare_all([steady, broken, steady])
    assert [c.degraded for c in numbers] == [False, True, False]
    assert numbers[1].p_holm is not None and numbers[1].p is not None
    assert numbers[1].p_holm == pytest.approx(min(1.0, 3 * numbers[1].p))
    assert not any(c.underpowered for c in numbers)


def test_too_few_trials_to_tell_is_said_and_a_better_faulted_rate_is_never_degraded() -> None:
    (few,) = compare_all([(3, 3, 3, 0)])  # one-sided p = 1/20: never below 0.05
    assert few.p == pytest.approx(0.05)
    assert few.underpowered and not few.degraded
    assert trials_needed(1) == 4 and trials_needed(5) > 4
    (up,) = compare_all([(20, 2, 20, 20)])
    assert not up.degraded and up.p == pytest.approx(1.0)
    (untested,) = compare_all([(0, 0, 5, 5)])
    assert not untested.tested and not untested.underpowered


# ------------------------------------------------------------------ run folders


def test_a_requirement_that_breaks_under_the_reset_is_degraded_and_fails_the_run(
    tmp_path: Path,
) -> None:
    s = summary(
        fault_run(
            tmp_path,
            {
                "R-1": (["PP"] * 6, ["FF", "FP", "FF", "FF", "PF", "FF"]),
                "R-2": (["PP"] * 6, ["PP"] * 6),
            },
        )
    )
    assert s.profile == "reset" and s.clean_trials == 12 and s.faulted_trials == 12
    r1, r2 = s.requirements
    assert r1.requirement == "R-1" and r1.cases == 6
    assert r1.numbers.clean.value == 1.0
    assert r1.numbers.faulted.value == pytest.approx(2 / 12)
    assert r1.numbers.r_fault.value == pytest.approx(2 / 12)
    assert r1.numbers.degraded and "degrades under faults beyond noise" in r1.verdict
    assert r2.numbers.r_fault.value == 1.0 and not r2.numbers.degraded
    assert s.degraded == ["R-1"] and s.failing
    assert "R-1" in s.headline


def test_a_robust_agent_holds_within_noise_and_passes(tmp_path: Path) -> None:
    s = summary(fault_run(tmp_path, {"R-1": (["PPP"] * 6, ["PPP"] * 5 + ["PPF"])}))
    (r,) = s.requirements
    assert not r.numbers.degraded and not s.failing
    assert r.numbers.r_fault.value == pytest.approx(17 / 18)
    assert "no requirement degrades beyond noise" in s.headline
    assert "lower under faults: R-1" in s.headline  # lower, within noise: said, not hidden


def test_a_failure_in_the_clean_phase_fails_the_run_and_errors_are_never_passes(
    tmp_path: Path,
) -> None:
    s = summary(fault_run(tmp_path, {"R-1": (["PP", "PE"], ["PP", "PP"])}))
    (r,) = s.requirements
    assert r.fails_clean and s.failing_clean == ["R-1"] and s.failing
    assert r.clean_errors == 1 and r.numbers.clean_passes == 3
    assert "fails without faults" in r.verdict


def test_too_few_cases_are_said_not_called_robust(tmp_path: Path) -> None:
    s = summary(fault_run(tmp_path, {"R-1": (["P"] * 3, ["F"] * 3)}))
    (r,) = s.requirements
    assert r.numbers.underpowered and not r.numbers.degraded
    assert "too few cases to tell" in r.verdict
    assert s.undetermined == ["R-1"]


def test_clean_trials_of_cases_the_profile_did_not_fault_are_left_out(tmp_path: Path) -> None:
    """Only clean cases whose faulted twin ran count: a profile limited to some scenarios."""
    s = summary(fault_run(tmp_path, {"R-1": (["P", "P", "F", "F"], ["P", "P"])}))
    (r,) = s.requirements
    assert r.numbers.clean_trials == 2 and not r.fails_clean
    assert base_id("refund#3~reset", "reset") == "refund#3"
    assert base_id("refund~3", "reset") == "refund~3"  # a hunt case id is no faulted one


def test_per_fault_share_recovery_and_which_fault_the_drop_comes_with(tmp_path: Path) -> None:
    """A profile of two faults; the reset hits only trials 1 of each case (toxicity 0.5), the
    latency every trial; the requirement fails exactly where the reset hit."""
    lat = window("cache", "latency", connections=1, affected=1, recovered_ms=120.0)
    per_trial = {}
    for i in range(8):
        reset_hit = window("db", "reset_peer", toxicity=0.5, connections=2, affected=1,
                           recovered_ms=300.0 + i)  # fmt: skip
        reset_miss = window("db", "reset_peer", toxicity=0.5, connections=2, affected=0)
        per_trial[(i, 1)] = [reset_hit, lat]
        per_trial[(i, 2)] = [reset_miss, lat]
    s = summary(fault_run(tmp_path, {"R-1": (["PP"] * 8, ["FP"] * 8)}, per_trial=per_trial))
    cache, db = s.faults
    assert (db.link, db.toxic, db.source) == ("db", "reset_peer", "profile:reset")
    assert db.trials == 16 and db.hit_trials == 8 and db.samples
    assert db.connections == 32 and db.affected == 8 and db.share == pytest.approx(0.25)
    assert db.recovery_median == pytest.approx(303.5) and db.recovery_max == 307.0
    assert cache.recovery_median == 120.0 and not cache.samples
    assert db.by_requirement["R-1"].degraded and db.by_requirement["R-1"].faulted.value == 0.0
    # the latency was applied in every faulted trial: half of them pass
    assert cache.by_requirement["R-1"].faulted.value == pytest.approx(0.5)
    assert s.seed == 7


def test_a_run_whose_manifest_does_not_record_the_profile_is_found_by_its_records(
    tmp_path: Path,
) -> None:
    s = summary(fault_run(tmp_path, {"R-1": (["P"] * 4, ["P"] * 4)}, record_profile=False))
    assert s.profile == "reset" and s.from_records


def test_a_run_without_faults_has_no_fault_numbers(tmp_path: Path) -> None:
    folder = fault_run(tmp_path, {"R-1": (["P"], [])}, windows=[], record_profile=False)
    assert summarize_faults(open_run(folder)) is None


# ------------------------------------------------------------------ the reports


def test_every_report_of_a_faulted_run_shows_r_fault(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    import pandas as pd

    from harness.report.build import build_reports

    folder = fault_run(
        tmp_path,
        {"R-1": (["PP"] * 6, ["FF"] * 5 + ["PP"]), "R-2": (["PP"] * 6, ["PP"] * 6)},
        windows=[window(recovered_ms=250.0)],
    )
    reports = build_reports(folder)
    assert reports.faults is not None and reports.faults_parquet is not None
    assert reports.paths()["faults"] == folder / "faults.parquet"
    md = (folder / "summary.md").read_text()
    assert "## Faults" in md and "R_fault" in md
    # said at the top too: a faulted run's divergences include failures within noise
    top = md.index("**Fault profile reset: degraded beyond noise under faults: R-1.**")
    assert top < md.index("## Faults") and top < md.index("- run `")
    assert "| ❌ R-1 | critical | 12/12 |" in md and "0.17" in md
    assert "db: reset\\_peer" in md and "250 ms median" in md
    html = (folder / "report.html").read_text()
    assert 'id="faults"' in html and "<strong>0.17</strong>" in html
    suites = ET.fromstring((folder / "junit.xml").read_bytes())
    (faults,) = [s for s in suites if s.get("name") == "s.faults"]
    assert faults.get("tests") == "2" and faults.get("failures") == "1"
    failing = [c for c in faults if c.tag == "testcase" and c.find("failure") is not None]
    assert [c.get("name") for c in failing] == ["R-1 holds under fault profile reset"]
    out = failing[0].findtext("system-out") or ""
    assert "R_fault 0.17" in out
    frame = pd.read_parquet(folder / "faults.parquet")
    req = frame[frame["scope"] == "requirement"].set_index("requirement")
    assert req.loc["R-1", "r_fault"] == pytest.approx(2 / 12)
    assert bool(req.loc["R-1", "degraded"]) and not bool(req.loc["R-2", "degraded"])
    (fault,) = frame[frame["scope"] == "fault"].itertuples()
    assert fault.link == "db" and fault.recovery_median_ms == 250.0 and fault.share == 1.0


def test_a_run_without_faults_writes_no_fault_report(tmp_path: Path) -> None:
    from harness.report.build import build_reports

    reports = build_reports(
        fault_run(tmp_path, {"R-1": (["P"], [])}, windows=[], record_profile=False)
    )
    assert reports.faults is None and "faults" not in reports.paths()
    assert "## Faults" not in (reports.markdown).read_text()
    assert not (reports.markdown.parent / "faults.parquet").exists()


def test_pass_at_1_and_pass_k_count_the_clean_phase_only(tmp_path: Path) -> None:
    """The faulted cases are R_fault's: a run's reliability, its sign-off's reliability and
    capability gates, compare and trend read the same clean numbers."""
    from harness.report.reliability import compute

    run = open_run(fault_run(tmp_path, {"R-1": (["PP"] * 4, ["FF"] * 4)}))
    rel = compute(run.frame(), run.manifest)
    (r,) = rel.requirements
    assert r.trials == 8 and r.passes == 8 and rel.faulted_left_out == 4
    assert "4 case(s) played under fault profile reset are left out" in rel.counted


def test_what_fails_a_run_with_faults(tmp_path: Path) -> None:
    """`failing`: a degradation beyond noise, or a failure in the clean phase; a failure under
    faults within noise is not a degradation (the run still exits 1 for it: every failure
    counts, cli/summary.py)."""
    held = summary(fault_run(tmp_path / "a", {"R-1": (["PP"] * 6, ["PP"] * 5 + ["PF"])}))
    assert held is not None and not held.failing
    broken = summary(fault_run(tmp_path / "b", {"R-1": (["PP"] * 6, ["FF"] * 6)}))
    assert broken is not None and broken.failing and broken.degraded == ["R-1"]
    clean = summary(fault_run(tmp_path / "c", {"R-1": (["PF"] + ["PP"] * 5, ["PP"] * 6)}))
    assert clean is not None and clean.failing and clean.failing_clean == ["R-1"]


def test_a_down_link_hits_every_trial_it_was_applied_in(tmp_path: Path) -> None:
    """`down` refuses connections the proxy never counts: at toxicity 1 every trial is hit."""
    from harness.report.faultrender import share

    down = window("db", "down", connections=0, affected=0)
    slow = window("cache", "latency", connections=0, affected=0, toxicity=0.5)
    s = summary(fault_run(tmp_path, {"R-1": (["P"] * 6, ["F"] * 6)}, windows=[down, slow]))
    cache, db = s.faults
    assert db.trials == db.hit_trials == 6 and db.by_requirement["R-1"].degraded
    assert cache.hit_trials == 0 and "R-1" not in cache.by_requirement
    assert share(db) == "every connection refused while it was active"
    assert share(cache) == "0/0: no connection opened while it was active"


def test_a_requirement_no_faulted_trial_judged_is_skipped_not_passed(tmp_path: Path) -> None:
    """A requirement whose checks apply only in the clean phase (the demo's RD-011 under
    db-reset) is no "holds under fault profile": JUnit skips it, the reports say so."""
    import xml.etree.ElementTree as ET

    from harness.report.build import build_reports

    folder = fault_run(tmp_path, {"R-1": (["PP"] * 6, ["PP"] * 6), "R-2": (["PP"] * 6, [])})
    s = summary(folder)
    r2 = next(r for r in s.requirements if r.requirement == "R-2")
    assert r2.unjudged and r2.verdict == "not judged under faults: no faulted trial judged it"
    assert s.unjudged == ["R-2"] and "not judged under faults (no faulted trial): R-2" in s.headline
    assert "  R-2: not judged under faults: no faulted trial judged it (clean 12/12 passed)" in (
        s.lines()
    )
    build_reports(folder)
    suites = ET.fromstring((folder / "junit.xml").read_bytes())
    (faults,) = [x for x in suites if x.get("name") == "s.faults"]
    assert (faults.get("tests"), faults.get("failures"), faults.get("skipped")) == ("2", "0", "1")
    cases = {c.get("name"): c for c in faults.iter("testcase")}
    skipped = cases["R-2 holds under fault profile reset"].find("skipped")
    assert skipped is not None and "not judged under faults" in (skipped.get("message") or "")
    assert cases["R-1 holds under fault profile reset"].find("skipped") is None
    md = (folder / "summary.md").read_text()
    assert "| ⏭ R-2 |" in md and "not judged under faults: no faulted trial judged it |" in md
    html = (folder / "report.html").read_text()
    assert '<span class="tag none">R-2</span>' in html


def test_a_profile_that_never_fired_is_warned_of_everywhere(tmp_path: Path) -> None:
    """An `after_sent` that never matched: the faulted phase met no fault, R_fault 1.00 says
    nothing; every report says so, with the hit count (0 of N) shown."""
    import xml.etree.ElementTree as ET

    from harness.report.build import build_reports
    from harness.report.text import cell

    idle = window("db", "reset_peer", connections=3, affected=0)
    folder = fault_run(tmp_path / "a", {"R-1": (["P"] * 3, ["P"] * 3)}, windows=[idle])
    s = summary(folder)
    assert s.met_no_fault and not s.failing  # the exit rule is unchanged
    warning = (
        "WARNING: the faulted phase met no fault: profile reset hit 0 of 9 connection(s) in "
        "its 3 faulted trial(s), so R_fault says nothing about robustness"
    )
    assert s.warning == warning and s.headline.startswith(warning)
    (fault,) = s.faults
    assert fault.hit_trials == 0  # toxicity 1 is no hit when nothing matched
    assert "  db: reset_peer (profile:reset): 3 trial(s), hit 0/9 connections" in s.lines()
    build_reports(folder)
    md = (folder / "summary.md").read_text()
    said = cell(warning)
    assert f"> ⚠️ **{said}.**" in md and md.index(said) < md.index("## Faults")
    assert "| 3 (0) | 0/9 \\(0.0%\\) |" in md
    html = (folder / "report.html").read_text()
    assert f'<div class="verdict bad fault-warning">⚠ {warning}.</div>' in html
    suites = ET.fromstring((folder / "junit.xml").read_bytes())
    (faults,) = [x for x in suites if x.get("name") == "s.faults"]
    props = {p.get("name"): p.get("value") for p in faults.iter("property")}
    assert props["warning"] == warning
    # one fault of two never fired: said, naming it; a `down` (uncounted) never is
    down = window("db", "down", connections=0, affected=0)
    quiet = window("cache", "latency", connections=0, affected=0)
    both = summary(fault_run(tmp_path / "b", {"R-1": (["P"] * 3, ["P"] * 3)},
                             windows=[down, quiet]))  # fmt: skip
    assert not both.met_no_fault and both.warning is not None
    assert "cache: latency (0 of 0)" in both.warning and "db: down" not in both.warning
    fired = summary(fault_run(tmp_path / "c", {"R-1": (["P"] * 3, ["P"] * 3)}))
    assert fired.warning is None and not fired.met_no_fault
