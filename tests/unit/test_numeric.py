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


def _python(script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`script` in a Python process of its own, the thread variables only as given."""
    clean = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def probe(mode: str, **env: str) -> dict[str, object]:
    out = _python(PROBE, mode, **env)
    assert out.returncode == 0, out.stderr[-2000:]
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


def _demo_run(reports: Path) -> Path:
    """The demo's stored run (tests/snapshots), in `reports` under its run id."""
    stored = ROOT / "tests" / "snapshots" / "reports" / "demo" / "run"
    folder = reports / json.loads((stored / "manifest.json").read_text())["run_id"]
    folder.mkdir(parents=True)
    shutil.copy(stored / "manifest.json", folder / "manifest.json")
    with gzip.open(stored / "cases.jsonl.gz", "rb") as src:
        (folder / "cases.jsonl").write_bytes(src.read())
    return folder


def _command(args: list[str]) -> subprocess.CompletedProcess[str]:
    """`harness ARGS` in a process of its own (cli/main.py's `main`); at its exit, a line
    "OPENBLAS <threads> <numpy loaded>"."""
    script = (
        OPENBLAS_THREADS
        + """
import atexit, sys
atexit.register(lambda: print("OPENBLAS", openblas_threads() if "numpy" in sys.modules
                              else "-", "numpy" in sys.modules))
from harness.cli.main import main
sys.argv = ["harness", *sys.argv[1:]]
main()
"""
    )
    return _python(script, *args)


@pytest.mark.parametrize("command", ["report", "compare", "trend"])
def test_the_harness_command_loads_numpy_on_one_thread(tmp_path: Path, command: str) -> None:
    """`harness report` (the reports a run writes at its end), `harness compare` and `harness
    trend` (pandas), each in the command's own process."""
    folder = _demo_run(tmp_path / "reports")
    args = {
        "report": [str(folder)],
        "compare": [str(folder), str(folder)],
        "trend": ["refund_desk", "--reports-dir", str(folder.parent)],
    }[command]
    out = _command([command, *args])
    assert out.returncode in (0, 1), out.stderr[-2000:]  # 1: the demo run has divergences
    assert command != "report" or (folder / "results.parquet").is_file()
    assert "OPENBLAS 1 True" in out.stdout, (out.stdout[-500:], out.stderr[-2000:])


def test_a_sign_off_loads_no_numpy(tmp_path: Path) -> None:
    """A sign-off reads no parquet file and no pandas: nothing to load numpy for."""
    folder = _demo_run(tmp_path / "reports")
    policy = ROOT / "scenarios" / "refund_desk" / "policy.yaml"
    args = ["signoff", folder.name, "--policy", str(policy), "--reports-dir", str(folder.parent)]
    out = _command(args)
    assert out.returncode in (0, 1), out.stderr[-2000:]  # 1: NO-GO
    assert "OPENBLAS - False" in out.stdout, (out.stdout[-500:], out.stderr[-2000:])
