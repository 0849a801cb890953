"""Findings per root cause: a failure's shape across scenarios, one regression file per
shape with the other scenarios as members, flaky failures kept with their rate and the
trials that see them again, and `replay --times` telling verdicts from failing checks."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml
from rich.text import Text

from harness.cli.search import compare_replays
from harness.core import Case, CaseResult, CheckResult, FailureShape, Observation, Verdict
from harness.core.failures import differing_columns
from harness.modes.findings import Findings
from harness.run import regressions
from harness.spec.suite import load_suite
from tests.helpers import copy_demo


def result(
    scenario: str, *checks: tuple[str, str, Verdict, object, object], n: int = 1
) -> CaseResult:
    case = Case(id=f"{scenario}~{n}", scenario=scenario, index=n, seed=n)
    return CaseResult(
        case=case,
        trial=1,
        observation=Observation(session_id=f"s{n}"),
        checks=[
            CheckResult(
                check_id=cid,
                check_type="sql",
                category="state",
                requirements=("RD-004",),
                verdict=verdict,
                message="",
                expected=expected,
                found=found,
            )
            for cid, _, verdict, expected, found in checks
        ],
    )


def misread(scenario: str, check: str = "sql-1", n: int = 1) -> CaseResult:
    """The flaky defect's failure as any scenario shows it: the amount a unit too low."""
    return result(
        scenario, (check, "sql", Verdict.FAIL, [{"amount": "49.90"}], [{"amount": "48.90"}]), n=n
    )


def test_the_columns_that_differ_name_a_failure_whatever_the_values() -> None:
    assert differing_columns([{"amount": "49.90"}], [{"amount": "48.90"}]) == ("amount",)
    assert differing_columns([{"amount": "1.01"}], [{"amount": "0.01"}]) == ("amount",)
    assert differing_columns([{"a": 1, "b": 2}], [{"a": 1, "b": 3, "c": 9}]) == ("b",)
    assert differing_columns([{"a": 1}], []) == ("#rows",)
    assert differing_columns([], [{"a": 1}]) == ("#rows",)
    # an expected row found elsewhere among the rows is no difference of its columns
    assert differing_columns([{"a": 1}, {"a": 2}], [{"a": 2}, {"a": 1}]) == ()
    assert differing_columns({"status": "issued"}, {"status": "pending"}) == ("status",)
    assert differing_columns("refund issued", "sorry") == ()  # text: the check type says it


def test_a_shape_ignores_the_scenario_and_the_check_id_but_not_the_failure() -> None:
    a, b = misread("small-refund", "sql-1"), misread("partial-refund", "refund-recorded")
    assert a.failing_shapes() == b.failing_shapes()
    assert str(a.failing_shapes()[0]) == "RD-004|sql|fail||amount"
    assert FailureShape.parse("RD-004|sql|fail||amount") == a.failing_shapes()[0]
    # another column, or rows missing altogether, is another root cause
    other = result("x", ("sql-1", "sql", Verdict.FAIL, [{"status": "issued"}], [{"status": "p"}]))
    missing = result("x", ("sql-1", "sql", Verdict.FAIL, [{"amount": "1"}], []))
    assert len({str(s) for r in (a, other, missing) for s in r.failing_shapes()}) == 3
    assert a.failing_keys() != b.failing_keys()  # the per-scenario identity still differs


@pytest.mark.parametrize(
    ("failures", "replays", "trials"),
    [(6, 6, 1), (5, 6, 5), (4, 6, 8), (3, 6, 16), (2, 6, 47), (1, 6, 50), (1, 1000, 50)],
)
def test_flaky_trials_see_the_failure_again_with_95_percent_at_a_cautious_rate(
    failures: int, replays: int, trials: int
) -> None:
    assert regressions.flaky_trials(failures, replays) == trials
    rate = regressions.cautious_rate(failures, replays)
    # never above what the confirming replays showed (the finding run left out)
    assert rate <= max(0.0, (failures - 1) / (replays - 1))
    if regressions.MAX_FLAKY_TRIALS > trials > 1:
        assert regressions.chance_to_see(rate, trials) >= 0.95
        assert regressions.chance_to_see(rate, trials - 1) < 0.95
        assert trials == math.ceil(math.log(0.05) / math.log(1 - rate))


def test_the_cautious_rate_is_wilsons_lower_bound_and_covers_a_review_case() -> None:
    # 2 failures in 5 confirming replays: Wilson's one-sided 90% lower bound, by hand
    assert regressions.cautious_rate(3, 6) == pytest.approx(0.1798, abs=5e-4)
    # a review saw a defect of true rate 0.3 found as 3 of 6 and replayed 5 times pass twice
    # in 4 runs; the cautious rate's trials see a 0.3 failure with 99% probability
    assert regressions.chance_to_see(0.3, regressions.flaky_trials(3, 6)) > 0.99


def test_one_defect_in_twenty_scenarios_is_one_file_listing_the_others(tmp_path: Path) -> None:
    suite = load_suite(copy_demo(tmp_path))
    scenarios = [s.id for s in suite.scenarios][:20]
    checks = {s.id: suite.check_id(s, 0) for s in suite.scenarios}
    findings = Findings(suite, run_id="r1", plain=False)
    first = misread(scenarios[0], checks[scenarios[0]])
    shape = str(first.failing_shapes()[0])
    findings.add(shape, first, first.checks[0], tried=3, shrunk=True, confirmed=(6, 6))
    for i, scenario in enumerate(scenarios[1:], 2):
        hit = misread(scenario, checks[scenario], n=i)
        assert findings.is_known(hit, hit.checks[0])  # a member, not a new search
        assert findings.is_known(hit, hit.checks[0])  # listed once per scenario
    files = sorted((suite.root / "regressions").glob("*.yaml"))
    assert len(files) == 1 and len(findings.found) == 1
    saved = yaml.safe_load(files[0].read_text())
    assert saved["shape"] == shape and "flaky" not in saved
    assert [m["scenario"] for m in saved["members"]] == scenarios[1:]
    assert "and 19 other case(s) listed under members" in files[0].read_text()
    assert len(findings.found[0].members) == 19
    # the file loads back, and the next hunt knows the shape in every scenario
    again = load_suite(suite.root)
    assert [len(r.members) for r in again.regressions] == [19]
    later = Findings(again, run_id="r2", plain=False)
    elsewhere = misread(scenarios[-1], n=99)
    assert later.is_known(elsewhere, elsewhere.checks[0])


def two_ways(scenario: str, checks: list[str], n: int = 1) -> CaseResult:
    """One case that breaks two checks, each with a root cause of its own: the amount
    misread, and (because of it) no refund row at all."""
    return result(
        scenario,
        (checks[0], "sql", Verdict.FAIL, [{"amount": "49.90"}], [{"amount": "48.90"}]),
        (checks[1], "sql", Verdict.FAIL, [{"status": "issued"}], []),
        n=n,
    )


def saved_twice_broken(tmp_path: Path) -> tuple[str, list[str], Path]:
    """A demo suite whose one regression file's case broke two checks two ways."""
    suite = load_suite(copy_demo(tmp_path))
    scenario = next(s for s in suite.scenarios if len(s.checks) >= 2)
    checks = [suite.check_id(scenario, i) for i in range(2)]
    first = two_ways(scenario.id, checks)
    shape = str(first.shape(first.checks[0]))
    Findings(suite, run_id="r1", plain=False).add(
        shape, first, first.checks[0], tried=1, shrunk=True, confirmed=(6, 6)
    )
    (path,) = (suite.root / "regressions").glob("*.yaml")
    return scenario.id, checks, path


def test_a_later_hunt_knows_every_root_cause_a_saved_case_broke(tmp_path: Path) -> None:
    scenario, checks, path = saved_twice_broken(tmp_path)
    saved = yaml.safe_load(path.read_text())
    assert saved["shapes"] == ["RD-004|sql|fail||amount", "RD-004|sql|fail||#rows"]
    later = Findings(load_suite(path.parent.parent), run_id="r2", plain=False)
    again = two_ways(scenario, checks, n=2)  # the same case, as the next hunt sees it
    assert [later.is_known(again, c) for c in again.checks] == [True, True]
    assert later.covered == {"RD-004|sql|fail||amount", "RD-004|sql|fail||#rows"}
    # in another scenario too, as the hunt that saved it knew it
    elsewhere = result("elsewhere", ("sql-1", "sql", Verdict.FAIL, [{"status": "x"}], []), n=3)
    assert later.is_known(elsewhere, elsewhere.checks[0])
    # another way the same check fails is another root cause: new
    other = result(scenario, (checks[1], "sql", Verdict.FAIL, [{"status": "i"}], [{"status": "p"}]))
    assert not later.is_known(other, other.checks[0])


def test_a_file_saved_before_shapes_knows_the_other_checks_it_broke_by_check(
    tmp_path: Path,
) -> None:
    scenario, checks, path = saved_twice_broken(tmp_path)
    old = yaml.safe_load(path.read_text())
    del old["shapes"]  # as files saved before it were
    path.write_text(yaml.safe_dump(old, sort_keys=False))
    later = Findings(load_suite(path.parent.parent), run_id="r2", plain=False)
    again = two_ways(scenario, checks, n=2)
    assert [later.is_known(again, c) for c in again.checks] == [True, True]
    # its own check is known by its shape alone: another way it fails is still new
    own = result(scenario, (checks[0], "sql", Verdict.FAIL, [{"amount": "49.90"}], []), n=3)
    assert not later.is_known(own, own.checks[0])


def test_a_flaky_failure_is_saved_with_its_rate_and_replayed_with_more_trials(
    tmp_path: Path,
) -> None:
    suite = load_suite(copy_demo(tmp_path))
    found = misread(suite.scenarios[0].id, suite.check_id(suite.scenarios[0], 0))
    shape = str(found.failing_shapes()[0])
    finding = Findings(suite, run_id="r1", plain=False).add(
        shape, found, found.checks[0], tried=1, shrunk=True, confirmed=(2, 6)
    )
    assert (finding.failures, finding.replays, finding.trials) == (2, 6, 47)
    text = Path(str(finding.path)).read_text()
    assert yaml.safe_load(text)["flaky"] == {"failures": 2, "replays": 6, "trials": 47}
    assert re.search(r"# Flaky: failed 2 of 6 runs when found: replayed 47 times, a 95%", text)
    again = load_suite(suite.root)
    flaky = regressions.trials_of(again)
    assert {k: v.trials for k, v in flaky.items()} == {str(finding.regression_id): 47}


def plain(markup: str) -> str:
    return Text.from_markup(markup).plain


def test_replay_times_tells_the_verdicts_from_the_failing_checks() -> None:
    """Issue 12: three failing replays were "different verdicts" when only the set of
    failing checks differed."""
    fail = Verdict.FAIL
    one = misread("partial-refund")
    two = result(
        "partial-refund",
        ("sql-1", "sql", fail, [{"amount": "1"}], [{"amount": "2"}]),
        ("sql-2", "sql", fail, [{"status": "issued"}], [{"status": "pending"}]),
    )
    lines = [plain(line) for line in compare_replays([one, two, one])]
    assert lines[0] == "same verdict in 3 replays: fail"
    assert lines[1] == "different failing checks in 3 replays:"
    assert lines[2:] == [
        "  replay 1: sql-1=fail",
        "  replay 2: sql-1=fail, sql-2=fail",
        "  replay 3: sql-1=fail",
    ]
    same = [plain(x) for x in compare_replays([one, one])]
    assert same == [
        "same verdict in 2 replays: fail",
        "same failing checks in 2 replays: sql-1=fail",
    ]
    ok = result("partial-refund", ("sql-1", "sql", Verdict.PASS, None, None))
    mixed = [plain(x) for x in compare_replays([ok, one, ok])]
    assert mixed[0] == (
        "different verdicts in 3 replays: 2 pass, 1 fail: the agent is not reliable here"
    )
    assert mixed[1:] == [
        "different failing checks in 3 replays:",
        "  replay 1: none",
        "  replay 2: sql-1=fail",
        "  replay 3: none",
    ]
