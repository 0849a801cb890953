"""Every report of a run, written from its stored records (also for killed or partial runs)."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.numeric import load_numpy
from harness.report.collect import collect
from harness.report.html import render_html
from harness.report.junit import render_junit
from harness.report.markdown import render_markdown
from harness.report.reliabilityframe import save_reliability
from harness.report.view import ReportView, build_view
from harness.runlog.frame import results_rows, save_parquet, save_results
from harness.runlog.read import open_run

if TYPE_CHECKING:  # a load's, a drift's and a faulted run's parts: imported when they ran
    from harness.report.drift import DriftSummary
    from harness.report.faults import FaultsSummary
    from harness.report.load import LoadSummary

RELIABILITY_PARQUET = "reliability.parquet"
LOAD_PARQUET = "load.parquet"
DRIFT_PARQUET = "drift.parquet"
FAULTS_PARQUET = "faults.parquet"


@dataclass
class Reports:
    view: ReportView
    parquet: Path
    markdown: Path
    html: Path
    junit: Path
    reliability: Path | None = None  # reliability.parquet: pass@1, pass^k, flaky cases
    load: LoadSummary | None = None  # a load run's windows, levels and degradation
    load_parquet: Path | None = None
    drift: DriftSummary | None = None  # a drift run's curves and first degraded lengths
    drift_parquet: Path | None = None
    faults: FaultsSummary | None = None  # a faulted run's R_fault per requirement, its faults
    faults_parquet: Path | None = None

    def paths(self) -> dict[str, Path]:
        paths = {
            "markdown": self.markdown,
            "html": self.html,
            "junit": self.junit,
            "parquet": self.parquet,
        }
        if self.reliability is not None:
            paths["reliability"] = self.reliability
        if self.load_parquet is not None:
            paths["load"] = self.load_parquet
        if self.drift_parquet is not None:
            paths["drift"] = self.drift_parquet
        if self.faults_parquet is not None:
            paths["faults"] = self.faults_parquet
        return paths


def build_reports(run_dir: Path, *, keep: bool = False) -> Reports:
    """Every report of the run; `keep`: those already there are left as they are and only the
    missing ones written (a finished run's, written when it finished).

    The garbage collector is paused meanwhile: the reports make a few million small objects
    (rows, evidence, XML elements) and no cycles to free, and each full collection walks all
    of them (a quarter of a 10,000-case run's reports)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        load_numpy()  # for pyarrow: OpenBLAS on one thread (harness/numeric.py)
        return _build(run_dir, keep)
    finally:
        if enabled:
            gc.enable()


def _build(run_dir: Path, keep: bool) -> Reports:
    run = open_run(run_dir)
    manifest = run.manifest

    def missing(path: Path) -> bool:
        return not (keep and path.is_file())

    parquet = run_dir / "results.parquet"
    # one record at a time: results.parquet written in batches on the way, passing rows kept
    # without their evidence (a 100,000-case run's records held at once took 390 MB)
    collected = collect(run, parquet if missing(parquet) else None)
    load = drift = faults = None
    if collected is not None:
        view = build_view(collected.rows, manifest, collected.tally)
        rows, faults = collected.rows, collected.faults(manifest)
    else:  # a load, drift or faulted run, or a key written again: every record at once
        from harness.report.drift import summarize_drift
        from harness.report.faults import summarize_faults
        from harness.report.load import summarize

        records = run.records()
        rows = results_rows(records, manifest)  # plain rows: no pandas on a run's path
        view = build_view(rows, manifest)
        load = summarize(run, records)
        drift = summarize_drift(run, records)
        faults = summarize_faults(run, records)
        del records
        if missing(parquet):
            save_results(rows, parquet)
    markdown = run_dir / "summary.md"
    if missing(markdown):
        markdown.write_text(render_markdown(view, load, drift, faults), encoding="utf-8")
    html = run_dir / "report.html"
    if missing(html):
        html.write_text(render_html(view, load, drift, faults), encoding="utf-8")
    junit = run_dir / "junit.xml"
    if missing(junit):
        junit.write_bytes(render_junit(rows, manifest, load, drift, faults))
    reliability = None
    if view.reliability is not None:
        reliability = run_dir / RELIABILITY_PARQUET
        if missing(reliability):
            save_reliability(view.reliability, manifest, reliability)
    load_parquet = None
    if load:
        load_parquet = run_dir / LOAD_PARQUET
        if missing(load_parquet):
            from harness.report.loadframe import load_frame

            save_parquet(load_frame(load), load_parquet)
    drift_parquet = None
    if drift is not None:
        drift_parquet = run_dir / DRIFT_PARQUET
        if missing(drift_parquet):
            from harness.report.driftframe import drift_frame

            save_parquet(drift_frame(drift), drift_parquet)
    faults_parquet = None
    if faults is not None:
        faults_parquet = run_dir / FAULTS_PARQUET
        if missing(faults_parquet):
            from harness.report.faultframe import save_faults

            save_faults(faults, faults_parquet)
    return Reports(
        view, parquet, markdown, html, junit, reliability, load, load_parquet, drift,
        drift_parquet, faults, faults_parquet,
    )  # fmt: skip
