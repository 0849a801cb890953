"""harness trend: one k for every run, runs with fewer trials not measured, partial runs and
runs of another spec left out (and named), date and time on the x axis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.report.trend import DEFAULT_K, Apart, build_trend, render_trend, when
from tests.helpers import results_frame, results_row

REQUIREMENTS = [{"id": "R-1", "severity": "major", "title": "one"}]


def _store(root: Path, run_id: str, started: str, marks: str, **manifest: Any) -> None:
    rows = []
    for case in ("a#1", "b#1"):
        for trial, mark in enumerate(marks, start=1):
            row = results_row(
                case_id=case,
                scenario="a",
                origin="scenario",
                trial=trial,
                check_id="x",
                requirements="R-1",
                verdict="pass" if mark == "P" else "fail",
                duration_ms=0.0,
            )
            rows.append(row)
    folder = root / run_id
    folder.mkdir(parents=True)
    results_frame(rows).to_parquet(folder / "results.parquet")
    info = {
        "kind": "run",
        "suite": "s",
        "status": "finished",
        "started_at": started,
        "trials": len(marks),
        "spec_hash": "new",
        "requirements": REQUIREMENTS,
        **manifest,
    }
    (folder / "manifest.json").write_text(json.dumps(info))


def test_one_trial_runs_do_not_set_k_and_incomparable_runs_are_left_out(tmp_path: Path) -> None:
    _store(tmp_path, "r0-old-spec", "2026-11-20T02:17:00+00:00", "PPPPP", spec_hash="old")
    _store(tmp_path, "r1", "2026-11-21T02:17:00+00:00", "PPPPP")
    _store(tmp_path, "r2-one-trial", "2026-11-22T02:17:00+00:00", "P")
    _store(tmp_path, "r3-partial", "2026-11-23T02:17:00+00:00", "PPPPP", select=["a*"])
    _store(tmp_path, "r4-other-spec", "2026-11-24T02:17:00+00:00", "PPPPP", spec_hash="mid")
    _store(tmp_path, "r5", "2026-11-25T02:17:00+00:00", "PPFPP")
    trend = build_trend(tmp_path, "s", last=30)
    assert trend.k == DEFAULT_K == 5
    assert [r.run_id for r in trend.runs] == ["r1", "r2-one-trial", "r5"]
    points = trend.series[0].points
    assert [p.pass_hat_k.value for p in points] == [1.0, None, 0.0]  # not a 1-trial estimate
    assert points[1].pass_at_1.value == 1.0
    assert [r.run_id for r in trend.short_runs] == ["r2-one-trial"]
    assert [(x.run_id, x.apart, x.why) for x in trend.left_out] == [
        ("r3-partial", Apart.PARTIAL, "judged only part of the suite (-k a*)"),
        ("r4-other-spec", Apart.OTHER_SPEC, "another spec (sha256 mid…)"),
        # counted, not listed: r0 (older than the oldest kept), not r4 (listed above)
        ("", Apart.OLDER_SPECS, "1 older run(s) of another spec than the newest run's"),
    ]
    html = render_trend(trend)
    assert "2026-11-21 02:17 UTC" in html and "2026-11-25 02:17 UTC" in html  # x axis
    assert "pass^5 not measured: 1 trial(s) per case, fewer than 5" in html
    assert "r3-partial: judged only part of the suite" in html
    assert "r0-old-spec" not in html and "Left out" in html
    assert "<script" not in html
    # an explicit k: every run with that many trials measures it
    assert build_trend(tmp_path, "s", last=30, k=1).short_runs == []


def test_x_axis_labels_carry_date_and_time() -> None:
    assert when("2026-11-26T18:43:16+00:00") == "2026-11-26 18:43 UTC"
    assert when("2026-11-26T18:43:16+01:00") == "2026-11-26 18:43"
