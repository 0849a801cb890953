"""Moments, durations and DST edges: what they resolve to against a pinned clock, that they
stay relative (a replay next month means the same moment), that a run and a hunt draw the
same values from a seed, and that a regression file keeps them relative."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import Phase, find, settings

from harness.generate import spaces
from harness.generate.strategies import strategy
from harness.generate.values import ValueGenerator
from harness.run import saved
from harness.run.regressions import _literal
from harness.spec import clock
from harness.spec import models as m
from harness.spec.relative import DstMoment, Moment
from harness.spec.suite import load_suite
from harness.spec.template import Template, format_value
from tests.helpers import config_problems, copy_demo, edit_file
from tests.unit.test_spaces import spec

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
# a Friday afternoon: 17:07:13 in Berlin
FRIDAY = dt.datetime(2026, 12, 4, 16, 7, 13, tzinfo=UTC)
PARAMS = {"cutoff": "24h", "limit": "500.00"}
KINDS = {"cutoff": "duration", "limit": "amount"}
FIND = settings(database=None, max_examples=500, deadline=None, phases=[Phase.generate])


def ctx() -> dict[str, Any]:
    return {"params": PARAMS, "vars": {}}


def draw(data: dict[str, Any], seed: int = 1, *, plain: bool = False) -> Any:
    return ValueGenerator(seed, kinds=KINDS, plain=plain).value(spec(data), ctx())


def at(data: dict[str, Any], now: dt.datetime = FRIDAY) -> dt.datetime:
    """The moment a generator gives, resolved against `now`."""
    value = draw(data)
    with clock.pinned(now):
        resolved = value.resolve()
    assert isinstance(resolved, dt.datetime)
    return resolved


# ------------------------------------------------------------------------ durations


@pytest.mark.parametrize(
    ("text", "seconds", "written"),
    [
        ("24h", 86_400, "24h"),
        ("1h30m", 5_400, "1h30m"),
        ("23h57m", 86_220, "23h57m"),
        ("-2h", -7_200, "-2h"),
        ("90s", 90, "1m30s"),
        ("1d12h", 129_600, "36h"),
        ("1w", 604_800, "168h"),
        (" 2h 5m ", 7_500, "2h5m"),
        ("0s", 0, "0s"),
    ],
)
def test_durations_read_and_write_with_units(text: str, seconds: int, written: str) -> None:
    value = clock.parse_duration(text)
    assert value == dt.timedelta(seconds=seconds)
    assert clock.format_duration(value) == written
    assert clock.parse_duration(written) == value  # what a regression file keeps reads back


@pytest.mark.parametrize("text", ["24", "24 hours", "1h1h", "h", "", "1.5h", "-"])
def test_text_that_is_no_duration_is_refused_with_the_way_to_write_one(text: str) -> None:
    with pytest.raises(clock.DurationError):
        clock.parse_duration(text)
    with pytest.raises(clock.DurationError, match="finer than a second"):
        clock.parse_duration(dt.timedelta(milliseconds=1500))


def test_a_duration_generator_draws_to_the_second_and_a_hunt_shrinks_to_its_start() -> None:
    assert draw({"duration": "1h30m"}) == dt.timedelta(minutes=90)
    drawn = {draw({"duration": ["1h", "2h"]}, seed) for seed in range(50)}
    assert all(dt.timedelta(hours=1) <= d <= dt.timedelta(hours=2) for d in drawn)
    assert len(drawn) > 40  # second precision: fifty draws hardly repeat
    hunted = strategy(spec({"duration": ["1h", "2h"]}), ctx(), ValueGenerator(0))
    assert find(hunted, lambda v: True, settings=FIND) == dt.timedelta(hours=1)


def test_a_duration_parameter_has_boundaries_a_margin_inside_and_outside() -> None:
    edges = {"boundary": "cutoff", "edges": ["below", "at", "above"], "margin": "3m"}
    space = spaces.space(spec(edges), ValueGenerator(0, kinds=KINDS).env(ctx()))
    assert space == spaces.Sampled(
        [
            dt.timedelta(hours=23, minutes=57),
            dt.timedelta(hours=24),
            dt.timedelta(hours=24, minutes=3),
        ]
    )
    default = spaces.space(
        spec({"boundary": "cutoff", "edges": ["below", "above"]}),
        ValueGenerator(0, kinds=KINDS).env(ctx()),
    )
    assert default == spaces.Sampled(
        [dt.timedelta(hours=23, minutes=59), dt.timedelta(hours=24, minutes=1)]
    )
    # a hunt tries the edge just outside first, then just inside
    hunted = strategy(spec(edges), ctx(), ValueGenerator(0, kinds=KINDS))
    assert find(hunted, lambda v: v > dt.timedelta(hours=24), settings=FIND) == dt.timedelta(
        hours=24, minutes=3
    )
    # the baseline: any length up to twice the window, to the second
    plain = {draw(edges, seed, plain=True) for seed in range(100)}
    assert all(dt.timedelta(0) <= d <= dt.timedelta(hours=48) for d in plain)
    assert len(plain) > 90


def test_templates_compare_and_write_durations() -> None:
    context = {"params": PARAMS, "vars": {"lead": dt.timedelta(hours=24, minutes=3)}}
    assert Template("{{ vars.lead | ge(params.cutoff) }}").render(context) is True
    assert Template("{{ vars.lead | lt(params.cutoff) }}").render(context) is False
    assert Template("due in {{ vars.lead }}").render(context) == "due in 24h3m"
    assert format_value(dt.timedelta(minutes=-90)) == "-1h30m"


# ------------------------------------------------------------------------ moments


def test_a_moment_is_relative_to_the_clock_to_the_second() -> None:
    assert at({"in": "23h57m"}) == FRIDAY + dt.timedelta(hours=23, minutes=57)
    assert at({"in": "-2h"}) == FRIDAY - dt.timedelta(hours=2)
    # a replay next month means the same moment: the same distance from that run's clock
    later = FRIDAY + dt.timedelta(days=31, seconds=17)
    assert at({"in": "23h57m"}, later) - later == dt.timedelta(hours=23, minutes=57)
    unpinned = draw({"in": "1h"}).resolve()
    assert unpinned.microsecond == 0


def test_a_moment_on_the_slot_grid_is_the_next_slot_start_in_its_zone() -> None:
    aligned = at({"in": "1h", "align": "15m", "timezone": "Europe/Berlin"})
    assert aligned.replace(tzinfo=None) == dt.datetime(2026, 12, 4, 18, 15)  # 18:07:13 -> 18:15
    assert aligned.utcoffset() == dt.timedelta(hours=1)
    on_grid = dt.datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    assert at({"in": "30m", "align": "15m"}, on_grid) == on_grid + dt.timedelta(minutes=30)
    late = dt.datetime(2026, 12, 4, 23, 50, tzinfo=UTC)  # past the last slot of the day
    assert at({"in": "0s", "align": "15m"}, late) == dt.datetime(2026, 12, 5, 0, 0, tzinfo=UTC)
    # 25-minute slots count from midnight: 00:00, 00:25, ..., 23:45; 23:50 is the next day's 00:00
    assert at({"in": "0s", "align": "25m"}, late) == dt.datetime(2026, 12, 5, 0, 0, tzinfo=UTC)


def test_a_moment_on_business_days_skips_weekends_and_holidays() -> None:
    monday = at({"in": "1d", "business_days": True})
    assert monday == dt.datetime(2026, 12, 7, 16, 7, 13, tzinfo=UTC)  # Saturday -> Monday
    assert at({"in": "-1d", "business_days": True}).weekday() == 3  # Thursday is one
    christmas = at(
        {"in": "20d", "business_days": True, "holidays": ["12-24", "12-25", "2026-12-28"]}
    )
    assert christmas.date() == dt.date(2026, 12, 29)  # Thu 24, Fri 25, weekend, Mon 28 off
    assert clock.is_business_day(dt.date(2027, 12, 24)) and not clock.is_business_day(
        dt.date(2027, 12, 24), ["12-24"]
    )
    with pytest.raises(Exception, match="YYYY-MM-DD"):
        spec({"in": "1d", "holidays": ["Christmas"]})


def test_a_moment_at_a_wall_clock_time_is_on_the_zones_own_day() -> None:
    # 02:00 UTC on Saturday is still Friday 21:00 in New York
    early = dt.datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
    nine = at({"in": "1d", "at": "09:30", "timezone": "America/New_York"}, early)
    assert nine.isoformat() == "2026-12-05T09:30:00-05:00"
    tokyo = at({"in": "1d", "at": "09:30", "timezone": "Asia/Tokyo"}, early)
    assert tokyo.isoformat() == "2026-12-06T09:30:00+09:00"
    # a wall clock on a business day: Saturday's 10:00 becomes Monday's, in Berlin
    payout = at({"in": "1d", "at": "10:00", "timezone": "Europe/Berlin", "business_days": True})
    assert payout.isoformat() == "2026-12-07T10:00:00+01:00"
    with pytest.raises(Exception, match="should match pattern"):
        spec({"in": "1d", "at": "25:00"})


def test_a_range_of_moments_is_drawn_from_the_seed_and_searched_from_its_start() -> None:
    data = {"in": ["1h", "48h"], "align": "15m"}
    first = [draw(data, seed) for seed in range(20)]
    assert first == [draw(data, seed) for seed in range(20)]  # the same seed, the same moments
    assert len({v.offset for v in first}) == 20
    assert all(isinstance(v, Moment) and v.align == dt.timedelta(minutes=15) for v in first)
    hunted = strategy(spec(data), ctx(), ValueGenerator(0))
    assert find(hunted, lambda v: True, settings=FIND).offset == dt.timedelta(hours=1)
    assert spaces.space(spec(data), ValueGenerator(0).env(ctx())) != spaces.space(
        spec({"in": ["1h", "48h"]}), ValueGenerator(0).env(ctx())
    )


def test_a_moment_may_take_its_distance_from_a_drawn_duration() -> None:
    context = {"params": PARAMS, "vars": {"lead": dt.timedelta(hours=24, minutes=3)}}
    value = ValueGenerator(0).value(spec({"in": "{{ vars.lead }}"}), context)
    assert value == Moment(dt.timedelta(hours=24, minutes=3))


# ------------------------------------------------------------------------ DST


def test_the_dst_gap_is_a_local_time_that_does_not_exist() -> None:
    gap = at({"dst": "gap", "timezones": "Europe/Berlin"})
    assert gap.replace(tzinfo=None) == dt.datetime(2027, 3, 28, 2, 30)
    # there is no 02:30 that day: through UTC and back it reads 03:30
    again = gap.astimezone(UTC).astimezone(BERLIN)
    assert again.replace(tzinfo=None) == dt.datetime(2027, 3, 28, 3, 30)
    new_york = at({"dst": "gap", "timezones": "America/New_York"})
    assert new_york.replace(tzinfo=None) == dt.datetime(2027, 3, 14, 2, 30)
    control = at({"dst": "noon", "timezones": "Europe/Berlin"})
    assert control.isoformat() == "2027-03-28T12:00:00+02:00"


def test_the_dst_fold_is_a_local_time_that_occurs_twice() -> None:
    first = at({"dst": "fold", "timezones": "Europe/Berlin"})
    second = at({"dst": "fold_later", "timezones": "Europe/Berlin"})
    assert (
        first.replace(tzinfo=None)
        == second.replace(tzinfo=None)
        == dt.datetime(2027, 10, 31, 2, 30)
    )
    assert (first.utcoffset(), second.utcoffset()) == (dt.timedelta(hours=2), dt.timedelta(hours=1))
    # the same wall clock, an hour apart (Python subtracts wall clocks of one zone: via UTC)
    assert second.astimezone(UTC) - first.astimezone(UTC) == dt.timedelta(hours=1)
    # the southern hemisphere, looking back: Sydney's clocks went forward on 4 October 2026
    sydney = at({"dst": "gap", "timezones": "Australia/Sydney", "which": "previous"})
    assert sydney.replace(tzinfo=None) == dt.datetime(2026, 10, 4, 2, 30)


def test_a_transition_is_found_to_the_second_and_a_zone_without_one_is_refused() -> None:
    instant, before, after = clock.transition("Europe/Berlin", FRIDAY, "gap", 1)
    assert instant == dt.datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
    assert (before, after) == (dt.timedelta(hours=1), dt.timedelta(hours=2))
    # from just after a transition, the next one of that kind is a year later
    nxt = clock.dst_moment("gap", "Europe/Berlin", instant + dt.timedelta(seconds=1))
    assert nxt.date() == dt.date(2028, 3, 26)
    assert not clock.has_transitions("Asia/Tokyo") and clock.has_transitions("Europe/Berlin")
    with pytest.raises(ValueError, match="Asia/Tokyo moves its clocks forward"):
        clock.dst_moment("gap", "Asia/Tokyo", FRIDAY)


def test_dst_edges_are_hard_parts_drawn_from_the_seed() -> None:
    data = {
        "dst": ["gap", "fold", "fold_later"],
        "timezones": ["Europe/Berlin", "America/New_York"],
    }
    drawn = [draw(data, seed) for seed in range(40)]
    assert drawn == [draw(data, seed) for seed in range(40)]
    assert {(d.edge, d.timezone) for d in drawn} == {
        (e, z) for e in ("gap", "fold", "fold_later") for z in ("Europe/Berlin", "America/New_York")
    }
    assert spaces.is_hard(spec(data)) and not spaces.is_hard(spec({"in": "1h"}))
    assert {draw(data, seed, plain=True).edge for seed in range(20)} == {"noon"}
    hunted = strategy(spec(data), ctx(), ValueGenerator(0))
    assert find(hunted, lambda v: True, settings=FIND) == DstMoment("gap", "Europe/Berlin")


# ------------------------------------------------------------------------ kept relative


@pytest.mark.parametrize(
    "value",
    [
        Moment(dt.timedelta(hours=24, minutes=3)),
        Moment(
            dt.timedelta(hours=-2),
            "Europe/Berlin",
            "10:00",
            dt.timedelta(minutes=15),
            True,
            ("12-25", "2027-01-01"),
        ),
        DstMoment("fold_later", "America/New_York", "previous"),
        dt.timedelta(hours=23, minutes=57),
    ],
    ids=repr,
)
def test_a_regression_file_keeps_a_moment_relative_and_reads_it_back(value: Any) -> None:
    kept, types = saved.plain({"v": value})
    assert kept["v"] == (value.stored() if hasattr(value, "stored") else "23h57m")  # relative
    assert types == {"v": "relative" if hasattr(value, "stored") else "duration"}
    text = yaml.safe_dump({"vars": kept, "types": {"vars": types}})
    back = yaml.safe_load(text)
    assert saved.value(back["vars"], back["types"]["vars"], 2, _literal) == {"v": value}


def test_one_case_resolves_against_one_clock() -> None:
    moment = Moment(dt.timedelta(hours=1))

    async def case(start: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        with clock.pinned(start):
            first = moment.resolve()
            await asyncio.sleep(0)
            return first, moment.resolve()

    async def both() -> list[tuple[dt.datetime, dt.datetime]]:
        return list(await asyncio.gather(case(FRIDAY), case(FRIDAY + dt.timedelta(minutes=5))))

    (a1, a2), (b1, b2) = asyncio.run(both())
    assert a1 == a2 == FRIDAY + dt.timedelta(hours=1)  # its rows, turns and checks agree
    assert b1 == b2 == FRIDAY + dt.timedelta(hours=1, minutes=5)  # and cases do not share one
    with clock.pinned(FRIDAY):
        assert clock.now() == FRIDAY
    assert clock.now() != FRIDAY  # the pin ends with its block


def test_the_suite_names_a_wrong_time_setting_where_it_is() -> None:
    for data, words in [
        ({"in": "soon"}, "not a duration"),
        ({"duration": ["1h", "2 hours"]}, "not a duration"),
        ({"in": "1h", "align": "0s"}, "longer than zero"),
        ({"boundary": "cutoff", "margin": "-1m"}, "longer than zero"),
        ({"dst": "spring"}, "gap"),
    ]:
        with pytest.raises(Exception, match=words):
            spec(data)
    with pytest.raises(Exception, match="written with units"):
        m.Parameter(value="24", kind="duration")
    assert m.Parameter(value="1h30m", kind="duration").value == "1h30m"


def test_a_moment_is_formatted_as_the_suite_asks() -> None:
    with clock.pinned(FRIDAY):
        due = Moment(dt.timedelta(hours=1), "Europe/Berlin", align=dt.timedelta(minutes=30))
        context = {"vars": {"due": due}}
        assert Template("at {{ vars.due | date('%H:%M') }}").render(context) == "at 18:30"
        assert Template("{{ vars.due }}").render(context) == due
        assert format_value(due) == "2026-12-04T18:30:00+01:00"


def test_time_settings_of_a_suite_are_located(tmp_path: Path) -> None:
    suite = copy_demo(tmp_path, "suite")
    payouts = suite / "scenarios" / "08_payouts.yaml"
    edit_file(payouts, "timezone: Europe/Berlin", "timezone: Europe/Berlyn")
    edit_file(payouts, "{in: 2h, align: 15m}", "{dst: gap, timezones: Asia/Tokyo}")
    found = config_problems(suite)
    assert any("timezone: unknown timezone 'Europe/Berlyn'" in p for p in found), found
    assert any("Asia/Tokyo has no daylight saving time" in p for p in found), found
    assert all(p.startswith(f"{payouts}:") for p in found)
    edit_file(payouts, "margin: 3m", "margin: 3 minutes")
    line = next(
        i for i, t in enumerate(payouts.read_text().splitlines(), 1) if "margin: 3 minutes" in t
    )
    # every problem at once: the file's other scenarios, valid on their own, are still
    # checked for what they refer to (review of issue 15: problems came in stages)
    *others, margin = config_problems(suite)
    assert len(others) == 2 and all(p.startswith(f"{payouts}:") for p in others), others
    assert margin.startswith(f"{payouts}:{line}:")
    assert "vars.lead.margin: '3 minutes' is not a duration" in margin
    edit_file(suite / "spec.yaml", "value: 24h", "value: 24")
    (spec_problem,) = [p for p in config_problems(suite) if "spec.yaml" in p]
    assert "a duration parameter is written with units" in spec_problem


def test_a_reversed_range_is_refused_not_swapped() -> None:
    """Review of issue 12: `{duration: [48h, 1h]}` was drawn as [1h, 48h] without a word; the
    suite's author meant something and gets told which way round to write it."""
    for data in ({"duration": ["48h", "1h"]}, {"in": ["48h", "1h"]}, {"in": ["-1h", "-48h"]}):
        with pytest.raises(Exception, match=r"is reversed: write it .*\[1h, 48h\]|-48h, -1h"):
            spec(data)
    assert spec({"in": ["-48h", "-1h"]}) and spec({"duration": ["1h", "1h"]})


def test_a_margin_as_wide_as_the_window_is_refused_where_it_is_written(tmp_path: Path) -> None:
    """Review of issue 12: margin 2d on a 24h window drew `below` as -1 day, a moment in the
    past presented as "just inside the window"."""
    suite = copy_demo(tmp_path, "suite")
    payouts = suite / "scenarios" / "08_payouts.yaml"
    edit_file(payouts, "edges: [below, above], margin: 3m", "edges: [below, above], margin: 2d")
    line = next(i for i, t in enumerate(payouts.read_text().splitlines(), 1) if "margin: 2d" in t)
    col = payouts.read_text().splitlines()[line - 1].index("2d") + 1
    (problem,) = config_problems(suite)
    assert problem.startswith(f"{payouts}:{line}:{col}: "), problem
    assert "margin 2d is not shorter than the window 24h" in problem
    assert "'below' would be -24h" in problem and "payout_cancel_cutoff" in problem
    # only `below` lies inside the window: a wide margin above it is a fine test
    edit_file(payouts, "edges: [below, above], margin: 2d", "edges: [above], margin: 2d")
    load_suite(suite)
    # the default margin (1m) on a window of 30s: located at the boundary's name
    edit_file(payouts, "edges: [above], margin: 2d", "edges: [below]")
    edit_file(suite / "spec.yaml", "value: 24h", "value: 30s")
    found = config_problems(suite)
    assert any(
        p.startswith(f"{payouts}:{line}:") and "margin 1m (the default) is not shorter" in p
        for p in found
    ), found


def test_a_reversed_range_in_a_scenario_is_located(tmp_path: Path) -> None:
    suite = copy_demo(tmp_path, "suite")
    payouts = suite / "scenarios" / "08_payouts.yaml"
    edit_file(payouts, "{in: 2h, align: 15m}", "{in: [48h, 1h], align: 15m}")
    line = next(i for i, t in enumerate(payouts.read_text().splitlines(), 1) if "[48h, 1h]" in t)
    (problem,) = config_problems(suite)
    assert problem.startswith(f"{payouts}:{line}:"), problem
    assert "[48h, 1h] is reversed" in problem
