"""A load run's numbers and reports, from stored records only: levels, windows, degradation,
the parquet table, and agent or database text escaped in every format."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pandas as pd

from harness.report.build import build_reports
from harness.report.load import summarize
from harness.report.loadframe import LOAD_COLUMNS, load_frame
from harness.runlog.read import MANIFEST, RunFolder, open_run, parse_manifest
from tests.helpers import write_load_run

HOSTILE = "<script>alert(1)</script> | **bold** `tick`"


def check(cid: str, verdict: str, category: str = "output", req: str = "T-001") -> dict[str, Any]:
    return {
        "check_id": cid,
        "check_type": "invariant" if category == "invariant" else "contains",
        "category": category,
        "requirements": [req],
        "verdict": verdict,
        "message": "",
        "expected": None,
        "found": None,
    }


def record(
    n: int, users: int, start: float, checks: list[dict[str, Any]], role: str = "single"
) -> dict[str, Any]:
    return {
        "v": 1,
        "key": f"s#{n}@1",
        "case": {"id": f"s#{n}", "scenario": "s", "index": n, "seed": n},
        "trial": 1,
        "observation": {
            "session_id": f"h-{n}",
            "turns": [
                {"index": 1, "text": "hi", "reply": HOSTILE, "latency_ms": 10.0 + n % 7},
                {"index": 2, "text": "again", "reply": "ok", "latency_ms": 20.0, "error": None},
            ],
            "entities": {},
            "started_at": "",
            "duration_ms": 30.0,
            "error": None,
        },
        "checks": checks,
        "load": {
            "role": role,
            "users": users,
            "active": users,
            "window": int(start),
            "start": start,
            "at": [start, start + 0.05],
        },
    }


def steady(tmp_path: Path, fail_at_peak: int = 0, samples: list[Any] | None = None) -> Path:
    records = [record(i, 2, 0.04 * i, [check("c", "pass")]) for i in range(40)]
    for i in range(40):
        verdict = "fail" if i < fail_at_peak else "pass"
        records.append(record(100 + i, 10, 2.0 + 0.04 * i, [check("c", verdict)]))
    return write_load_run(tmp_path, records, samples or [])


def test_levels_windows_and_latency(tmp_path: Path) -> None:
    run = steady(tmp_path)
    s = summarize(open_run(run))
    assert s is not None
    assert [(lv.users, lv.conversations, lv.passes) for lv in s.levels] == [
        (2, 40, 40),
        (10, 40, 40),
    ]
    assert s.low is s.levels[0] and s.peak is s.levels[-1]
    assert s.degraded_at is None and "held at every level, up to 10 users" in s.verdict
    assert [w.key for w in s.windows] == [0, 1, 2, 3]
    assert sum(w.requests for w in s.windows) == 160  # every turn, in the window it was sent
    assert s.levels[0].rps == 80 / 2.0  # 40 conversations x 2 turns over the level's 2 s
    assert s.windows[2].users == 10
    assert s.levels[0].percentile(0.5) is not None


def test_a_pass_rate_drop_beyond_noise_is_where_correctness_degrades(tmp_path: Path) -> None:
    run = steady(tmp_path, fail_at_peak=12)
    s = summarize(open_run(run))
    assert s is not None and s.degraded_at == 10
    assert "pass rate 70.0% vs 100.0% at 2 users" in s.degraded_reason
    assert s.levels[1].p_value is not None and s.levels[1].p_value < 0.05


def test_a_small_drop_is_noise(tmp_path: Path) -> None:
    run = steady(tmp_path, fail_at_peak=1)
    s = summarize(open_run(run))
    assert s is not None and s.degraded_at is None
    assert s.levels[1].pass_rate == 39 / 40


def test_a_pair_violation_counts_once_and_samples_count_new_rows(tmp_path: Path) -> None:
    inv = check("refunds-within-order-total", "fail", "invariant", "T-002")
    records = [record(i, 2, 0.05 * i, [check("c", "pass")]) for i in range(10)]
    records += [record(50, 10, 2.5, [inv], "first"), record(51, 10, 2.5, [inv], "second")]
    samples = [
        {"at": 1.0, "violations": {"refunds-within-order-total": 0}},
        {
            "at": 3.0,
            "violations": {"refunds-within-order-total": 1},
            "rows": {"refunds-within-order-total": [{"order_id": 7, "note": HOSTILE}]},
        },
        {"at": 3.5, "violations": {"refunds-within-order-total": 1}},  # the same row again
    ]
    run = write_load_run(tmp_path, records, samples)
    s = summarize(open_run(run))
    assert s is not None
    peak = s.levels[-1]
    assert peak.violations == 1 and peak.sampled == 1 and peak.conversations == 2
    assert s.degraded_at == 10 and "1 invariant violation(s)" in s.degraded_reason
    assert s.sampled_violations == 1
    assert s.first_violations[0]["at"] == 3.0
    assert s.levels[0].by_requirement == {"T-001": [10, 10]}
    assert peak.rate("T-002") == 0.0


def test_load_parquet_reads_back_with_documented_columns(tmp_path: Path) -> None:
    run = steady(tmp_path, fail_at_peak=12)
    reports = build_reports(run)
    assert reports.load_parquet == run / "load.parquet"
    frame = pd.read_parquet(run / "load.parquet")
    assert list(frame.columns) == LOAD_COLUMNS
    levels = frame[(frame["kind"] == "level") & (frame["requirement"] == "*")]
    assert levels["users"].tolist() == [2, 10]
    assert levels["pass_rate"].tolist() == [1.0, 0.7]
    assert set(frame["kind"]) == {"window", "level"}
    manifest = json.loads((run / MANIFEST).read_text())
    assert summarize(RunFolder(run, parse_manifest(manifest))) is not None
    assert load_frame(summarize(RunFolder(run, parse_manifest(manifest)))).shape == frame.shape  # type: ignore[arg-type]


def test_every_report_escapes_agent_and_database_text(tmp_path: Path) -> None:
    inv = check("refunds-within-order-total", "fail", "invariant", "T-002")
    inv["found"] = [{"order_id": 7, "note": HOSTILE}]
    records = [record(i, 2, 0.05 * i, [check("c", "fail")]) for i in range(3)]
    records += [record(50, 10, 2.5, [inv], "first")]
    samples = [
        {
            "at": 3.0,
            "violations": {"refunds-within-order-total": 1},
            "rows": {"refunds-within-order-total": [{"order_id": 7, "note": HOSTILE}]},
        }
    ]
    run = write_load_run(tmp_path, records, samples)
    build_reports(run)
    html = (run / "report.html").read_text()
    assert '<h2 id="load">Load</h2>' in html and "<svg" in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    md = (run / "summary.md").read_text()
    assert "## Load" in md and "Correctness first degrades at 10 users" in md
    assert "<script>" not in md.split("## Load", 1)[1].split("## Divergences", 1)[0]
    assert "\\<script\\>" in md
    junit = ET.fromstring((run / "junit.xml").read_bytes())
    load = [s for s in junit.iter("testsuite") if s.get("name") == "t.load"]
    assert load and int(load[0].get("failures") or 0) >= 1
    assert "90 + 70 from its 2 workers" in md


def test_a_ramp_down_to_zero_users_is_no_level_and_never_the_baseline(tmp_path: Path) -> None:
    """The README's custom profile ends with {duration: 2s, users: 0}: what starts then is in
    the windows, not a level of its own compared with everything else."""
    from harness.report.loadruns import load_levels

    records = [record(i, 2, 0.04 * i, [check("c", "pass")]) for i in range(40)]
    records += [record(100 + i, 10, 2.0 + 0.04 * i, [check("c", "pass")]) for i in range(40)]
    records += [record(200 + i, 0, 4.0 + 0.1 * i, [check("c", "fail")]) for i in range(2)]
    run = write_load_run(tmp_path, records, [])
    manifest = json.loads((run / MANIFEST).read_text())
    manifest["load"]["schedule"].append([4, 6, 0, 10.0])
    # as an older harness wrote it: a level of 0 users, first in the table
    manifest["levels"] = [
        {"users": 0, "trials": 2, "passes": 0},
        {"users": 2, "trials": 40, "passes": 40},
        {"users": 10, "trials": 40, "passes": 40},
    ]
    (run / MANIFEST).write_text(json.dumps(manifest))
    s = summarize(RunFolder(run, parse_manifest(manifest)))
    assert s is not None
    assert [lv.users for lv in s.levels] == [2, 10] and s.low is not None and s.low.users == 2
    assert s.ramping_down == 2 and s.degraded_at is None
    assert sum(w.conversations for w in s.windows) == 82  # still in the windows
    build_reports(run)
    md = (run / "summary.md").read_text()
    assert "2 conversation(s) started while the profile ramped down to 0 users" in md
    junit = (run / "junit.xml").read_text()
    assert "at 0 users" not in junit
    levels = load_levels(RunFolder(run, parse_manifest(manifest)))
    assert levels is not None and levels.low.users == 2


def test_held_is_never_said_over_failing_conversations(tmp_path: Path) -> None:
    """Failing equally at every level is no degradation, but it is not "held" either; with one
    level (every soak) nothing across levels can be measured, and the report says so."""
    records = [record(i, 2, 0.04 * i, [check("c", "fail" if i % 2 else "pass")]) for i in range(40)]
    records += [
        record(100 + i, 10, 2.0 + 0.04 * i, [check("c", "fail" if i % 2 else "pass")])
        for i in range(40)
    ]
    run = write_load_run(tmp_path, records, [])
    s = summarize(open_run(run))
    assert s is not None and s.degraded_at is None and not s.held
    assert "held" not in s.verdict and "correctness did not hold" in s.verdict
    assert "pass rate 50.0% at 2 users (20 of 40 conversations failed or errored)" in s.verdict

    (tmp_path / "one").mkdir()
    one = write_load_run(
        tmp_path / "one", [record(i, 4, 0.1 * i, [check("c", "pass")]) for i in range(8)], []
    )
    s = summarize(open_run(one))
    assert s is not None and len(s.levels) == 1 and s.held
    assert s.verdict.startswith("Only one level ran (4 users), so degradation across levels")
    assert "pass rate 100.0% at 4 users" in s.verdict and "held" not in s.verdict


def test_junit_never_compares_the_lowest_level_with_itself(tmp_path: Path) -> None:
    run = steady(tmp_path)
    build_reports(run)
    junit = ET.fromstring((run / "junit.xml").read_bytes())
    (load,) = [s for s in junit.iter("testsuite") if s.get("name") == "t.load"]
    names = [c.get("name") for c in load.iter("testcase")]
    assert names == [
        "invariants hold at 2 users",
        "pass rate at 10 users >= at 2 users",
        "invariants hold at 10 users",
    ]
    assert load.get("tests") == "3"


def test_rates_are_over_the_time_measured_not_the_time_planned(tmp_path: Path) -> None:
    """Stopped 2.5 s into a 4 s profile: the 10-user level ran 0.5 s, not its planned 2 s."""
    records = [record(i, 2, 0.04 * i, [check("c", "pass")]) for i in range(40)]
    records += [record(100 + i, 10, 2.0 + 0.04 * i, [check("c", "pass")]) for i in range(10)]
    run = write_load_run(tmp_path, records, [])
    manifest = json.loads((run / MANIFEST).read_text())
    manifest["status"] = "interrupted"
    manifest["load"]["users_timeline"] = [[0.1, 2], [2.2, 10], [2.5, 10]]
    s = summarize(RunFolder(run, parse_manifest(manifest)))
    assert s is not None
    peak = s.levels[-1]
    assert peak.requests == 20 and peak.seconds == 0.5 and peak.rps == 40.0
    assert s.windows[-1].start == 2.0 and s.windows[-1].end == 2.5


def test_replies_in_flight_at_the_end_make_no_sliver_window(tmp_path: Path) -> None:
    records = [record(i, 2, 0.04 * i, [check("c", "pass")]) for i in range(40)]
    records += [record(100 + i, 10, 2.0 + 0.04 * i, [check("c", "pass")]) for i in range(49)]
    records.append(record(200, 10, 3.96, [check("c", "pass")]))  # its 2nd turn at 4.01 s
    run = write_load_run(tmp_path, records, [{"at": 4.02, "violations": {"inv": 1}}])
    s = summarize(open_run(run))
    assert s is not None
    assert [w.key for w in s.windows] == [0, 1, 2, 3]
    last = s.windows[-1]
    assert last.start == 3.0 and 1.0 < last.end < 1.1 + 3.0 and last.sampled == 1
    assert sum(w.requests for w in s.windows) == 180  # every turn still counted
    assert all(w.rps is not None and w.rps < 200 for w in s.windows)


def test_an_older_load_manifest_reads_into_the_typed_load_parts(tmp_path: Path) -> None:
    """Samples, processes, locust's totals and the agent's death were untyped dicts in the
    manifests older harnesses wrote; they read into their models, and the report says what
    they say: a run cut short by the agent, locust's totals missing, each process's count."""
    from harness.runlog.models import AgentExit, LoadManifest, LoadProcess, LoadSample, LocustTotals

    run = steady(tmp_path, samples=[{"at": 3.0, "violations": {"inv": 2}}])
    manifest = json.loads((run / MANIFEST).read_text())
    del manifest["load"]["locust"]
    manifest["load"]["agent_exit"] = {"code": 137, "at": 2.5}
    manifest["load"]["processes"] = [
        {"role": "master", "pid": 10, "log": "load-master.log", "requests": 0},
        {"role": "worker", "pid": 11, "log": "load-worker-1.log", "index": 1, "requests": 30},
        {"role": "worker", "pid": 12, "remote": True, "index": 2, "requests": 12},
    ]
    (run / MANIFEST).write_text(json.dumps(manifest))
    folder = open_run(run)
    assert isinstance(folder.manifest, LoadManifest)
    load = folder.manifest.load
    assert load.agent_exit == AgentExit(code=137, at=2.5) and load.locust is None
    assert load.samples == [LoadSample(at=3.0, violations={"inv": 2})]
    assert [type(p) for p in load.processes] == [LoadProcess] * 3 and load.processes[2].remote
    s = summarize(folder)
    assert s is not None and s.agent_exit is not None
    assert "exited with code 137 at 2.5 s and the load was cut short there" in s.verdict
    assert s.sampled_violations == 2 and s.first_violations[0]["at"] == 3.0
    md = build_reports(run).markdown.read_text()
    assert "its 2 process(es) last reported 42 requests = 30 + 12 (partial)" in md
    totals = LocustTotals.model_validate({"requests": 5, "workers": {"a": {"requests": 5}}})
    assert totals.workers["a"].requests == 5 and totals.failures == 0
