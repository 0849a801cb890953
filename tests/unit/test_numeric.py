"""numpy loaded without OpenBLAS's thread pool (harness/numeric.py), in real processes: the
threads OpenBLAS runs with, the environment a process is left with, and where the harness
leaves numpy alone (a library caller's process, an in-process agent's, a user's count)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.numeric import THREAD_VARIABLES
from tests.helpers import ROOT

#: OpenBLAS's own thread count, asked of the library numpy loaded
OPENBLAS_THREADS = """
def openblas_threads():
    import ctypes
    paths = sorted({l.split()[-1] for l in open("/proc/self/maps") if "openblas" in l})
    lib = ctypes.CDLL(paths[0])
    for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                 "openblas_get_num_threads"):
        if hasattr(lib, name):
            return getattr(lib, name)()
    raise RuntimeError("no OpenBLAS thread count in " + paths[0])
"""

PROBE = (
    OPENBLAS_THREADS
    + """
import json, os, sys
from harness import numeric
mode = sys.argv[1]
writes = []
if mode == "numpy first":
    import numpy
    setitem = os._Environ.__setitem__
    os._Environ.__setitem__ = lambda self, k, v: (writes.append(k), setitem(self, k, v))[1]
if mode != "library":
    numeric.own_process()
if mode == "agent":  # what the python adapter does as it imports the agent's code
    from harness.agents.python import load_callable
    load_callable("json:dumps", [])
numeric.load_numpy()
loaded_by_it = "numpy" in sys.modules
import numpy
print(json.dumps({"threads": openblas_threads(), "loaded": loaded_by_it, "writes": writes,
                  "variable": os.environ.get("OPENBLAS_NUM_THREADS")}))
"""
)

CORES = os.cpu_count() or 1
pytestmark = pytest.mark.skipif(
    not os.path.exists("/proc/self/maps") or CORES < 2,
    reason="asks OpenBLAS through /proc/self/maps; on one core its pool is one thread anyway",
)


def _env(**env: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    return {**clean, **env}


def probe(mode: str, **env: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        env=_env(**env),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=ROOT,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_the_harness_own_process_loads_numpy_on_one_thread_and_leaves_no_variable() -> None:
    got = probe("owned")
    assert got == {"threads": 1, "loaded": True, "writes": [], "variable": None}


def test_without_it_openblas_would_start_a_pool() -> None:
    """What the helper exists for: a library caller's process (not the `harness` command's)
    is left as it was, and its numpy gets OpenBLAS's pool."""
    got = probe("library")
    assert got["loaded"] is False and got["variable"] is None
    assert int(str(got["threads"])) > 1


def test_an_in_process_agent_keeps_numpy_to_itself() -> None:
    got = probe("agent")
    assert got["loaded"] is False and int(str(got["threads"])) > 1


@pytest.mark.parametrize("name", ["OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"])
def test_a_thread_count_the_user_named_is_kept(name: str) -> None:
    got = probe("owned", **{name: "2"})
    assert got["threads"] == 2 and got["loaded"] is False
    assert got["variable"] == ("2" if name == "OPENBLAS_NUM_THREADS" else None)


def test_numpy_loaded_already_is_left_alone_and_the_environment_untouched() -> None:
    got = probe("numpy first")
    assert got["writes"] == [] and int(str(got["threads"])) > 1


def _demo_run(folder: Path) -> Path:
    stored = ROOT / "tests" / "snapshots" / "reports" / "demo" / "run"
    folder.mkdir()
    shutil.copy(stored / "manifest.json", folder / "manifest.json")
    with gzip.open(stored / "cases.jsonl.gz", "rb") as src:
        (folder / "cases.jsonl").write_bytes(src.read())
    return folder


@pytest.mark.parametrize("command", ["report", "compare"])
def test_the_harness_command_loads_numpy_on_one_thread(tmp_path: Path, command: str) -> None:
    """`harness report` (the reports a run writes at its end) and `harness compare` (pandas),
    each in the command's own process."""
    folder = _demo_run(tmp_path / "run")
    args = [str(folder)] if command == "report" else [str(folder), str(folder)]
    script = (
        OPENBLAS_THREADS
        + """
import atexit, sys
from harness.cli.main import main
atexit.register(lambda: print("OPENBLAS", openblas_threads(), "numpy" in sys.modules))
sys.argv = ["harness", *sys.argv[1:]]
main()
"""
    )
    out = subprocess.run(
        [sys.executable, "-c", script, command, *args],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode in (0, 1), out.stderr[-2000:]  # 1: the demo run has divergences
    assert command != "report" or (folder / "results.parquet").is_file()
    assert "OPENBLAS 1 True" in out.stdout, (out.stdout[-500:], out.stderr[-2000:])
