"""Suite mistakes are configuration errors, through the `harness` command on a real PostgreSQL:
an invalid JSON Schema, SQL the real schema refuses, a schema file that does not load and a
file over the size limit each exit 2 with `path:line:col`, start no agent and leave no run
folder. And invariants scoped through the conversation tie a row the agent wrote for
another member to the case that caused it (tests/suites/holds)."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from tests.helpers import ROOT, environ, harness, only_run, read_manifest, run_dirs, trial_records

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

LIBRARY = ROOT / "tests" / "suites" / "holds"

SCHEMA = """\
create table tickets (
  id serial primary key,
  owner text not null,
  total numeric not null
);
"""

SCENARIO = """\
scenarios:
  - id: ticket
    title: A ticket
    vars:
      who: {faker: name}
    setup:
      ticket: {table: tickets, values: {owner: "{{ vars.who }}", total: 5}}
    turns: ["hello {{ vars.who }}"]
    checks:
      - type: contains
        requirements: [T-001]
        value: "{{ vars.who }}"
"""


def _suite(tmp_path: Path, *, schema: str = SCHEMA, scenario: str = SCENARIO) -> Path:
    """A suite whose agent leaves a file behind the moment it is started, so a test can tell
    that no agent was."""
    root = tmp_path / "suite"
    (root / "scenarios").mkdir(parents=True)
    marker = tmp_path / "agent-started"
    (root / "suite.yaml").write_text(
        textwrap.dedent(f"""\
        name: mistakes
        defaults: {{seed: 1, concurrency: 2, case_timeout: 10}}
        environment:
          dependencies:
            db: {{kind: postgres, schema: [schema.sql]}}
          agent:
            process:
              command: ["sh", "-c", "touch {marker} && exec {{{{ python }}}} {ROOT}/tests/agents/http_agent.py"]
              env: {{PORT: "{{{{ agent.port }}}}", MODE: echo}}
              health: {{url: "http://127.0.0.1:{{{{ agent.port }}}}/health", timeout: 15}}
            http: {{url: "http://127.0.0.1:{{{{ agent.port }}}}/chat", timeout: 2}}
        """)  # noqa: E501
    )
    (root / "schema.sql").write_text(schema)
    (root / "spec.yaml").write_text(
        "title: t\nparameters:\n  limit: {value: 10}\n"
        "requirements:\n  - {id: T-001, title: t, severity: major, text: t}\n"
    )
    (root / "scenarios" / "s.yaml").write_text(scenario)
    return root


def _refused(suite: Path, tmp_path: Path, **env: str) -> str:
    """Run the suite: exit 2, no agent started, no run folder, nothing on stdout; stderr."""
    reports = tmp_path / "reports"
    done = harness(
        "run", str(suite), "--no-progress", "--reports-dir", str(reports), env=environ(**env)
    )
    assert done.returncode == 2, done.stderr
    assert not (tmp_path / "agent-started").exists(), "an agent was started"
    assert run_dirs(reports) == [], f"left {run_dirs(reports)}"
    assert done.stdout == ""
    return done.stderr


def _line_of(path: Path, text: str) -> tuple[int, int]:
    """1-based line and column of the first `text` in a file."""
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if text in line:
            return n, line.index(text) + 1
    raise AssertionError(f"{text!r} not in {path}")


@pytest.mark.parametrize(
    ("statement", "at", "message"),
    [
        # PostgreSQL points at the token: there
        ("create tabel notes (id integer);", "tabel", 'syntax error at or near "tabel"'),
        # it names no position: the statement it refuses, past the comment before it
        ("create index on tickets (ownr);", "create index", 'column "ownr" does not exist'),
    ],
    ids=["token", "statement"],
)
def test_a_schema_file_the_database_refuses_is_exit_2_at_its_line(
    tmp_path: Path, statement: str, at: str, message: str
) -> None:
    schema = SCHEMA + "-- the owner's tickets\n" + statement + "\ncreate table later (id int);\n"
    suite = _suite(tmp_path, schema=schema)
    stderr = _refused(suite, tmp_path)
    line, col = _line_of(suite / "schema.sql", at)
    assert f"{suite / 'schema.sql'}:{line}:{col}: db refused the schema file: {message}" in stderr
    assert "no agent was started" in stderr


def test_sql_the_real_schema_refuses_is_placed_at_the_refused_token(tmp_path: Path) -> None:
    """A check's query in a block scalar, after a templated parameter and a psycopg
    placeholder; an invariant's; a setup column: each at its own line and column, at once."""
    scenario = SCENARIO.replace("total: 5}}", "totl: 5}}") + textwrap.indent(
        textwrap.dedent("""\
          - type: sql
            requirements: [T-001]
            query: |
              select owner
                from tickets
               where total > {{ params.limit }} and id = %s
                 and ownr_name = 'x'
            params: ["{{ ticket.id }}"]
            expect_count: 1
        """),
        "      ",
    )
    scenario = scenario.replace(
        'turns: ["hello {{ vars.who }}"]', 'turns: ["hi {{ vars.who }}, {{ ticket.ownr }}"]'
    )
    suite = _suite(tmp_path, scenario=scenario)
    (suite / "invariants.yaml").write_text(
        "invariants:\n"
        "  - id: positive\n"
        "    requirements: [T-001]\n"
        "    description: totals are positive\n"
        '    query: "select id from tickets where total < {{ params.limit }} and totl < 0"\n'
        "  - id: unfinished\n"
        "    requirements: [T-001]\n"
        "    description: a query that stops short\n"
        '    query: "select id from tickets where total < 0 and"\n'
    )
    stderr = _refused(suite, tmp_path)
    # the probe's own wrapper is never named: the query stops short, at its end
    assert "invariants[1].query: invariant unfinished: syntax error at end of input" in stderr
    assert 'near ")"' not in stderr
    assert "does not match the database's schema" in stderr
    scenarios = suite / "scenarios" / "s.yaml"
    line, col = _line_of(scenarios, "ownr_name")
    assert (
        f"{scenarios}:{line}:{col}: scenarios[0].checks[1].query: check sql-2: "
        'column "ownr_name" does not exist'
    ) in stderr
    line, col = _line_of(suite / "invariants.yaml", "totl")
    assert (
        f"{suite / 'invariants.yaml'}:{line}:{col}: invariants[0].query: invariant positive: "
        'column "totl" does not exist'
    ) in stderr
    line, col = _line_of(scenarios, "totl")
    assert f"{scenarios}:{line}:{col}: scenarios[0].setup.ticket.values.totl: " in stderr
    line, col = _line_of(scenarios, "ticket.ownr")
    assert (
        f"{scenarios}:{line}:{col}: scenarios[0].turns[0]: {{{{ ticket.ownr }}}}: the ticket row "
        "has no column 'ownr' (did you mean 'owner'?)"
    ) in stderr


def test_an_invalid_json_schema_is_refused_at_its_key(tmp_path: Path) -> None:
    scenario = SCENARIO + textwrap.indent(
        textwrap.dedent("""\
          - type: json_schema
            requirements: [T-001]
            schema:
              type: object
              properties:
                total: {type: numbr}
        """),
        "      ",
    )
    suite = _suite(tmp_path, scenario=scenario)
    stderr = _refused(suite, tmp_path)
    scenarios = suite / "scenarios" / "s.yaml"
    line, col = _line_of(scenarios, "numbr")
    assert (
        f"{scenarios}:{line}:{col}: scenarios[0].checks[1].schema.properties.total.type: "
        "not a valid JSON Schema"
    ) in stderr


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """25 MB of scenarios: refused with its size and how to raise the limit, unparsed."""
    suite = _suite(tmp_path)
    big = suite / "scenarios" / "generated.yaml"
    entry = '  - {id: s%d, title: t, turns: ["hi"], checks: [{type: contains, value: x, requirements: [T-001]}]}\n'  # noqa: E501
    with big.open("w") as f:
        f.write("scenarios:\n")
        n = 0
        while f.tell() < 25_000_000:
            f.write(entry % n)
            n += 1
    size = big.stat().st_size
    stderr = _refused(suite, tmp_path)
    assert f"{big}:1:1: the file is 25.0 MB ({size:,} bytes), over the 4.0 MB limit" in stderr
    assert "max_file_size: 26MB" in stderr and "HARNESS_MAX_FILE_SIZE=26MB" in stderr
    # the suite's own setting counts for the files after suite.yaml; the variable wins
    (suite / "suite.yaml").write_text((suite / "suite.yaml").read_text() + "max_file_size: 1kB\n")
    stderr = _refused(suite, tmp_path)
    assert "over the 1.0 kB limit for a suite file (max_file_size in suite.yaml" in stderr
    stderr = _refused(suite, tmp_path, HARNESS_MAX_FILE_SIZE="2kB")
    assert "over the 2.0 kB limit for a suite file (HARNESS_MAX_FILE_SIZE=2kB)" in stderr


def _library_run(tmp_path: Path, mode: str) -> tuple[int, Path]:
    suite = tmp_path / "holds"
    shutil.copytree(LIBRARY, suite)
    shutil.copy(ROOT / "tests" / "agents" / "holds_agent.py", tmp_path / "holds_agent.py")
    text = (suite / "suite.yaml").read_text().replace("../../agents/", "../")
    (suite / "suite.yaml").write_text(text)
    reports = tmp_path / "reports"
    env = environ(LIBRARY_MODE=mode)
    done = harness("run", str(suite), "--no-progress", "--reports-dir", str(reports), env=env)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, only_run(reports, done.stderr)


def test_a_row_written_for_another_member_is_tied_to_the_case_whose_conversation_wrote_it(
    tmp_path: Path,
) -> None:
    """The planted defect places every hold for the first member on file, a seed row no case
    owns: scoped by the conversation, each case fails on its own hold (and only on it);
    scoped by the member's row, no case sees it and only the sweep does."""
    code, run = _library_run(tmp_path, "wrong_member")
    assert code == 1
    records = [json.loads(line) for line in (run / "cases.jsonl").read_text().splitlines()]
    trials = [r for r in records if r["type"] == "trial"]
    assert len(trials) == 3
    for record in trials:
        checks = {c["check_id"]: c for c in record["checks"]}
        by_session = checks["hold-for-card-holder"]
        assert by_session["verdict"] == "fail"
        assert [row["conversation"] for row in by_session["found"]] == [
            record["observation"]["session_id"]
        ]
        assert checks["hold-for-card-holder-by-member"]["verdict"] == "pass"
    (sweep,) = [r for r in records if r["type"] == "sweep"]
    verdicts = {c["check_id"]: c["verdict"] for c in sweep["checks"]}
    assert verdicts == {"hold-for-card-holder": "pass", "hold-for-card-holder-by-member": "fail"}


def test_a_correct_agent_passes_the_invariants_scoped_through_the_conversation(
    tmp_path: Path,
) -> None:
    code, run = _library_run(tmp_path, "correct")
    assert code == 0
    verdicts = {c["verdict"] for r in trial_records(run) for c in r["checks"]}
    assert verdicts == {"pass"}


def test_a_case_that_errored_passes_no_scoped_invariant(tmp_path: Path) -> None:
    """An error is never a pass: a conversation the agent answered 500 did nothing a rule
    could judge, so its scoped invariants are errors ("not judged"), as its checks are; but
    a row it did write wrong before failing is still a failure of the case."""
    code, run = _library_run(tmp_path, "broken")
    assert code == 1
    trials = [r for r in trial_records(run) if r["type"] == "trial"]
    assert len(trials) == 3
    for record in trials:
        assert record["observation"]["error"] is not None
        verdicts = {c["check_id"]: c["verdict"] for c in record["checks"]}
        assert verdicts == {
            "contains-1": "error",
            "hold-for-card-holder": "error",
            "hold-for-card-holder-by-member": "error",
        }, record["checks"]
        invariant = next(c for c in record["checks"] if c["check_id"] == "hold-for-card-holder")
        assert invariant["message"].startswith("not judged: "), invariant
    code, run = _library_run(tmp_path / "wrong", "wrong_then_broken")
    assert code == 1
    for record in [r for r in trial_records(run) if r["type"] == "trial"]:
        verdicts = {c["check_id"]: c["verdict"] for c in record["checks"]}
        assert verdicts["hold-for-card-holder"] == "fail", record["checks"]
        assert verdicts["contains-1"] == "error"


RELATIVE = """\
scenarios:
  - id: dated
    title: Relative dates reach the database as their day
    vars:
      who: {faker: name}
      since: {days_ago: 3}
      k: 3
      made: "{{ vars.k | days_ago }}"
    setup:
      ticket: {table: tickets, values: {owner: "{{ vars.who }}", total: 5}}
    turns: ["hello {{ vars.who }}"]
    checks:
      - type: sql
        requirements: [T-001]
        query: select (%s::date = current_date - 3) as ok
        params: ["{{ vars.since }}"]
        expect_value: true
      - type: sql
        requirements: [T-001]
        query: select %s::date as d
        params: ["{{ vars.made }}"]
        expect_rows: [{d: "{{ vars.since }}"}]
      - type: same_state
        requirements: [T-001]
        query: select (%s::date < current_date) as past
        params: ["{{ vars.k | days_ago }}"]
    variants:
      - ["hi {{ vars.who }}"]
"""


def test_a_relative_date_in_a_checks_params_reaches_the_database_as_its_day(
    tmp_path: Path,
) -> None:
    """`{days_ago: 3}` and `{{ ... | days_ago }}` stay relative in a case; a query's
    parameter is the day they mean (it was an error: psycopg cannot adapt DaysAgo)."""
    suite = _suite(tmp_path, scenario=RELATIVE)
    reports = tmp_path / "reports"
    done = harness("run", str(suite), "--no-progress", "--reports-dir", str(reports))
    assert done.returncode == 0, done.stdout + done.stderr
    [record] = [r for r in trial_records(only_run(reports, done.stderr)) if r["type"] == "trial"]
    assert [c["verdict"] for c in record["checks"]] == ["pass"] * 3, record["checks"]


RAISES = """\
scenarios:
  - id: ticket
    title: A ticket
    vars:
      who: {faker: name}
      total: TOTAL
    setup:
      ticket: {table: tickets, values: {owner: "{{ vars.who }}", total: "{{ vars.total }}"}}
    turns: ["hello {{ vars.who }}"]
    checks:
      - type: contains
        requirements: [T-001]
        value: "{{ vars.who }}"
      - id: share
        type: sql
        requirements: [T-001]
        query: select 100 / (total - 5) >= 0 as share from tickets where owner = %s
        params: ["{{ vars.who }}"]
        expect_value: true
"""


def test_a_check_that_raises_is_the_suites_error_and_a_hunt_saves_none(tmp_path: Path) -> None:
    """A query that fails when it runs (a division by zero the schema cannot tell) is an
    error, never a pass, of kind `check`: not the agent's doing, so a hunt says so once and
    saves no regression of the agent (it saved the error as a finding)."""
    suite = _suite(tmp_path, scenario=RAISES.replace("TOTAL", "5"))
    reports = tmp_path / "reports"
    done = harness("run", str(suite), "--no-progress", "--reports-dir", str(reports))
    assert done.returncode == 1, done.stdout + done.stderr
    [record] = [r for r in trial_records(only_run(reports, done.stderr)) if r["type"] == "trial"]
    contains, share = record["checks"]
    assert (contains["verdict"], contains["cause"]) == ("pass", None)
    assert (share["verdict"], share["cause"]) == ("error", "check"), share
    assert share["message"].startswith("check could not run: DivisionByZero"), share
    # the agent diverged nowhere: the run says the suite's check could not run, and exits 1
    assert "1 more errored check(s) could not run: the suite's error" in done.stderr, done.stderr
    assert (
        "### ERROR (the suite's: the check could not run) · T-001"
        in (only_run(reports, done.stderr) / "summary.md").read_text()
    )
    assert "failed and" not in done.stderr, done.stderr
    run_summary = (only_run(reports, done.stderr) / "summary.md").read_text()
    assert "1 check(s) could not run (the suite's error)" in run_summary
    assert "divergence(s) from the spec" not in run_summary
    said = "2 check verdicts: 1 pass, 0 fail, 1 error (1 of them checks that could not run"
    assert said in run_summary, run_summary[:1500]

    scenario = suite / "scenarios" / "s.yaml"
    scenario.write_text(RAISES.replace("TOTAL", "{integer: [5, 9]}"))  # searched: 5 is found
    hunt = harness(
        "hunt", str(suite), "--budget", "5s", "--no-progress", "--reports-dir", str(reports)
    )
    assert hunt.returncode == 0, hunt.stdout + hunt.stderr
    assert not list((suite / "regressions").glob("*.yaml")), "saved the suite's error"
    said = "ticket: share: check could not run: DivisionByZero"
    assert hunt.stderr.count(said) == 1, hunt.stderr
    assert "(a problem of the suite or the harness, not saved)" in hunt.stderr
    # the hunt's own reports say so too, and what it tried (it said "No case finished")
    [folder] = [d for d in run_dirs(reports) if read_manifest(d)["kind"] == "hunt"]
    summary = (folder / "summary.md").read_text()
    assert " case(s) it tried (but see the warnings about the suite)" in summary
    assert " kept (a hunt keeps what it found; it tried " in summary
    assert "Warnings about the suite" in summary and said in summary
    assert "Not judged in this hunt" not in summary
