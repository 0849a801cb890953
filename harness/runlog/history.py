"""The stored runs under a reports folder: find one, the runs of a suite, the runs of a group.

Every run, hunt, replay and load run keeps its own folder `reports/<run-id>/`; that folder
tree is the history that comparisons, trends and sign-offs read. Nothing else is kept, so
deleting a folder forgets a run.
"""

from __future__ import annotations

from pathlib import Path

from harness.core.events import Status
from harness.errors import ConfigError
from harness.runlog.models import RunManifest
from harness.runlog.read import KILLED as KILLED
from harness.runlog.read import MANIFEST, RunFolder, parse_manifest, read_manifest
from harness.runlog.read import run_status as run_status

GROUPED = ("hunt", "load", "drift")


def faulted(run: RunFolder) -> bool:
    """A suite run with a fault profile (harness run --faults NAME): it joins its group's
    sign-off (the faults gate) as hunt, load and drift runs do."""
    m = run.manifest
    return isinstance(m, RunManifest) and m.kind == "run" and bool(m.fault_profile)


def stored_runs(root: Path) -> list[RunFolder]:
    """Every run folder with a readable manifest, oldest first."""
    runs = []
    for path in root.glob(f"*/{MANIFEST}"):
        try:
            manifest = parse_manifest(path.read_bytes())
        except (OSError, ValueError):
            continue  # a folder being written or broken: not part of the history
        runs.append(RunFolder(path.parent, manifest))
    return sorted(runs, key=lambda r: (r.started_at, r.run_id))


def find_run(root: Path, run_id: str) -> RunFolder:
    """One stored run by id, or a ConfigError naming the latest ones (exit 2)."""
    path = root / run_id / MANIFEST
    if not path.is_file():
        known = [r.run_id for r in stored_runs(root) if r.kind == "run"]
        raise ConfigError(
            f"no run {run_id!r} under {root}",
            hint=f"latest runs there: {', '.join(known[-5:]) or 'none'} "
            "(--reports-dir or HARNESS_REPORTS_DIR choose another folder)",
        )
    return RunFolder(path.parent, read_manifest(path.parent))


def suite_runs(root: Path, suite: str, last: int | None = None) -> list[RunFolder]:
    """The finished runs of one suite (not hunts, replays or load runs), oldest first."""
    finished = [
        r
        for r in stored_runs(root)
        if r.kind == "run" and r.suite == suite and r.manifest.status == Status.FINISHED
    ]
    return finished[-last:] if last else finished


def group_runs(root: Path, run: RunFolder, also: tuple[str, ...] = ()) -> list[RunFolder]:
    """The hunt, load and drift runs that belong with a run: those of its --group and its
    suite, and any named with --with, which must be one of those kinds of the same suite."""
    group = run.manifest.group
    out = [
        r
        for r in stored_runs(root)
        if group and r.manifest.group == group and r.run_id != run.run_id
        if (r.kind in GROUPED or faulted(r)) and r.suite == run.suite
    ]
    for run_id in also:
        extra = find_run(root, run_id)
        if extra.kind not in GROUPED and not faulted(extra):
            raise ConfigError(
                f"--with {run_id}: it is {extra.described}; --with adds a hunt, load or drift "
                "run, or a run with --faults",
                hint=f"pass the id of a harness hunt, load or drift run, or of a harness run "
                f"--faults NAME, of suite {run.suite}",
            )
        if extra.suite != run.suite:
            raise ConfigError(
                f"--with {run_id}: it is {extra.described} of suite {extra.suite!r}, not of "
                f"{run.suite!r}, the suite of run {run.run_id}",
                hint=f"pass a hunt, load or drift run of suite {run.suite}",
            )
        if extra.run_id not in {r.run_id for r in out}:
            out.append(extra)
    return out
