"""A drift run's reports (summary.md, report.html with its curves, junit.xml, drift.parquet)
built from a run folder by `build_reports`, agent text escaped in each; and drift runs in
`harness compare` and `harness trend`."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from harness.core.events import Status
from harness.errors import ConfigError
from harness.report.build import build_reports
from harness.report.compare import comparable, compare_runs
from harness.report.compare_render import render_comparison
from harness.report.trend import build_trend, render_trend
from harness.runlog.models import RunManifest
from harness.runlog.read import open_run
from harness.runlog.store import RunLog
from tests.driftruns import drift_run, step

LENGTHS = [0, 2, 4, 8, 16, 32]
HOSTILE = "<script>alert(1)</script> | `tick` **bold** \x1b[31m \u202egnp.exe" + "z" * 3000


def drift_suite(junit: bytes) -> ET.Element:
    root = ET.fromstring(junit)
    return next(s for s in root if s.get("name") == "s.drift")


def test_every_report_of_a_drift_run_shows_the_curve_and_the_first_degraded_length(
    tmp_path: Path,
) -> None:
    table = step(LENGTHS, 8)
    table[(32, "middle")] = ["F"] * 6
    table[(32, "end")] = ["P"] * 6
    folder = drift_run(tmp_path, {"R-1": table, "R-2": step(LENGTHS, 99)}, usage=True)
    reports = build_reports(folder)
    assert reports.drift is not None and [c.requirement for c in reports.drift.degraded] == ["R-1"]
    assert reports.paths()["drift"] == folder / "drift.parquet"

    md = (folder / "summary.md").read_text()
    drift = md[md.index("## Drift") : md.index("## Divergences")]
    assert "**Degraded with length: R-1 from n=8**" in drift
    assert "holds up to n=4, degraded from n=8" in drift and "holds up to n=32" in drift
    assert "| ❌ 8 | 0/6 | 0.0% | 0.0–39.0% |" in drift
    assert "| 0 (baseline) | 6/6 | 100.0% |" in drift
    assert "| middle | 0/6 | 0.0% |" in drift  # positions at the position length
    assert "Prompt tokens at the probe (mean): n=0: 200, n=2: 400" in drift
    assert "| `remember-card#1@8` | turn 10 \\(probe\\) | `remember-card#R-1` | 1/1 |" in drift

    html = (folder / "report.html").read_text()
    section = html[html.index('<h2 id="drift">') : html.index("<h2>Divergences")]
    charts = re.findall(r'<svg xmlns="http://www.w3.org/2000/svg" width="520".*?</svg>', section)
    assert len(charts) == 2  # a curve per requirement
    assert "first degraded: n=8" in charts[0] and "first degraded" not in charts[1]
    assert charts[0].count("<circle") == len(LENGTHS)
    assert "holds up to n=4, degraded from n=8" in section

    suite = drift_suite((folder / "junit.xml").read_bytes())
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert len(cases) == 2 * len(LENGTHS) and suite.get("failures") == "3"
    failed = sorted(n for n, c in cases.items() if c.find("failure") is not None)
    assert failed == [f"R-1 holds at length {n}" for n in (16, 32, 8)]
    out = cases["R-1 holds at length 8"].findtext("system-out") or ""
    assert out.startswith("pass rate 0.0% (0.0–39.0%), 0/6 trials passed at length 8")
    failure = cases["R-1 holds at length 8"].find("failure")
    assert failure is not None and "first degraded at n=8" in str(failure.get("message"))
    assert "remember-card#1@8: turn 10 (probe)" in (failure.text or "")

    frame = pd.read_parquet(folder / "drift.parquet")
    assert len(frame) == 2 * len(LENGTHS) + 2  # R-1 also at middle and end
    assert frame["tokens"].dtype == "float64" and frame["rate"].dtype == "float64"


def test_agent_text_in_the_first_failing_turns_is_escaped_and_capped_in_every_format(
    tmp_path: Path,
) -> None:
    folder = drift_run(tmp_path, {"R-1": step([0, 8], 8)}, message=HOSTILE)
    build_reports(folder)
    md = (folder / "summary.md").read_text()
    drift = md[md.index("## Drift") : md.index("## Divergences")]
    assert "<script>" not in drift and "\\<script\\>" in drift and "\\| \\`tick\\`" in drift
    assert "\x1b" not in drift and "\u202e" not in drift and "more characters" in drift
    assert max(len(line) for line in drift.splitlines()) < 800
    html = (folder / "report.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    suite = drift_suite((folder / "junit.xml").read_bytes())  # parses: no control characters
    failure = next(c for c in suite.iter("failure"))
    assert "<script>alert(1)</script>" in (failure.text or "")  # XML-escaped on the wire
    assert len(failure.text or "") < 5000


def test_a_requirement_failing_at_the_shortest_length_fails_every_length_in_junit(
    tmp_path: Path,
) -> None:
    table = step([0, 4, 8], 99)
    table[(0, "start")] = ["P", "F", "P", "P", "P", "P"]
    folder = drift_run(tmp_path, {"R-1": table})
    reports = build_reports(folder)
    assert reports.drift is not None and not reports.drift.degraded  # no drift: no exit 1 for it
    suite = drift_suite((folder / "junit.xml").read_bytes())
    assert suite.get("tests") == "3" and suite.get("failures") == "3"
    failure = next(c for c in suite.iter("failure"))
    assert "fails at the shortest length n=0 (83.3%)" in str(failure.get("message"))
    assert "fails at the shortest length n=0" in (folder / "summary.md").read_text()


def test_a_plain_runs_reports_have_no_drift_part(tmp_path: Path) -> None:
    log = RunLog.create(tmp_path, RunManifest(suite="s"))
    log.update(status=Status.FINISHED)
    log.close()
    reports = build_reports(log.dir)
    assert reports.drift is None and reports.drift_parquet is None
    assert not (log.dir / "drift.parquet").exists()
    assert "## Drift" not in reports.markdown.read_text()
    assert 'id="drift"' not in reports.html.read_text()
    assert b".drift" not in reports.junit.read_bytes()


def test_compare_of_two_drift_runs_shows_the_first_degraded_length_before_and_after(
    tmp_path: Path,
) -> None:
    base = open_run(drift_run(tmp_path, {"R-1": step(LENGTHS, 16), "R-2": step(LENGTHS, 99)}))
    head = open_run(drift_run(tmp_path, {"R-1": step(LENGTHS, 4), "R-2": step(LENGTHS, 99)}))
    comparable(base, head)
    c = compare_runs(base, head)
    assert c.drift is not None and [d.requirement for d in c.drift.worse] == ["R-1"]
    assert "holds less far into a conversation: R-1" in c.red
    text = render_comparison(c)
    assert "| ▼ R-1 | critical | n=16 -> n=4 |" in text
    assert "n=8: 100.0% (6/6) -> 0.0% (0/6)" in text
    assert "| R-2 | critical | none -> none | holds up to n=32 | holds up to n=32 |" in text
    back = compare_runs(head, base)
    assert back.drift is not None and not back.drift.worse
    assert not any("holds less far" in r for r in back.red)


def test_a_drift_run_is_compared_only_with_another_drift_run(tmp_path: Path) -> None:
    drift = open_run(drift_run(tmp_path, {"R-1": step([0, 8], 99)}))
    log = RunLog.create(tmp_path, RunManifest(suite="s", spec_hash="h"))
    log.update(status=Status.FINISHED)
    log.close()
    plain = open_run(log.dir)
    for base, head in ((plain, drift), (drift, plain)):
        with pytest.raises(ConfigError, match="a drift run is compared with another drift run"):
            comparable(base, head)
    assert compare_runs(plain, plain).drift is None


def test_drift_runs_of_different_lengths_are_compared_only_when_forced(tmp_path: Path) -> None:
    base = open_run(drift_run(tmp_path, {"R-1": step([0, 4, 8], 99)}))
    head = open_run(drift_run(tmp_path, {"R-1": step([0, 3, 6], 99)}))
    with pytest.raises(ConfigError, match="played different lengths") as err:
        comparable(base, head)
    assert "remember-card: lengths 0,4,8" in str(err.value)
    comparable(base, head, force=True)


def test_trend_lists_drift_runs_with_their_rates_and_first_degraded_lengths(
    tmp_path: Path,
) -> None:
    drift_run(tmp_path, {"R-1": step([0, 4, 8], 99)}, started_at="2026-12-04T10:00:00+00:00")
    drift_run(tmp_path, {"R-1": step([0, 4, 8], 8)}, started_at="2026-12-05T10:00:00+00:00")
    trend = build_trend(tmp_path, "s", last=10)
    assert trend.runs == [] and len(trend.drift) == 2  # only drift runs so far
    page = render_trend(trend)
    section = page[page.index('<h2 id="drift">') :]
    rows = re.findall(r"<tr><td>R-1</td>.*?</tr>", section)
    assert len(rows) == 2
    assert "holds up to n=8" in rows[0] and "n=8: 100.0% (6/6)" in rows[0]
    assert '<span class="tag fail">n=8</span>' in rows[1] and "n=8: 0.0% (0/6)" in rows[1]
    with pytest.raises(ConfigError, match="no finished run of suite 'other'"):
        build_trend(tmp_path, "other", last=10)
