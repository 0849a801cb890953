"""modes/load.py: the collector while a load runs, and as it was after."""

from __future__ import annotations

import gc

from harness.modes.load import FULL_EVERY, _freeze, _thaw


def test_full_collections_are_rarer_during_the_load_and_as_before_after() -> None:
    thresholds, frozen_before = gc.get_threshold(), gc.get_freeze_count()
    gc.set_threshold(700, 10, 10)
    try:
        kept = [[i] for i in range(1000)]  # alive through the load: frozen
        frozen = _freeze()
        assert gc.get_threshold() == (700, 10, FULL_EVERY)
        assert gc.get_freeze_count() >= len(kept)
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect(0) >= 1  # a cycle made and dropped during the load is still found
        _thaw(frozen)
        assert gc.get_threshold() == (700, 10, 10)
        assert (gc.get_freeze_count() > 0) == (frozen_before > 0)
    finally:
        gc.set_threshold(*thresholds)
