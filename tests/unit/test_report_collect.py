"""A run's reports read its records one at a time (report/collect.py): results.parquet
written in batches reads as written at once, and the reports from the rows kept (passing rows
without their evidence, the traffic counted on the way) read as from every full row. The
demo's recorded run (tests/snapshots/reports/demo3: 3 trials, a scenario with fault windows)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness.report import collect as collect_module
from harness.report.build import build_reports
from harness.report.collect import collect
from harness.report.faults import summarize_faults
from harness.report.junit import render_junit
from harness.report.markdown import render_markdown
from harness.report.view import build_view
from harness.runlog.frame import JSON_COLUMNS, results_rows, save_results
from harness.runlog.read import open_run
from tests.helpers import ROOT

STORED = ROOT / "tests" / "snapshots" / "reports" / "demo3" / "run"


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "demo3"
    folder.mkdir()
    shutil.copy(STORED / "manifest.json", folder / "manifest.json")
    with gzip.open(STORED / "cases.jsonl.gz", "rb") as src:
        (folder / "cases.jsonl").write_bytes(src.read())
    return folder


def test_reports_from_one_record_at_a_time_read_as_from_every_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collect_module, "BATCH", 50)  # many row groups
    run = open_run(_folder(tmp_path))
    manifest = run.manifest
    got = collect(run, tmp_path / "batched.parquet")
    assert got is not None and got.faulted  # the scenario's fault windows, kept whole
    rows = results_rows(run.records(), manifest)
    save_results(rows, tmp_path / "whole.parquet")
    batched = pq.ParquetFile(tmp_path / "batched.parquet")
    assert batched.num_row_groups > 1
    assert batched.read().equals(pq.read_table(tmp_path / "whole.parquet"))

    assert len(got.rows) == len(rows)
    bare = [r for r in got.rows if "turns" not in r]
    assert bare and all(r["verdict"] == "pass" for r in bare)
    assert all(set(r) >= set(JSON_COLUMNS) for r in got.rows if r["verdict"] != "pass")
    faults = summarize_faults(run)
    assert faults is not None
    assert got.faults(manifest) == faults
    view = build_view(got.rows, manifest, got.tally)
    assert view.traffic is not None and view.traffic == build_view(rows, manifest).traffic
    assert render_markdown(view, None, None, faults) == render_markdown(
        build_view(rows, manifest), None, None, faults
    )
    assert render_junit(got.rows, manifest) == render_junit(rows, manifest)


def test_a_key_written_again_reads_every_record(tmp_path: Path) -> None:
    """Readers keep the last record of a key in the first one's place: such a folder is read
    whole, and its results hold each key once."""
    folder = _folder(tmp_path)
    lines = (folder / "cases.jsonl").read_bytes().splitlines(keepends=True)
    (folder / "cases.jsonl").write_bytes(b"".join([*lines, lines[0]]))
    run = open_run(folder)
    assert collect(run, None) is None
    build_reports(folder)
    table = pq.read_table(folder / "results.parquet")
    assert table.num_rows == len(results_rows(run.records(), run.manifest))
