"""The embedded servers' data folders: each has its owner from the moment it has its name,
and the cleanup of leftovers removes only those whose owner is known to be gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from harness.deps.manager import (
    OWNER_FILE,
    STAGING,
    STAGING_GRACE,
    make_workdir,
    sweep_stale_workdirs,
)
from harness.runlog.owner import Owner, hostname, pid_namespace


def _folder(root: Path, name: str, owner: str | None) -> Path:
    folder = root / name
    folder.mkdir()
    if owner is not None:
        (folder / OWNER_FILE).write_text(owner)
    return folder


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_data_folder_has_its_owner_from_the_moment_it_has_its_name(tmp_path: Path) -> None:
    folder = make_workdir(str(tmp_path), "run-1")
    assert folder.name.startswith("harness-run-1-") and oct(folder.stat().st_mode)[-3:] == "755"
    assert Owner.parse((folder / OWNER_FILE).read_text()) == Owner.current()
    assert list(tmp_path.iterdir()) == [folder], "no staging folder is left"
    assert sweep_stale_workdirs(str(tmp_path)) == [] and folder.is_dir()


def test_only_folders_whose_owner_is_known_gone_are_removed(tmp_path: Path) -> None:
    me = Owner.current()
    dead = Owner(pid=_dead_pid(), host=hostname(), start="1", ns=pid_namespace())
    gone = _folder(tmp_path, "harness-killed-x", dead.line())
    legacy = _folder(tmp_path, "harness-old-x", f"{dead.pid} {hostname()}")  # older files
    kept = [
        _folder(tmp_path, "harness-live-x", me.line()),
        _folder(tmp_path, "harness-unowned-x", None),  # not ours, or being removed
        _folder(tmp_path, "harness-garbled-x", "\n"),
        _folder(tmp_path, "harness-elsewhere-x", dead.model_copy(update={"host": "h2"}).line()),
        # a container sharing the folder and the host name: its pids are not ours to judge
        _folder(tmp_path, "harness-contained-x", dead.model_copy(update={"ns": "pid:[1]"}).line()),
    ]
    left = sweep_stale_workdirs(str(tmp_path))
    assert sorted(x.path for x in left) == sorted([gone, legacy])
    assert str(next(x for x in left if x.path == gone)) == (
        f"{gone}, left behind by harness process {dead.pid}, killed"
    )
    assert not gone.exists() and not legacy.exists() and all(p.is_dir() for p in kept)


def test_a_folder_being_made_is_judged_by_its_age_not_by_its_owner(tmp_path: Path) -> None:
    dead = Owner(pid=_dead_pid(), host=hostname())
    young = _folder(tmp_path, f"{STAGING}run-2-abc", dead.line())
    old = _folder(tmp_path, f"{STAGING}run-3-abc", None)
    then = time.time() - STAGING_GRACE - 1
    os.utime(old, (then, then))
    assert [(x.path, x.owner) for x in sweep_stale_workdirs(str(tmp_path))] == [(old, None)]
    assert young.is_dir() and not old.exists()


def test_an_owner_reads_back_from_its_line_and_from_older_forms() -> None:
    me = Owner.current()
    assert Owner.parse(me.line()) == me
    assert Owner.parse("12 h\n") == Owner(pid=12, host="h")
    assert Owner.parse("12 h 345\n") == Owner(pid=12, host="h", start="345")
    assert Owner.parse("12 h - pid:[9]\n") == Owner(pid=12, host="h", ns="pid:[9]")
    assert Owner.parse("") is None and Owner.parse("x h") is None and Owner.parse("12") is None
