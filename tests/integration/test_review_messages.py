"""What the harness says when a suite, not the agent, is at fault, through the `harness`
command: a load with a regression file it cannot read names the file and why it exits 1;
a run whose only problem is unreadable regression files says so; an `expect_rows` column
the query does not return is refused before any agent starts; a template filter mistake is
the suite's error, named with its scenario and template, never a harness fault."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from tests.helpers import copy_demo, environ, harness, only_run, trial_records
from tests.integration.test_suite_mistakes import SCENARIO, _line_of, _refused, _suite

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

BROKEN = """id: broken
requirement: RD-001
requirements: [RD-001]
scenario: small-refund
check: refund-row-issued
signature: RD-001|small-refund|refund-row-issued|fail
seed: 1
vars:
  who: {faker: name}
"""


def test_a_load_names_an_unreadable_regression_file_and_why_it_exits_1(tmp_path: Path) -> None:
    suite = copy_demo(tmp_path)
    (suite / "regressions").mkdir()
    broken = suite / "regressions" / "broken.yaml"
    broken.write_text(BROKEN)
    reports = tmp_path / "reports"
    done = harness(
        "load", str(suite), "--profile", "spike", "--limit", "3s", "--no-progress",
        "--reports-dir", str(reports), env=environ(REFUND_DESK_DEFECTS="none"), timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert f"regression file left out, it cannot be replayed: {broken}:9:" in done.stderr
    last = done.stderr.strip().splitlines()[-1]  # the reports' paths are on stdout
    assert last == "exit 1: 1 regression file(s) cannot be replayed", done.stderr
    assert "in requirement(s) \n" not in done.stderr + "\n"
    assert "0 failed and 0 errored" not in done.stderr
    run_dir = only_run(reports)
    summary = (run_dir / "summary.md").read_text()
    escaped = str(broken).replace("_", "\\_")  # markdown
    assert f"regression file left out, it cannot be replayed: {escaped}:9:" in summary
    assert "1 regression file(s) cannot be replayed" in summary
    assert f"{broken}:9:" in (run_dir / "report.html").read_text()


def _run(suite: Path, tmp_path: Path) -> tuple[int, str, Path]:
    reports = tmp_path / "reports"
    done = harness("run", str(suite), "--no-progress", "--reports-dir", str(reports))
    return done.returncode, done.stderr, only_run(reports, done.stderr)


def test_a_run_whose_only_problem_is_unreadable_regression_files_says_so(tmp_path: Path) -> None:
    suite = _suite(tmp_path)
    (suite / "regressions").mkdir()
    for name in ("a", "b"):
        (suite / "regressions" / f"{name}.yaml").write_text("id: [unclosed\n")
    code, stderr, _ = _run(suite, tmp_path)
    assert code == 1, stderr
    assert "2 regression file(s) cannot be replayed; this run's cases pass" in stderr
    assert "only known regressions still fail" not in stderr


def test_an_expect_rows_column_the_query_does_not_return_is_refused(tmp_path: Path) -> None:
    scenario = SCENARIO + textwrap.indent(
        textwrap.dedent("""\
          - type: sql
            requirements: [T-001]
            query: select owner, total as fee from tickets where id = %s
            params: ["{{ ticket.id }}"]
            expect_rows: [{owner: "{{ vars.who }}", fees: "5.00"}]
        """),
        "      ",
    )
    suite = _suite(tmp_path, scenario=scenario)
    (suite / "invariants.yaml").write_text(
        "invariants:\n"
        "  - id: positive\n"
        "    requirements: [T-001]\n"
        "    description: totals are positive\n"
        "    query: select id as ticket_id from tickets where total < 0\n"
        "    scope: {ticket: tickets}\n"
    )
    stderr = _refused(suite, tmp_path)
    scenarios = suite / "scenarios" / "s.yaml"
    line, col = _line_of(scenarios, "fees")
    col = scenarios.read_text().splitlines()[line - 1].index("fees:") + 1
    assert (
        f"{scenarios}:{line}:{col}: scenarios[0].checks[1].expect_rows[0].fees: check sql-2: "
        "the query returns no column 'fees' (did you mean 'fee'?); it returns owner, fee"
    ) in stderr
    line, col = _line_of(suite / "invariants.yaml", "ticket: tickets")
    assert (
        f"{suite / 'invariants.yaml'}:{line}:{col}: invariants[0].scope.ticket: invariant "
        "positive: scope: the query returns no column 'ticket' (did you mean 'ticket_id'?); "
        "it returns ticket_id"
    ) in stderr


@pytest.mark.parametrize(
    ("var", "template", "said"),
    [
        ("{faker: name}", "{{ vars.x | join }}", "join needs a list, got '"),
        ("{days_ago: 3}", "{{ vars.x | add(1) }}", "got a relative date (3 days ago)"),
    ],
    ids=["join", "relative"],
)
def test_a_template_filter_mistake_is_the_suites_error(
    tmp_path: Path, var: str, template: str, said: str
) -> None:
    scenario = SCENARIO.replace("who: {faker: name}", f"who: {{faker: name}}\n      x: {var}")
    scenario = scenario.replace('turns: ["hello {{ vars.who }}"]', f'turns: ["hi {template}"]')
    code, stderr, run_dir = _run(_suite(tmp_path, scenario=scenario), tmp_path)
    assert code == 1, stderr
    (record,) = trial_records(run_dir)
    error = record["observation"]["error"]
    assert error["kind"] == "suite", error
    message = error["message"]
    assert message.startswith("suite template error in scenario ticket: "), message
    assert said in message and "fix the template" in message
    assert template.replace(" ", "") in message.replace(" ", "")  # the template it names
    for wrong in ("harness fault", "DaysAgo", "TemplateError"):
        assert wrong not in message and wrong not in (run_dir / "summary.md").read_text()


def test_a_requirement_only_unplayed_scenarios_check_is_not_judged_not_uncovered(
    tmp_path: Path,
) -> None:
    """A run of part of the suite (-k; a load profile's or a hunt's scenarios alike) names
    the requirements its cases did not reach as not judged in it; "not covered by any check"
    is kept for a requirement no check of the suite names."""
    from tests.helpers import ROOT

    suite = tmp_path / "echo"
    shutil.copytree(ROOT / "tests" / "suites" / "echo", suite)
    text = (suite / "suite.yaml").read_text().replace("path: [../../..]", f"path: [{ROOT}]")
    (suite / "suite.yaml").write_text(text)
    (suite / "scenarios" / "more.yaml").write_text(
        "scenarios:\n  - id: other\n    title: t\n    turns: [hi]\n    checks:\n"
        "      - {type: contains, requirements: [EC-003], value: hi}\n"
    )
    reports = tmp_path / "reports"
    done = harness("run", str(suite), "-k", "hello", "--no-progress", "--reports-dir", str(reports))
    assert done.returncode == 0, done.stderr
    summary = (only_run(reports, done.stderr) / "summary.md").read_text()
    assert "Not judged in this run (its checks' cases were not played): EC-003." in summary
    assert "Not covered by any check" not in summary

    (suite / "scenarios" / "more.yaml").unlink()
    done = harness("run", str(suite), "--no-progress", "--reports-dir", str(tmp_path / "r2"))
    summary = (only_run(tmp_path / "r2", done.stderr) / "summary.md").read_text()
    assert "Not covered by any check: EC-003." in summary and "Not judged" not in summary
