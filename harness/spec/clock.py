"""Durations, the case's clock, business days, slot grids and DST transitions.

The calendar arithmetic behind the relative moments of `spec/relative.py`, kept pure
(every function takes the instant it works from) so it is tested without waiting for
a weekend or a change of daylight saving time.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable
from contextvars import ContextVar
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

UTC = dt.UTC
SECOND = dt.timedelta(seconds=1)
#: how far inside and outside a duration parameter its boundaries lie unless a suite says
DEFAULT_MARGIN = dt.timedelta(minutes=1)

# ------------------------------------------------------------------------ durations

_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION = re.compile(r"^\s*(?P<sign>[-+])?\s*(?P<body>(?:\d+\s*[wdhms]\s*)+)$")
_PART = re.compile(r"(\d+)\s*([wdhms])")


class DurationError(ValueError):
    """Text that is no duration."""


def parse_duration(value: Any) -> dt.timedelta:
    """`24h`, `1h30m`, `-2h`, `90s`, `1d12h` (w, d, h, m, s; a leading `-` is the past).

    A timedelta is taken as it is; whole seconds only, since moments have second precision."""
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        units = [u for _, u in _PART.findall(match["body"])]
        if len(set(units)) != len(units):
            raise DurationError(f"{value!r} names a unit twice")
        seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(match["body"]))
        if match["sign"] == "-":
            seconds = -seconds
    else:
        raise DurationError(
            f"{value!r} is not a duration; write it with units, e.g. 24h, 1h30m, 90s or -2h"
        )
    if seconds != int(seconds):
        raise DurationError(f"{value!r} is finer than a second")
    return dt.timedelta(seconds=int(seconds))


def is_duration(value: Any) -> bool:
    try:
        parse_duration(value)
    except DurationError:
        return False
    return True


def format_duration(value: dt.timedelta) -> str:
    """A duration as the suite writes it, in hours, minutes and seconds: `24h3m`, `-2h`, `0s`."""
    seconds = int(value.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return sign + ("".join(parts) or "0s")


def too_wide(margin: str | None, window: dt.timedelta) -> str | None:
    """Why a boundary's margin does not fit its window, if it does not: `below` is the window
    less the margin, so a margin as long as the window or longer gives no length inside it."""
    length = parse_duration(margin) if margin else DEFAULT_MARGIN
    if length < window:
        return None
    written = margin or f"{format_duration(DEFAULT_MARGIN)} (the default)"
    return (
        f"margin {written} is not shorter than the window {format_duration(window)}: 'below' "
        f"would be {format_duration(window - length)}; give a margin shorter than the window"
    )


# ------------------------------------------------------------------------ the clock

_pinned: ContextVar[dt.datetime | None] = ContextVar("harness_clock", default=None)


_SECOND: list[Any] = [None, None]  # the last second asked for, and its instant


def now() -> dt.datetime:
    """The instant relative moments are resolved against, in UTC, to the second: the case's
    pinned clock while a case runs (so its rows, turns and checks agree), else the time
    (made once a second: every case asks when it starts)."""
    pinned = _pinned.get()
    if pinned is not None:
        return pinned
    second = int(time.time())
    if second != _SECOND[0]:
        _SECOND[0], _SECOND[1] = second, dt.datetime.fromtimestamp(second, UTC)
    instant: dt.datetime = _SECOND[1]
    return instant


class pinned:
    """Resolve every moment inside the block against one instant (default: now); a class,
    not a generator: every case enters one."""

    __slots__ = ("_token", "instant")

    def __init__(self, at: dt.datetime | None = None) -> None:
        self.instant = now() if at is None else at.astimezone(UTC).replace(microsecond=0)

    def __enter__(self) -> dt.datetime:
        self._token = _pinned.set(self.instant)
        return self.instant

    def __exit__(self, *exc: object) -> None:
        _pinned.reset(self._token)


# ------------------------------------------------------------------------ the calendar

_HOLIDAY = re.compile(r"^(\d{4}-)?\d{2}-\d{2}$")


def holiday_text(value: dt.date | str) -> str:
    """A holiday as a suite keeps it: `2026-12-24` (that day) or `12-25` (every year)."""
    text = value.isoformat() if isinstance(value, dt.date) else str(value).strip()
    if not _HOLIDAY.match(text):
        raise ValueError(f"holiday {value!r}: write YYYY-MM-DD (one day) or MM-DD (every year)")
    try:
        dt.date.fromisoformat(text if len(text) == 10 else f"2000-{text}")  # 2000: a leap year
    except ValueError:
        raise ValueError(f"holiday {value!r} is no day of the calendar") from None
    return text


def is_business_day(day: dt.date, holidays: Iterable[str] = ()) -> bool:
    """Monday to Friday, and not a holiday (`YYYY-MM-DD`, or `MM-DD` for every year)."""
    if day.weekday() >= 5:
        return False
    texts = set(holidays)
    return day.isoformat() not in texts and day.isoformat()[5:] not in texts


def next_business_moment(moment: dt.datetime, holidays: Iterable[str] = ()) -> dt.datetime:
    """The moment itself on a business day, else the same wall-clock time on the next one."""
    texts = tuple(holidays)
    wall = moment.replace(tzinfo=None)
    for _ in range(370):
        if is_business_day(wall.date(), texts):
            return _local(wall, moment.tzinfo)
        wall += dt.timedelta(days=1)
    raise ValueError("no business day within a year: the holiday list covers every weekday")


def align_up(moment: dt.datetime, slot: dt.timedelta) -> dt.datetime:
    """The first slot start at or after the moment, slots counted from local midnight."""
    step = int(slot.total_seconds())
    if step <= 0:
        raise ValueError("a slot is longer than zero")
    wall = moment.replace(tzinfo=None)
    midnight = wall.replace(hour=0, minute=0, second=0, microsecond=0)
    since = int((wall - midnight).total_seconds())
    slots = -(-since // step)  # ceiling
    start = min(slots * step, 86_400)  # each day's grid starts again at its midnight
    return _local(midnight + dt.timedelta(seconds=start), moment.tzinfo)


def _local(wall: dt.datetime, zone: dt.tzinfo | None) -> dt.datetime:
    return wall.replace(tzinfo=zone)


# ------------------------------------------------------------------------ DST transitions

DST_EDGES = ("gap", "fold", "fold_later", "noon")
_STEP = dt.timedelta(hours=6)
_HORIZON = 4 * 366  # six-hour steps: two years either way


def _offset(zone: ZoneInfo, instant: dt.datetime) -> dt.timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


@lru_cache(maxsize=256)
def transition(
    zone_name: str, start: dt.datetime, change: str, direction: int
) -> tuple[dt.datetime, dt.timedelta, dt.timedelta]:
    """(instant, offset before, offset after) of the first transition of the zone after
    (direction 1) or before (-1) `start` that moves clocks forward (`change` "gap") or back
    ("fold"), to the second. Raises ValueError when there is none within two years."""
    zone = ZoneInfo(zone_name)
    a, off_a = start, _offset(zone, start)
    for _ in range(_HORIZON):
        b = a + _STEP * direction
        off_b = _offset(zone, b)
        if off_b != off_a:
            lo, hi = (a, b) if direction > 0 else (b, a)
            before, after = _offset(zone, lo), _offset(zone, hi)
            if (after > before) == (change == "gap"):
                while hi - lo > SECOND:
                    mid = lo + dt.timedelta(seconds=int((hi - lo).total_seconds()) // 2)
                    lo, hi = (mid, hi) if _offset(zone, mid) == before else (lo, mid)
                return hi, before, after
        a, off_a = b, off_b
    kind = "forward (a gap)" if change == "gap" else "back (a fold)"
    raise ValueError(f"{zone_name} moves its clocks {kind} at no time within two years")


def dst_moment(edge: str, zone_name: str, at: dt.datetime, which: str = "next") -> dt.datetime:
    """A local time at the zone's next (or previous) DST transition from `at`:
    `gap` the middle of the hour that does not exist (02:30 when 02:00 jumps to 03:00),
    `fold` the first and `fold_later` the second of the times that occur twice, `noon`
    the ordinary noon of the day clocks go forward (a control)."""
    if edge not in DST_EDGES:
        raise ValueError(f"unknown DST edge {edge!r}; one of {', '.join(DST_EDGES)}")
    change = "fold" if edge.startswith("fold") else "gap"
    direction = 1 if which == "next" else -1
    hour = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    instant, before, after = transition(zone_name, hour, change, direction)
    if (instant - at) * direction <= dt.timedelta(0):  # it fell in the hour before `at`
        instant, before, after = transition(zone_name, instant, change, direction)
    zone = ZoneInfo(zone_name)
    jump = abs(after - before)
    start = (instant + min(before, after)).replace(tzinfo=None)  # the wall clock it starts at
    wall = start + jump / 2
    wall -= dt.timedelta(microseconds=wall.microsecond)
    if edge == "noon":
        return dt.datetime.combine(wall.date(), dt.time(12), tzinfo=zone)
    return wall.replace(tzinfo=zone, fold=1 if edge == "fold_later" else 0)


def has_transitions(zone_name: str) -> bool:
    """Whether the zone moves its clocks within two years of now (a DST generator needs it)."""
    try:
        transition(zone_name, now().replace(minute=0, second=0), "gap", 1)
    except ValueError:
        return False
    return True
