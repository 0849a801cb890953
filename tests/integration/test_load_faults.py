"""harness load with a fault window on the agent's link to its PostgreSQL: a real agent
(tests/agents/holds_agent.py, a connection per request) behind a real fault proxy, the window
applied and removed on the load's clock; the report shows the dip during it and the recovery
after, and no proxy port outlives the run."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from harness.report.load import summarize
from harness.runlog.models import TrialRecord
from harness.runlog.read import open_run, read_records
from tests.faults import listening
from tests.helpers import (
    Lines,
    copy_holds,
    edit_file,
    environ,
    harness,
    only_run,
    read_manifest,
    start_harness,
)
from tests.procs import wait_gone

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PROFILE = """
load:
  profiles:
    dip:
      shape: soak
      users: 3
      duration: 14s
      window: 1s
      duplicates: 0
      sample_every: 60
      faults:
        - {link: db, toxic: down, at: 5s, for: 3s}
"""


def holds_suite(root: Path) -> Path:
    """The holds suite (and its agent, at the path its command names) with a fault profile."""
    return copy_holds(root, PROFILE)


def test_a_fault_window_shows_the_dip_and_the_recovery(tmp_path: Path) -> None:
    suite = holds_suite(tmp_path)
    reports = tmp_path / "reports"
    proc = harness(
        "load", str(suite), "--profile", "dip", "--reports-dir", str(reports), "--no-progress",
        env=environ(LIBRARY_MODE="correct"), timeout=240,
    )  # fmt: skip
    run = only_run(reports, proc.stderr)
    # the run header names the proxy: nothing listens there once the run is over
    said = re.search(r"db via proxy 127\.0\.0\.1:(\d+)", proc.stderr)
    assert said is not None, proc.stderr
    assert not listening(int(said.group(1))), "the fault proxy's port outlived the run"
    assert not wait_gone(run)

    window = read_manifest(run)["load"]["faults"][0]
    assert window["link"] == "db" and window["toxic"] == "down"
    assert window["started"] is not None and window["ended"] is not None
    assert window["started"] == pytest.approx(5.0, abs=0.5)
    assert window["ended"] - window["started"] == pytest.approx(3.0, abs=0.5)
    assert window["seed"] is not None

    summary = summarize(open_run(run))
    assert summary is not None and len(summary.faults) == 1
    n = summary.faults[0]
    before, during, after = n.phases
    assert before.conversations >= 5 and during.conversations >= 3 and after.conversations >= 5
    assert before.pass_rate == 1.0
    assert during.pass_rate is not None and during.pass_rate < before.pass_rate
    assert n.dipped
    low, _ = before.interval or (1.0, 1.0)
    assert after.pass_rate is not None and after.pass_rate >= low
    assert n.recovery_s is not None and n.recovery_s < 2.0
    # each conversation that overlapped the window says so (and measures the fault, not the
    # load: in no level); its observation holds the window, with the turns sent inside it
    records = [r for r in read_records(run) if isinstance(r, TrialRecord) and r.load]
    hit = [r for r in records if r.load and r.load.faults == [1]]
    assert len(hit) == during.conversations == summary.faulted
    assert all(r.observation.faults[0].toxic == "down" for r in hit)
    assert all(r.observation.faults[0].source == "load:dip" for r in hit)
    # as in a run, the agent's error while the database is down is no error of the case: the
    # invariants judge the rows (and hold), only the check of the reply cannot be judged
    refused = [r for r in hit if r.observation.turns[0].error is not None]
    assert refused and all(r.observation.error is None for r in refused)
    verdicts = {(str(c.category), c.verdict.value) for r in refused for c in r.checks}
    assert verdicts == {("invariant", "pass"), ("output", "error")}, verdicts
    assert not any(r.observation.faults for r in records if r.load and not r.load.faults)
    assert sum(lv.conversations for lv in summary.levels) == len(records) - len(hit)
    assert summary.levels[0].pass_rate == 1.0 and summary.held
    # the same numbers in both reports, the dip shaded in the plots
    md = (run / "summary.md").read_text()
    assert "### Fault windows" in md and "back within the before interval" in md
    html = (run / "report.html").read_text()
    assert "Fault windows" in html and "fault 1: down on db" in html
    assert proc.returncode in (0, 1), proc.stderr  # conversations failed during the fault
    # the progress lines (one every 5 s in a log) give the last 5 s beside the cumulative
    # rate, labelled; the one after the window shows the dip the cumulative rate hides
    shown = re.findall(r"pass (\S+) overall, (\S+) last 5 s", proc.stderr)
    assert len(shown) >= 2, proc.stderr
    assert any(last != "—" and overall != "—" and float(last[:-1]) < float(overall[:-1])
               for overall, last in shown), shown  # fmt: skip


def test_ctrl_c_inside_a_window_removes_it_and_leaves_no_proxy(tmp_path: Path) -> None:
    suite = holds_suite(tmp_path)
    edit_file(suite / "suite.yaml", "at: 5s, for: 3s", "at: 1s, for: 12s")
    reports = tmp_path / "reports"
    proc = start_harness(
        "load", str(suite), "--profile", "dip", "--reports-dir", str(reports), "--no-progress",
        env=environ(LIBRARY_MODE="correct"),
    )  # fmt: skip
    err = Lines(proc.stderr)
    said = re.search(r"db via proxy 127\.0\.0\.1:(\d+)", err.wait_for("via proxy", 120))
    assert said is not None
    err.wait_for("fault window 1: down on db", 60)
    proc.send_signal(signal.SIGINT)
    proc.wait(60)
    stderr = err.rest()
    assert proc.returncode == 130, stderr
    run = only_run(reports, stderr)
    assert not listening(int(said.group(1))), "the fault proxy's port outlived the run"
    assert not wait_gone(run)
    (window,) = read_manifest(run)["load"]["faults"]
    assert window["started"] is not None and window["ended"] is not None  # removed at the end
    assert window["ended"] < 13.0
