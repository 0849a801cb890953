"""The demo's reports, pinned: Markdown, JUnit, the HTML and the parquet tables built from two
recorded demo runs (`harness run scenarios/refund_desk` with its default defects, and the same
with `--trials 3`) are compared with snapshots, so that a change in how the reports are built
(issue 16: without pandas) keeps every verdict, number and piece of evidence.

The run folders (manifest.json and cases.jsonl, gzipped) are stored under
tests/snapshots/reports/<name>/run; the reports are rebuilt from a copy of them, so only the
HTML's random script nonce changes from build to build. A change to the reports is a change
users see: update the snapshots on purpose with HARNESS_UPDATE_SNAPSHOTS=1 and say why in the
commit."""

from __future__ import annotations

import difflib
import gzip
import json
import os
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness.report.build import build_reports
from tests.helpers import ROOT

SNAPSHOTS = ROOT / "tests" / "snapshots" / "reports"
NONCE = re.compile(r"nonce-[A-Za-z0-9_-]+|nonce=\"[A-Za-z0-9_-]+\"")


def _run_folder(name: str, tmp_path: Path) -> Path:
    stored = SNAPSHOTS / name / "run"
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(stored / "manifest.json", folder / "manifest.json")
    with gzip.open(stored / "cases.jsonl.gz", "rb") as src:
        (folder / "cases.jsonl").write_bytes(src.read())
    return folder


def _table(path: Path) -> str:
    """A parquet file as text: its columns and types (not the writer's own metadata), then
    each row as JSON."""
    table = pq.read_table(path)
    schema = [f"{f.name}: {f.type}" for f in table.schema]
    rows = [json.dumps(row, sort_keys=True, default=str) for row in table.to_pylist()]
    return "\n".join([*schema, "", *rows]) + "\n"


def _compare(got: str, path: Path) -> None:
    if os.environ.get("HARNESS_UPDATE_SNAPSHOTS") == "1":
        with gzip.open(path, "wt", encoding="utf-8") as out:
            out.write(got)
    with gzip.open(path, "rt", encoding="utf-8") as stored:
        want = stored.read()
    if got != want:
        diff = difflib.unified_diff(
            want.splitlines(), got.splitlines(), "snapshot", "now", n=1, lineterm=""
        )
        shown = "\n".join(line[:300] for line in list(diff)[:40])
        pytest.fail(f"{path.name} differs (HARNESS_UPDATE_SNAPSHOTS=1 accepts):\n{shown}")


@pytest.mark.parametrize("name", ["demo", "demo3"])
def test_the_demo_reports_read_as_the_snapshots(tmp_path: Path, name: str) -> None:
    folder = _run_folder(name, tmp_path)
    build_reports(folder)
    texts = {
        "summary.md": (folder / "summary.md").read_text(encoding="utf-8"),
        "junit.xml": (folder / "junit.xml").read_text(encoding="utf-8"),
        "report.html": NONCE.sub("nonce-N", (folder / "report.html").read_text(encoding="utf-8")),
    }
    for table in ("results.parquet", "reliability.parquet", "faults.parquet"):
        texts[table] = _table(folder / table)
    for file, got in texts.items():
        _compare(got, SNAPSHOTS / name / f"{file}.gz")


def test_a_pandas_frame_of_the_results_reads_as_their_rows(tmp_path: Path) -> None:
    """`harness compare`, `trend` and `signoff` (and users) pass `RunFolder.frame()`, a pandas
    frame whose missing texts are NaN: the same reports as from the rows a run builds."""
    from harness.report.junit import render_junit
    from harness.report.markdown import render_markdown
    from harness.report.view import build_view
    from harness.runlog.frame import read_parquet, results_rows
    from harness.runlog.read import open_run

    folder = _run_folder("demo3", tmp_path)
    build_reports(folder)
    run = open_run(folder)
    rows = results_rows(run.records(), run.manifest)
    for frame in (run.frame(), read_parquet(folder / "results.parquet")):
        assert render_junit(frame, run.manifest) == render_junit(rows, run.manifest)
        got = render_markdown(build_view(frame, run.manifest), None, None, None)
        assert got == render_markdown(build_view(rows, run.manifest), None, None, None)
