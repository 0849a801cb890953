"""The stored runs under a reports folder: find one, the runs of a suite, the runs of a group.

Every run, hunt and load run keeps its own folder `reports/<run-id>/` with its
manifest; that folder tree is the history that comparisons, trends and sign-offs
read. Nothing else is kept, so deleting a folder forgets a run.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import ConfigError
from harness.report.frame import results_frame
from harness.run.store import CASES, MANIFEST

RESULTS_PARQUET = "results.parquet"
KILLED = "killed (did not finish)"


def run_status(manifest: dict[str, Any]) -> str:
    """The run's status, except that a run still marked running whose harness process is
    gone (killed, or the machine went down) is called what it is: killed."""
    status = str(manifest.get("status") or "unknown")
    pid, host = manifest.get("pid"), manifest.get("host")
    if status != "running" or not isinstance(pid, int) or host != socket.gethostname():
        return status  # an older run without a pid, or one on another machine: cannot tell
    return status if _harness_alive(pid) else KILLED


def _harness_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    try:  # a pid the system gave to another program since is not the run
        return b"harness" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: the pid is alive, assume it is the run


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
    def described(self) -> str:
        """What made it, in words: "a suite run (harness run)", "a load run (harness load)"."""
        return f"a {'suite' if self.kind == 'run' else self.kind} run (harness {self.kind})"

    @property
    def started_at(self) -> str:
        return str(self.manifest.get("started_at", ""))

    @property
    def status(self) -> str:
        return run_status(self.manifest)

    @property
    def suite(self) -> str:
        return str(self.manifest.get("suite", ""))


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


GROUPED = ("hunt", "load")


def group_runs(root: Path, run: StoredRun, also: tuple[str, ...] = ()) -> list[StoredRun]:
    """The hunt and load runs that belong with a run: those of its --group and its suite,
    and any named with --with, which must be a hunt or load run of the same suite."""
    group = run.manifest.get("group")
    out = [
        r
        for r in stored_runs(root)
        if group and r.manifest.get("group") == group and r.run_id != run.run_id
        if r.kind in GROUPED and r.suite == run.suite
    ]
    for run_id in also:
        extra = open_run(root, run_id)
        if extra.kind not in GROUPED:
            raise ConfigError(
                f"--with {run_id}: it is {extra.described}; --with adds a hunt or load run",
                hint=f"pass the id of a harness hunt or harness load run of suite {run.suite}",
            )
        if extra.suite != run.suite:
            raise ConfigError(
                f"--with {run_id}: it is {extra.described} of suite {extra.suite!r}, not of "
                f"{run.suite!r}, the suite of run {run.run_id}",
                hint=f"pass a hunt or load run of suite {run.suite}",
            )
        if extra.run_id not in {r.run_id for r in out}:
            out.append(extra)
    return out


def run_frame(run: StoredRun) -> pd.DataFrame:
    """A run's results, one row per case x check: from its cases.jsonl (the source of
    truth), or from results.parquet when only that was kept (e.g. a CI artifact)."""
    if not (run.dir / CASES).is_file() and (run.dir / RESULTS_PARQUET).is_file():
        return pd.read_parquet(run.dir / RESULTS_PARQUET)
    return results_frame(run.dir, run.manifest)
