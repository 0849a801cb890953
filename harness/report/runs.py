"""The stored runs under a reports folder: find one, the runs of a suite, the runs of a group.

Every run, hunt and load run keeps its own folder `reports/<run-id>/` with its
manifest; that folder tree is the history that comparisons, trends and sign-offs
read. Nothing else is kept, so deleting a folder forgets a run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import ConfigError
from harness.report.frame import results_frame
from harness.run.store import CASES, MANIFEST

RESULTS_PARQUET = "results.parquet"


@dataclass(frozen=True)
class StoredRun:
    dir: Path
    manifest: dict[str, Any]

    @property
    def run_id(self) -> str:
        return self.dir.name

    @property
    def kind(self) -> str:
        return str(self.manifest.get("kind", "run"))

    @property
    def started_at(self) -> str:
        return str(self.manifest.get("started_at", ""))


def stored_runs(root: Path) -> list[StoredRun]:
    """Every run folder with a readable manifest, oldest first."""
    runs = []
    for path in root.glob(f"*/{MANIFEST}"):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a folder being written or broken: not part of the history
        if isinstance(manifest, dict):
            runs.append(StoredRun(path.parent, manifest))
    return sorted(runs, key=lambda r: (r.started_at, r.run_id))


def open_run(root: Path, run_id: str) -> StoredRun:
    """One stored run by id, or a ConfigError naming the latest ones (exit 2)."""
    path = root / run_id / MANIFEST
    if not path.is_file():
        known = [r.run_id for r in stored_runs(root) if r.kind == "run"]
        raise ConfigError(
            f"no run {run_id!r} under {root}",
            hint=f"latest runs there: {', '.join(known[-5:]) or 'none'} "
            "(--reports-dir or HARNESS_REPORTS_DIR choose another folder)",
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(
            f"{path}: the manifest is not valid JSON ({exc})",
            hint="the run folder is damaged; use another run",
        ) from None
    return StoredRun(path.parent, manifest)


def suite_runs(root: Path, suite: str, last: int | None = None) -> list[StoredRun]:
    """The finished runs of one suite (not hunts, replays or load runs), oldest first."""
    finished = [
        r
        for r in stored_runs(root)
        if r.kind == "run"
        and r.manifest.get("suite") == suite
        and r.manifest.get("status") == "finished"
    ]
    return finished[-last:] if last else finished


def group_runs(root: Path, run: StoredRun, also: tuple[str, ...] = ()) -> list[StoredRun]:
    """The hunt and load runs that belong with a run: those of its --group, and any named."""
    group = run.manifest.get("group")
    out = [
        r
        for r in stored_runs(root)
        if group and r.manifest.get("group") == group and r.run_id != run.run_id
        if r.kind in ("hunt", "load")
    ]
    for run_id in also:
        extra = open_run(root, run_id)
        if extra.run_id not in {r.run_id for r in out}:
            out.append(extra)
    return out


def run_frame(run: StoredRun) -> pd.DataFrame:
    """A run's results, one row per case x check: from its cases.jsonl (the source of
    truth), or from results.parquet when only that was kept (e.g. a CI artifact)."""
    if not (run.dir / CASES).is_file() and (run.dir / RESULTS_PARQUET).is_file():
        return pd.read_parquet(run.dir / RESULTS_PARQUET)
    return results_frame(run.dir, run.manifest)
