"""A load run's time to first byte: p50/p95 per level and per window over the turns that
recorded one, in load.parquet, and a "p95 first byte ms" column in the Markdown and HTML
tables only when some turn of the run recorded one."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from harness.report.build import LOAD_PARQUET, build_reports
from harness.report.load import summarize
from harness.runlog.read import open_run
from tests.helpers import write_load_run

COLUMN = "p95 first byte ms"


def record(n: int, users: int, start: float, first_byte: float | None) -> dict[str, Any]:
    """A judged conversation of two turns; only the first may have a time to first byte."""
    return {
        "v": 2,
        "type": "trial",
        "key": f"s#{n}@1",
        "case": {"id": f"s#{n}", "scenario": "s", "index": n, "seed": n},
        "trial": 1,
        "observation": {
            "session_id": f"h-{n}",
            "turns": [
                {
                    "index": 1,
                    "text": "hi",
                    "reply": "ok",
                    "latency_ms": 100.0,
                    "first_byte_ms": first_byte,
                },
                {"index": 2, "text": "again", "reply": "ok", "latency_ms": 100.0},
            ],
        },
        "checks": [
            {
                "check_id": "c",
                "check_type": "contains",
                "category": "output",
                "requirements": ["T-001"],
                "verdict": "pass",
            }
        ],
        "load": {
            "users": users,
            "active": users,
            "window": int(start),
            "start": start,
            "at": [start, start + 0.05],
        },
    }


def streamed(tmp_path: Path) -> Path:
    """2 users: first bytes 8 and 12 ms (window 0); 10 users: 10, 20, 30, 40 ms (window 2),
    and one conversation whose reply was not streamed."""
    records = [record(1, 2, 0.1, 8.0), record(2, 2, 0.5, 12.0)]
    records += [record(10 + i, 10, 2.1 + 0.1 * i, fb) for i, fb in enumerate([10, 20, 30, 40])]
    records.append(record(20, 10, 2.9, None))
    return write_load_run(tmp_path, records)


def tables_of(markdown: str) -> list[list[str]]:
    """The Markdown tables in a text, each as its lines."""
    tables: list[list[str]] = []
    previous = False
    for line in markdown.splitlines():
        row = line.startswith("|")
        if row and not previous:
            tables.append([])
        if row:
            tables[-1].append(line)
        previous = row
    return tables


def test_first_byte_per_level_and_window(tmp_path: Path) -> None:
    s = summarize(open_run(streamed(tmp_path)))
    assert s is not None and s.has_first_byte
    low, peak = s.levels
    assert (low.first_byte(0.5), low.first_byte(0.95)) == (10.0, 11.8)
    assert (peak.first_byte(0.5), peak.first_byte(0.95)) == (25.0, 38.5)
    assert peak.requests == 10 and len(peak.first_bytes) == 4  # only the turns that had one
    by_window = {w.key: w for w in s.windows}
    assert by_window[2].first_byte(0.5) == 25.0


def test_load_parquet_and_both_tables_show_it(tmp_path: Path) -> None:
    run = streamed(tmp_path)
    build_reports(run)
    frame = pd.read_parquet(run / LOAD_PARQUET)
    level = frame[(frame["kind"] == "level") & (frame["requirement"] == "*")]
    assert list(level["ttfb_p50_ms"]) == [10.0, 25.0] and list(level["ttfb_p95_ms"]) == [11.8, 38.5]
    window = frame[(frame["kind"] == "window") & (frame["requirement"] == "*")]
    assert list(window["window"]) == [0, 2] and list(window["ttfb_p95_ms"]) == [11.8, 38.5]

    md = (run / "summary.md").read_text()
    tables = [line for line in md.splitlines() if line.startswith("|")]
    header = next(line for line in tables if line.startswith("| users | conversations"))
    assert f"| p99 ms | {COLUMN} | error rate |" in header
    assert any(line.startswith("| 10 | 5 | 100.0% |") and "| 100 | 38 | 0.0% |" in line
               for line in tables)  # fmt: skip
    by_window = next(line for line in tables if line.startswith("| window |"))
    assert f"| {COLUMN} |" in by_window
    section = md[md.index("## Load") :]
    for table in tables_of(section):  # every row has as many cells as its header
        assert len({line.count("|") for line in table}) == 1, table

    html = (run / "report.html").read_text()
    assert html.count(f"<th>{COLUMN}</th>") == 2
    assert '<td class="num">38</td><td class="num">0.0%</td>' in html


def test_no_first_byte_no_column(tmp_path: Path) -> None:
    records = [record(1, 2, 0.1, None), record(2, 10, 2.5, None)]
    run = write_load_run(tmp_path, records)
    reports = build_reports(run)
    assert reports.load is not None and not reports.load.has_first_byte
    assert COLUMN not in (run / "summary.md").read_text()
    assert COLUMN not in (run / "report.html").read_text()
    frame = pd.read_parquet(run / LOAD_PARQUET)
    assert all(math.isnan(v) for v in frame["ttfb_p95_ms"])
