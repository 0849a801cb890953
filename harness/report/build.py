"""Every report of a run, written from its stored records (also for killed or partial runs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.report.frame import load_manifest, results_frame, save_parquet
from harness.report.html import render_html
from harness.report.junit import render_junit
from harness.report.markdown import render_markdown
from harness.report.reliability import reliability_frame
from harness.report.view import ReportView, build_view

RELIABILITY_PARQUET = "reliability.parquet"


@dataclass
class Reports:
    view: ReportView
    parquet: Path
    markdown: Path
    html: Path
    junit: Path
    reliability: Path | None = None  # reliability.parquet: pass@1, pass^k, flaky cases

    def paths(self) -> dict[str, Path]:
        paths = {
            "markdown": self.markdown,
            "html": self.html,
            "junit": self.junit,
            "parquet": self.parquet,
        }
        if self.reliability is not None:
            paths["reliability"] = self.reliability
        return paths


def build_reports(run_dir: Path) -> Reports:
    manifest = load_manifest(run_dir)
    frame = results_frame(run_dir, manifest)
    view = build_view(frame, manifest)
    parquet = save_parquet(frame, run_dir / "results.parquet")
    markdown = run_dir / "summary.md"
    markdown.write_text(render_markdown(view), encoding="utf-8")
    html = run_dir / "report.html"
    html.write_text(render_html(view), encoding="utf-8")
    junit = run_dir / "junit.xml"
    junit.write_bytes(render_junit(frame, manifest))
    reliability = None
    if view.reliability is not None:
        reliability = save_parquet(
            reliability_frame(view.reliability, manifest), run_dir / RELIABILITY_PARQUET
        )
    return Reports(view, parquet, markdown, html, junit, reliability)
