"""benchmarks/bench_proxy.py's verdict on its throughput target: the ratio is per paired round
(its range printed beside its median), and "met" only when every round is at or above the
target."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from tests.helpers import ROOT


def bench() -> ModuleType:
    path = ROOT / "benchmarks" / "bench_proxy.py"
    spec = importlib.util.spec_from_file_location("bench_proxy", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_ratio_is_per_round_with_its_range_and_met_only_when_all_of_it_is() -> None:
    b = bench()
    # the medians of the rates need not divide to the median of the ratios: say both
    direct, proxied = [10051.0, 12000.0, 9000.0], [6376.0, 5000.0, 4700.0]
    mid, low, high = b.ratios(direct, proxied)
    assert (round(mid, 2), round(low, 2), round(high, 2)) == (0.52, 0.42, 0.63)
    assert b.ratio_text((mid, low, high)) == "0.52 (0.42..0.63)"
    assert b.against(0.9, (mid, low, high)) == "missed"
    # a median above the target with a round below it is not "met"
    assert b.against(0.9, (0.93, 0.85, 0.97)) == "within noise of the target"
    assert b.against(0.9, (0.95, 0.90, 0.99)) == "met"
    assert b.against(0.9, (0.80, 0.70, 0.89)) == "missed"


def test_the_bare_forwarder_is_a_reference_not_a_floor() -> None:
    text = (ROOT / "benchmarks" / "bench_proxy.py").read_text()
    assert "floor =" not in text and '"floor"' not in text
    assert "bare asyncio forwarder (reference" in text
