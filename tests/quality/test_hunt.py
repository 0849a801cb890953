"""`harness hunt` finds the planted hard-part and boundary defects, shrinks and saves them;
with the correct agent it finds and writes nothing; saved cases replay the same."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from harness.generate.traps import NAMES_HARD
from tests.helpers import copy_demo, environ, harness

GENERATED = ("-k", "gen-amount-formats", "-k", "gen-names", "-k", "gen-window-edge")


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """The demo suite in its own folder, so hunts write their regressions there."""
    return copy_demo(tmp_path)


def in_copy(suite: Path, *args: str, defects: str) -> subprocess.CompletedProcess[str]:
    """harness ARGS from the copy's root, its reports kept there too."""
    root = suite.parent.parent
    env = environ(
        REFUND_DESK_DEFECTS=defects,
        HARNESS_DEPS="embedded",
        HARNESS_REPORTS_DIR=str(root / "reports"),
    )
    return harness(*args, env=env, cwd=root, timeout=600)


def saved(suite: Path) -> dict[str, dict]:
    folder = suite / "regressions"
    files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    return {
        f"{d['requirement']} {d['scenario']}": d
        for d in (yaml.safe_load(f.read_text()) for f in files)
    }


def test_hunt_finds_shrinks_and_saves_the_planted_defects(suite: Path) -> None:
    hunt = in_copy(
        suite, "hunt", str(suite), "--budget", "45s", "--no-progress", *GENERATED, defects="all"
    )
    assert hunt.returncode == 1, hunt.stderr
    found = saved(suite)
    # comma decimal, shrunk to the smallest amount in the simplest failing format
    comma = found["RD-004 gen-amount-formats"]
    assert comma["vars"] == {"amount": "1.01", "written": "1,01"}
    assert comma["found"]["shrunk"] is True
    # diacritics, shrunk to the first (shortest) hard name, typed as is
    names = found["RD-005 gen-names"]
    assert names["vars"]["name"] == NAMES_HARD[0] == names["vars"]["typed"]
    # a boundary of the spec's own refund window: inside the window, yet refused
    window = found["RD-003 gen-window-edge"]
    age, shipping = int(window["vars"]["age"]), int(window["vars"]["shipping_days"])
    assert 29 <= age <= 30 and age + shipping >= 30
    assert window["evidence"]["found"] == []

    run = in_copy(suite, "run", str(suite), "--no-progress", *GENERATED, defects="all")
    assert run.returncode == 1, run.stderr
    assert f"known regressions: {len(found)} still failing, 0 now passing" in run.stderr

    rid = comma["id"]
    replay = in_copy(
        suite, "replay", f"regression:{rid}", str(suite), "--times", "3", defects="all"
    )
    assert replay.returncode == 1, replay.stderr
    assert "same verdict in 3 replays: fail" in replay.stderr
    assert "same failing checks in 3 replays" in replay.stderr
    assert replay.stderr.count("FAIL refund-recorded-exactly") == 3


def test_hunt_of_the_correct_agent_finds_and_writes_nothing(suite: Path) -> None:
    hunt = in_copy(
        suite, "hunt", str(suite), "--budget", "30s", "--no-progress", *GENERATED, defects="none"
    )
    assert hunt.returncode == 0, hunt.stderr
    assert "0 new divergence(s)" in hunt.stderr
    assert saved(suite) == {}
