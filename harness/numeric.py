"""numpy loaded for pyarrow and pandas without OpenBLAS's thread pool.

numpy's bundled OpenBLAS starts a thread per core as it loads, and those threads spin for
a while looking for work. The harness does no linear algebra: it loads numpy only because
pyarrow (the parquet files) and pandas (compare, trend, sign-off) import it. On this 2-core
machine, importing pyarrow took 0.18 s of CPU with the pool against 0.09 s with one thread
(`/usr/bin/time python -c "import pyarrow.parquet"`, `OPENBLAS_NUM_THREADS=1` or not): the
spinning thread takes the second core from the run (the agent, a dependency) while it
writes its reports.

`load_numpy` loads numpy with OpenBLAS on one thread, unless numpy is loaded already (an
in-process agent's or a notebook's: theirs, untouched) or the user named a thread count
(OpenBLAS reads `OPENBLAS_NUM_THREADS`, then `GOTO_NUM_THREADS`, then `OMP_NUM_THREADS`).
The variable is set only while numpy loads (OpenBLAS reads it once, then): a process the
harness starts afterwards gets the environment the harness was given.
"""

from __future__ import annotations

import os
import sys

#: what OpenBLAS reads for its thread count, in its order
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


def load_numpy() -> None:
    """Import numpy (before pyarrow or pandas) with OpenBLAS on one thread, as said above."""
    if "numpy" in sys.modules or any(name in os.environ for name in THREAD_VARIABLES):
        return
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        import numpy  # noqa: F401
    except ImportError:  # pyarrow works without it; pandas says so itself
        pass
    finally:
        os.environ.pop("OPENBLAS_NUM_THREADS", None)
