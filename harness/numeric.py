"""numpy loaded for pyarrow and pandas without OpenBLAS's thread pool, in the harness's own
command-line process.

numpy's bundled OpenBLAS starts a thread per core as it loads, and those threads spin for
a while looking for work. The harness does no linear algebra: it loads numpy only because
pyarrow (the parquet files) and pandas (compare, trend) import it. On this 2-core
machine, importing numpy then pyarrow took 0.22 s of CPU with the pool against 0.12 s with
one thread (medians of 21, `OPENBLAS_NUM_THREADS` 2 or 1): the spinning thread takes the
second core from whatever else runs (the agent, a dependency, another suite's job). A
sign-off, `validate`, `list` and `replay` load no numpy at all.

`load_numpy` loads numpy with OpenBLAS on one thread. A command calls it where it first needs
numpy: `build_reports` (every command that writes a run's reports), `compare` and `trend`. It
acts only where that touches nothing but the harness:
- in the process of the `harness` command (`own_process`, called by cli/main.py's `main`),
  never in a library caller's (a notebook's numpy stays as its user expects);
- not when an agent's code runs in this process (`share_with_agent`: the python adapter), whose
  numpy is the agent's to set up, and whose threads could start processes meanwhile;
- not when numpy is loaded already, or the user named a thread count (OpenBLAS reads
  `OPENBLAS_NUM_THREADS`, then `GOTO_NUM_THREADS`, then `OMP_NUM_THREADS`).
OpenBLAS reads the variable once, as it loads: it is set in this process's environment only
for that import. A command loads numpy for its reports or its tables, after the processes of
its run (agent, dependencies, load generators) were started, and no report starts one.
"""

from __future__ import annotations

import os
import sys

#: what OpenBLAS reads for its thread count, in its order
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")

_owned = False  # this is the `harness` command's process
_shared = False  # an agent's code runs in this process


def own_process() -> None:
    """This process is the `harness` command's (cli/main.py): its numpy is the harness's."""
    global _owned
    _owned = True


def share_with_agent() -> None:
    """An agent's code was loaded into this process (the python adapter): leave numpy be."""
    global _shared
    _shared = True


def load_numpy() -> None:
    """Import numpy (before pyarrow or pandas) with OpenBLAS on one thread, as said above;
    elsewhere do nothing, and pyarrow or pandas loads numpy as it would have."""
    if not _owned or _shared or "numpy" in sys.modules:
        return
    if any(name in os.environ for name in THREAD_VARIABLES):
        return
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        import numpy  # noqa: F401
    finally:
        os.environ.pop("OPENBLAS_NUM_THREADS", None)
