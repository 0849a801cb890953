"""harness load when judging a conversation outlives the case timeout: an `sql` check whose
query sleeps past it on the real PostgreSQL. That conversation becomes an error naming the
timeout, and nothing else is touched: the case server, whose handlers hand out cases and take
results while the judging runs in tasks of its own, keeps serving; conversations judged
quickly still pass; every request locust counted is a turn in the run log. Real processes, a
real database, real sockets (tests/suites/holds, tests/agents/holds_agent.py).

One conversation in eight is slow: judging shares a pool of database connections (load/
feeder.py's JUDGES beside the preparers'), and with most of it held by sleeping checks the
quick ones would wait for a connection past their own timeout too, as the pool's size says."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core import FailureKind, Verdict
from harness.runlog.models import TrialRecord
from harness.runlog.read import read_records
from tests.helpers import copy_holds, edit_file, environ, harness, only_run, read_manifest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TIMEOUT = 1.5  # the suite's case_timeout; a slow conversation's check sleeps twice that

SCENARIO = """
scenarios:
  - id: hold-judged
    title: A member places a hold; some holds are checked slowly
    repeat: 60
    vars:
      title: {choice: ["Middlemarch", "The Dispossessed", "Pedro Páramo"]}
      card: {faker: numerify, args: ["C-########"]}
      pace: {choice: [slow, quick, quick, quick, quick, quick, quick, quick]}
    setup:
      member:
        table: members
        values:
          card: "{{ vars.card }}"
          name: "{{ vars.title }} reader"
    turns:
      - "Please hold {{ vars.title }} for card {{ member.card }}"
    checks:
      - id: placed
        type: contains
        requirements: [LB-001]
        value: Hold placed
      - id: hold-row
        type: sql
        requirements: [LB-001]
        query: >-
          select count(*) as n from pg_sleep(case when %s = 'slow' then %s else 0 end)
        params: ["{{ vars.pace }}", SLEEP]
        expect_value: 1
"""

PROFILE = """
load:
  profiles:
    steady:
      shape: soak
      users: 2
      duration: 8s
      window: 1s
      duplicates: 0
      wait: [0.1, 0.2]
      sample_every: 60
      scenarios: [hold-judged]
"""


def test_a_check_past_the_case_timeout_is_an_error_and_the_load_goes_on(
    tmp_path: Path,
) -> None:
    suite = copy_holds(tmp_path, PROFILE)
    edit_file(suite / "suite.yaml", "case_timeout: 20", f"case_timeout: {TIMEOUT}")
    (suite / "scenarios" / "judged.yaml").write_text(SCENARIO.replace("SLEEP", str(2 * TIMEOUT)))
    reports = tmp_path / "reports"
    proc = harness(
        "load", str(suite), "--profile", "steady", "--reports-dir", str(reports), "--no-progress",
        env=environ(LIBRARY_MODE="correct"), timeout=240,
    )  # fmt: skip
    run = only_run(reports, proc.stderr)
    assert proc.returncode == 1, proc.stderr  # errors are no pass
    records = [r for r in read_records(run) if isinstance(r, TrialRecord) and r.load]
    slow = [r for r in records if r.case.vars["pace"] == "slow"]
    quick = [r for r in records if r.case.vars["pace"] == "quick"]
    assert slow and quick, [r.case.vars for r in records]
    for r in slow:
        assert {c.verdict for c in r.checks} == {Verdict.ERROR}, r.checks
        error = r.observation.error
        assert error is not None and error.kind is FailureKind.CASE_TIMEOUT, error
        assert f"did not finish within {TIMEOUT:g} s" in error.message
    # the quick ones were judged alongside, and after, the timeouts: all pass
    assert all(c.verdict is Verdict.PASS for r in quick for c in r.checks), [
        (r.case.id, r.checks) for r in quick
    ]
    first_late = min(r.load.start for r in slow if r.load and r.load.start is not None)
    later = [r for r in records if r.load and (r.load.start or 0.0) > first_late + 2 * TIMEOUT]
    assert later, "no conversation was handed out and judged after the first timeout fired"
    load = read_manifest(run)["load"]
    assert load["counts"]["abandoned"] == 0, load["counts"]
    # nothing lost between the generator and the run log
    assert load["locust"]["requests"] == sum(len(r.observation.turns) for r in records)
