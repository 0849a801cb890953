"""harness load with a `down` window on the agent's link to its PostgreSQL and an honest agent
(tests/agents/holds_agent.py, MODE=honest: 503 "try again later" while it cannot reach its
database): as in a run's faults, a turn that failed during the window is recorded and the
conversation goes on, checks whose `when:` is false are skipped (never errors), and with
`accept_status: [503]` on the window the 503 is part of the contract there, recorded with
its status and its body as the reply. Real processes, real sockets, a real fault proxy."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from harness.runlog.models import TrialRecord
from harness.runlog.read import read_records
from tests.helpers import copy_holds, environ, harness, only_run

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SCENARIO = """
scenarios:
  - id: hold-twice
    title: A member places two holds
    repeat: 3
    vars:
      title: {choice: ["Middlemarch", "The Dispossessed", "Pedro Páramo"]}
      card: {faker: numerify, args: ["C-########"]}
    setup:
      member:
        table: members
        values:
          card: "{{ vars.card }}"
          name: "{{ vars.title }} reader"
    turns:
      - "Please hold {{ vars.title }} for card {{ member.card }}"
      - "Please hold {{ vars.title }} too for card {{ member.card }}"
    checks:
      - id: placed
        type: contains
        requirements: [LB-001]
        turn: all
        value: Hold placed
        when: "{{ fault.applied | not }}"
      - id: second-placed
        type: contains
        requirements: [LB-001]
        turn: 2
        value: Hold placed
        when: "{{ statuses.2 | eq(200) }}"
      - id: says-later
        type: contains
        requirements: [LB-001]
        turn: any
        value: try again later
        when: "{{ fault.accepted }}"
"""

PROFILE = """
load:
  profiles:
    outage:
      shape: soak
      users: 3
      duration: 12s
      window: 1s
      duplicates: 0
      wait: [0.05, 0.1]
      sample_every: 60
      scenarios: [hold-twice]
      faults:
        - {link: db, toxic: down, at: 4s, for: 3s WINDOW_EXTRA}
"""


def run_load(root: Path, extra: str) -> tuple[int, str, Path]:
    suite = copy_holds(root, PROFILE.replace(" WINDOW_EXTRA", extra))
    (suite / "scenarios" / "twice.yaml").write_text(SCENARIO)
    reports = root / "reports"
    proc = harness(
        "load", str(suite), "--profile", "outage", "--reports-dir", str(reports), "--no-progress",
        env=environ(LIBRARY_MODE="honest"), timeout=240,
    )  # fmt: skip
    return proc.returncode, proc.stderr, only_run(reports, proc.stderr)


def during(run: Path) -> pd.Series:
    """The window's during phase in load.parquet."""
    frame = pd.read_parquet(run / "load.parquet")
    faults = frame[frame["kind"] == "fault"].set_index("phase")
    return faults.loc["during"]


def headline(text: str) -> str:
    """The window's sentence (Markdown's escapes and the terminal's wrapping undone)."""
    flat = " ".join(text.replace("\\", "").split())
    found = re.search(
        r"Fault 1 \(down on db, [^)]*\): dipped; pass rate of judged .*? p50 latency", flat
    )
    assert found, text
    return found.group(0)


def windowed(run: Path) -> tuple[list[TrialRecord], list[TrialRecord]]:
    """The conversations, and those that overlapped the window."""
    records = [r for r in read_records(run) if isinstance(r, TrialRecord) and r.load]
    return records, [r for r in records if r.load and r.load.faults == [1]]


def refused(r: TrialRecord) -> list[int]:
    """The turns the agent answered 503 (its database down)."""
    return [t.index for t in r.observation.turns if t.status == 503]


def test_accept_status_on_a_load_window_makes_the_honest_503_the_contract(
    tmp_path: Path,
) -> None:
    code, stderr, run = run_load(tmp_path, ", accept_status: [503]")
    assert code == 0, stderr
    records, hit = windowed(run)
    assert len(records) > len(hit) >= 3, stderr
    honest = [r for r in hit if refused(r)]
    assert honest, [(t.status, t.error) for r in hit for t in r.observation.turns]
    for r in honest:
        assert r.observation.error is None
        assert len(r.observation.turns) == 2  # the conversation went on
        for t in r.observation.turns:
            if t.status == 503:  # recorded with its status, its body the reply
                assert t.error is None and "try again later" in (t.reply or "")
        verdicts = {c.check_id.rsplit("/", 1)[-1]: c.verdict.value for c in r.checks}
        assert "placed" not in verdicts  # when: false (a fault was applied): skipped
        assert verdicts.get("says-later") == "pass", verdicts  # fault.accepted says so
        assert all(c.verdict.value == "pass" for c in r.checks), verdicts
    # outside the window nothing changes: every conversation placed its holds
    clean = [r for r in records if not r.load or not r.load.faults]
    assert clean and not any(refused(r) for r in clean)
    # the Faults section says what was applied: the load's window, not "no profile"
    md = (run / "summary.md").read_text()
    assert "Load profile outage: 1 of 1 fault window" in md, md
    assert "down on db at 4.0 s for 3.0 s" in md, md
    assert "applied by the scenarios themselves" not in md
    # the outage the checks allow is visible: the share of non-2xx answers during the window,
    # the 503s accepted counted, in the table, the headline (Markdown, HTML, terminal)
    row = during(run)
    assert row["non_2xx"] >= row["accepted"] > 0, row
    for text in (md, (run / "report.html").read_text(), stderr):
        said = headline(text)
        assert re.search(r"non-2xx answers [\d.]+% / [1-9][\d.]*% \(503 accepted: \d+\)", said), (
            said
        )
    assert f"503 accepted: {row['accepted']}" in md.replace("\\", "")


def test_without_accept_status_a_failed_turn_in_a_window_does_not_end_the_conversation(
    tmp_path: Path,
) -> None:
    code, stderr, run = run_load(tmp_path, "")
    records, hit = windowed(run)
    first = [r for r in hit if 1 in refused(r)]
    assert first, [(t.status, t.error) for r in hit for t in r.observation.turns]
    for r in first:
        turns = r.observation.turns
        # recorded with its failure, and the conversation went on to its second turn
        assert turns[0].error is not None and turns[0].error.kind.value == "status"
        assert len(turns) == 2 and r.observation.error is None
    for r in hit:
        ids = {c.check_id.rsplit("/", 1)[-1]: c.verdict.value for c in r.checks}
        # checks whose when: is false are skipped, never errors
        assert "placed" not in ids and "says-later" not in ids, ids
        if r.observation.turns[-1].status != 200:
            assert "second-placed" not in ids, ids
        assert "error" not in ids.values(), ids
    # outside the window nothing was excused, and nothing needed to be
    assert not any(t.error for r in records if r not in hit for t in r.observation.turns)
    assert code == 0, stderr
    # a conversation none of whose own checks was judged (every turn 503, every check
    # skipped) is no pass: counted apart, and the window is not called 100% passing
    blank = [r for r in hit if all(c.category == "invariant" for c in r.checks)]
    assert blank, [[c.check_id for c in r.checks] for r in hit]
    row = during(run)
    assert row["not_judged"] == len(blank) and row["non_2xx"] > 0 and row["accepted"] == 0, row
    assert row["passes"] < row["conversations"], row
    md = (run / "summary.md").read_text()
    for text in (md, (run / "report.html").read_text(), stderr):
        said = headline(text)
        assert f"({len(blank)} not judged) during" in said, said
        assert "100.0% before, 100.0% during" not in said, said
        assert re.search(r"non-2xx answers [\d.]+% / [1-9][\d.]*%", said), said
