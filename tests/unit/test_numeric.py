"""numpy loaded without OpenBLAS's thread pool (harness/numeric.py), in real processes: the
threads a process has before and after, and the environment it is left with."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.numeric import THREAD_VARIABLES

PROBE = """
import json, os, sys
before = len(os.listdir("/proc/self/task"))
if sys.argv[1] == "numpy first":
    import numpy
    before = len(os.listdir("/proc/self/task"))
if sys.argv[1] == "plain":
    import numpy
else:
    from harness.numeric import load_numpy
    load_numpy()
    import numpy
print(json.dumps({"added": len(os.listdir("/proc/self/task")) - before,
                  "variable": os.environ.get("OPENBLAS_NUM_THREADS")}))
"""

pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc/self/task") or (os.cpu_count() or 1) < 2,
    reason="counts a process's threads in /proc; OpenBLAS starts none on one core",
)


def probe(mode: str, **env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_plain_numpy_starts_openblas_threads() -> None:
    """What the helper exists for: a plain import adds a thread per further core."""
    assert probe("plain")["added"] >= 1


def test_load_numpy_starts_no_thread_and_leaves_the_environment_as_it_was() -> None:
    assert probe("helper") == {"added": 0, "variable": None}


def test_a_thread_count_the_user_named_is_kept() -> None:
    assert probe("helper", OPENBLAS_NUM_THREADS="2") == {"added": 1, "variable": "2"}
    assert probe("helper", OMP_NUM_THREADS="2")["added"] == 1


def test_numpy_loaded_already_is_left_alone() -> None:
    assert probe("numpy first") == {"added": 0, "variable": None}
