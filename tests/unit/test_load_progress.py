"""`harness load`'s progress line: the pass rate over the last 5 s of the load's clock beside
the cumulative one, so that a fault window's dip shows while the load runs (the cumulative
rate hardly moves). Fed the `LoadProgress` events a load session emits, every 0.5 s."""

from __future__ import annotations

from harness.cli.load import RecentRate, progress_line
from harness.core.events import LoadProgress


def events() -> list[LoadProgress]:
    """20 s at 4 judged conversations a second: all pass, but none from 10 s to 13 s."""
    out, judged, passed = [], 0, 0
    for tick in range(1, 41):
        seconds = tick / 2
        judged += 2
        passed += 0 if 10 < seconds <= 13 else 2
        out.append(LoadProgress(seconds, 20.0, 3, judged * 2, judged, passed, 0))
    return out


def test_the_last_seconds_show_the_dip_the_cumulative_rate_hides() -> None:
    recent = RecentRate(5.0)
    rates = {p.seconds: (recent.add(p), p.passed / p.judged) for p in events()}
    assert rates[5.0] == (1.0, 1.0)
    last, overall = rates[13.0]  # 10..13 failed: 3 s of the last 5
    assert last is not None and abs(last - 0.4) < 1e-9 and overall > 0.75
    last, overall = rates[18.0]  # 13..18 all passed again: recovered
    assert last == 1.0 and overall < 0.9
    line = progress_line(events()[25], 0.4)
    assert "pass 76.9% overall, 40.0% last 5 s" in line, line


def test_before_anything_is_judged_the_rates_are_dashes() -> None:
    first = LoadProgress(0.5, 20.0, 1, 0, 0, 0, 0)
    assert RecentRate().add(first) is None
    assert "pass — overall, — last 5 s" in progress_line(first, None)
