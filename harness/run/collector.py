"""The cyclic garbage collector kept out of the cases' way while the engine runs them.

Measured on the 1,000-case echo suite (benchmarks/bench_run.py): with CPython's defaults a
run of cases paid about one full collection (25-100 ms: it walks every object of the
process, the imported modules, the suite and the planned cases among them) and a hundred
young ones (15-35 ms: each walks the objects of the 32 conversations in flight), a fifth of
the engine's time. Nearly everything a case makes is freed by its reference count when the
case ends; the collector only has to find cycles. So, while the cases run:

- what exists when they start is frozen (`gc.freeze`): no collection walks it again. A
  process that had frozen nothing (a library caller, a test) gets it back at the end
  (`gc.unfreeze`); the command line froze its start-up already and keeps what it froze.
- a young collection waits for `YOUNG` new objects, not 700: it still runs, and finds the
  same cycles, a few times per thousand cases instead of a hundred.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

YOUNG = 10_000  # new container objects before a young collection (CPython's default: 700)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Freeze what exists and collect the young generation less often, for the block."""
    had_frozen = gc.get_freeze_count() > 0
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], YOUNG), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if not had_frozen:
            gc.unfreeze()
