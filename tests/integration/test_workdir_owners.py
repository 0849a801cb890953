"""Two runs' embedded servers side by side: neither run's cleanup of leftovers removes the
other's data folder while that run is alive.

Each run is a real process with a real Redis server (DependencySet over the embedded
provider), both keeping their folders in one root as every run does in /dev/shm. The second
run may live in a PID namespace of its own, as a container sharing /dev/shm and the host
name does (two containers of one pod): the pid an owner file records means nothing there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.deps import binaries
from harness.errors import DependencyError
from tests.helpers import ROOT, python_agent

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

#: one run: its dependencies up, then the cleanup of leftovers swept again and again while
#: the other run is up too; the folder it kept and what its sweeps removed are printed
WORKER = """\
import asyncio, json, sys, time
from pathlib import Path

from harness.deps.embedded import EmbeddedProvider
from harness.deps.manager import DependencySet, scratch_root, sweep_stale_workdirs
from harness.redact import Redactor
from harness.spec.suite import load_suite

suite_path, run_id, signals = sys.argv[1], sys.argv[2], Path(sys.argv[3])


def wait_for(name):
    deadline = time.monotonic() + 60
    while not (signals / name).exists():
        assert time.monotonic() < deadline, name
        time.sleep(0.02)


async def main():
    notes = []
    deps = DependencySet(
        load_suite(suite_path), EmbeddedProvider(), run_id=run_id, emit=notes.append,
        redactor=Redactor(),
    )
    async with deps:
        print(json.dumps({"workdir": str(deps.workdir)}), flush=True)
        wait_for("go")
        removed = []
        for _ in range(20):
            removed += [str(p) for p in sweep_stale_workdirs(scratch_root())]
            assert deps.workdir.is_dir(), "my own folder was removed while I run"
            time.sleep(0.01)
        print(json.dumps({"removed": removed, "notes": [str(n) for n in notes]}), flush=True)
        wait_for("stop")


asyncio.run(main())
"""


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = ["unshare", "--pid", "--fork", "--mount-proc", "true"]
    return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0


@pytest.fixture
def root() -> Iterator[Path]:
    """The runs' shared scratch root; mode 755 so that unprivileged server users enter it."""
    path = Path(tempfile.mkdtemp(prefix="workdir-owners-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("second", ["same pid namespace", "own pid namespace"])
def test_two_runs_never_remove_each_others_data_folder(
    make_suite: Callable[..., Path], tmp_path: Path, root: Path, second: str
) -> None:
    try:
        binaries.find_redis()
    except DependencyError as exc:
        pytest.skip(f"no Redis server here: {exc}")
    prefix: list[str] = []
    if second == "own pid namespace":
        if not _can_unshare():
            pytest.skip("cannot make a PID namespace here (needs unshare and privileges)")
        prefix = ["unshare", "--pid", "--fork", "--mount-proc"]
    suite = make_suite(python_agent("echo"))
    text = (suite / "suite.yaml").read_text()
    deps = "environment:\n  dependencies:\n    cache: {kind: redis}\n"
    (suite / "suite.yaml").write_text(text.replace("environment:\n", deps, 1))
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    signals = tmp_path / "signals"
    signals.mkdir()
    env = {**os.environ, "HARNESS_WORKDIR": str(root), "PYTHONPATH": str(ROOT)}

    def start(run_id: str, before: list[str]) -> subprocess.Popen[str]:
        argv = [*before, sys.executable, str(script), str(suite), run_id, str(signals)]
        return subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
        )

    runs = [start("run-a", []), start("run-b", prefix)]  # started at once: starts overlap
    try:
        folders = [_line(run)["workdir"] for run in runs]
        (signals / "go").touch()  # both are up: every sweep now sees the other's folder
        reports = [_line(run) for run in runs]
        for folder in folders:
            assert Path(folder).is_dir(), f"{folder} was removed while its run was alive"
        for report, other in zip(reports, reversed(folders), strict=True):
            assert report["removed"] == [], report
            assert not any(other in note for note in report["notes"]), report
    finally:
        (signals / "stop").touch()
        outcomes = [run.communicate(timeout=60) for run in runs]
    for run, (_, err) in zip(runs, outcomes, strict=True):
        assert run.returncode == 0, err
    assert list(root.iterdir()) == [], "each run removes its own folder when it ends"


def _line(run: subprocess.Popen[str]) -> dict[str, object]:
    """The worker's next line of JSON (its stderr when it ended instead)."""
    assert run.stdout is not None
    deadline = time.monotonic() + 60
    line = run.stdout.readline()
    if not line:
        _, err = run.communicate(timeout=max(1, deadline - time.monotonic()))
        raise AssertionError(f"the run ended: {err}")
    data: dict[str, object] = json.loads(line)
    return data
