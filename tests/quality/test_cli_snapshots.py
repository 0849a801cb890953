"""What `harness run` prints at the end of the demo, as a user sees it: the table per
requirement and the verdict line, compared with snapshots (times, ids and paths left out).

A change to these lines is a change users see: update the snapshot on purpose with
HARNESS_UPDATE_SNAPSHOTS=1 and say why in the commit."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.helpers import ROOT, environ, harness

SNAPSHOTS = ROOT / "tests" / "snapshots"
VOLATILE = re.compile(
    r"ready in|healthy in|loaded in|results:|via |harness run \d|run id|^\s+(markdown|html|junit"
    r"|parquet|reliability|faults)\s"
)
#: a measured time inside a line that is kept (a recovery's): the words stay, the number goes
TIMES = re.compile(r"\d+ ms")


def stable(line: str) -> str:
    return TIMES.sub("N ms", line.rstrip())


def summary(stderr: str) -> str:
    """From the per-requirement table on, the lines that do not change from run to run."""
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Pass rate per requirement"))
    return "\n".join(stable(line) for line in lines[start:] if not VOLATILE.search(line)) + "\n"


@pytest.mark.parametrize(("defects", "code"), [("all", 1), ("none", 0)])
def test_the_demo_summary_reads_as_the_snapshot(tmp_path: Path, defects: str, code: int) -> None:
    done = harness(
        "run", "--reports-dir", str(tmp_path), "--no-progress",
        env=environ(REFUND_DESK_DEFECTS=defects, COLUMNS="140"),
    )  # fmt: skip
    assert done.returncode == code, done.stderr
    got = summary(done.stderr)
    path = SNAPSHOTS / f"demo-summary-{defects}.txt"
    if os.environ.get("HARNESS_UPDATE_SNAPSHOTS") == "1":
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8"), "set HARNESS_UPDATE_SNAPSHOTS=1 to accept"
