"""Dates and times relative to the moment a case runs.

A case generated today and replayed next month must mean the same thing: "12 days
ago", "the last day of the previous month", "a minute before midnight in Tokyo",
"23 h 57 min from now", "the next time Berlin's clocks jump forward". These values
stay relative in cases and regression files and become absolute only when they
reach a database or a sentence (`resolve()`), moments against the case's clock
(`clock.now()`: pinned while a case runs, so its rows, turns and checks agree).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from harness.spec import clock

DATE_EDGES = (
    "today",
    "yesterday",
    "month_start",
    "month_end",
    "year_start",
    "year_end",
    "leap_day",
)
TIME_EDGES = ("midnight", "before_midnight", "after_midnight", "noon", "end_of_day")


class Relative:
    """A value that becomes a concrete date or time only when used."""

    def described(self) -> str:
        """What it means, in words an error message can show (never a class name)."""
        said = ", ".join(f"{k}: {v}" for k, v in self.stored().items())
        return f"a relative date or time ({said})"

    def resolve(self) -> dt.date | dt.datetime | str:  # str: a date as written (DateText)
        raise NotImplementedError

    def stored(self) -> dict[str, Any]:
        """How a regression file keeps it (read back by `from_stored`)."""
        raise NotImplementedError

    def written(self) -> str:
        """What it is, as a suite says it (`in 185h17m58s (Europe/Lisbon)`), never a repr."""
        out = words(_fields(self))
        return out if out is not None else self.described()


@dataclass(frozen=True, slots=True)
class DaysAgo(Relative):
    days: int

    def resolve(self) -> dt.date:
        return dt.date.today() - dt.timedelta(days=self.days)

    def date(self) -> dt.date:
        return self.resolve()

    def described(self) -> str:
        return f"a relative date ({self.days} day{'s' * (self.days != 1)} ago)"

    def stored(self) -> dict[str, Any]:
        return {"days_ago": self.days}


@dataclass(frozen=True, slots=True)
class DateEdge(Relative):
    """The most recent calendar edge on or before today: where date arithmetic breaks."""

    edge: str

    def resolve(self) -> dt.date:
        return date_edge(self.edge, dt.date.today())

    def stored(self) -> dict[str, Any]:
        return {"date_edge": self.edge}


@dataclass(frozen=True, slots=True)
class TimeEdge(Relative):
    """A moment near a day boundary in a timezone (timezone-aware)."""

    edge: str
    timezone: str
    days_ago: int = 0

    def resolve(self) -> dt.datetime:
        zone = ZoneInfo(self.timezone)
        day = dt.datetime.now(zone).date() - dt.timedelta(days=self.days_ago)
        return time_edge(self.edge, day, zone)

    def stored(self) -> dict[str, Any]:
        return {"time_edge": self.edge, "timezones": self.timezone, "days_ago": self.days_ago}


@dataclass(frozen=True, slots=True)
class Moment(Relative):
    """A moment `offset` from now (second precision), then at a wall-clock time, on a slot
    grid and on a business day, each in the timezone: an appointment in 23 h 57 min."""

    offset: dt.timedelta
    timezone: str = "UTC"
    at: str | None = None  # "HH:MM" or "HH:MM:SS": the wall-clock time of that day
    align: dt.timedelta | None = None  # slot length: the next slot start at or after
    business_days: bool = False  # a weekend or holiday moves to the next business day
    holidays: tuple[str, ...] = ()

    def resolve(self) -> dt.datetime:
        zone = ZoneInfo(self.timezone)
        moment = (clock.now() + self.offset).astimezone(zone)
        if self.at is not None:
            moment = dt.datetime.combine(moment.date(), dt.time.fromisoformat(self.at), zone)
        if self.align is not None:
            moment = clock.align_up(moment, self.align)
        if self.business_days:
            moment = clock.next_business_moment(moment, self.holidays)
        return moment

    def stored(self) -> dict[str, Any]:
        out: dict[str, Any] = {"in": clock.format_duration(self.offset)}
        if self.timezone != "UTC":
            out["timezone"] = self.timezone
        if self.at is not None:
            out["at"] = self.at
        if self.align is not None:
            out["align"] = clock.format_duration(self.align)
        if self.business_days:
            out["business_days"] = True
        if self.holidays:
            out["holidays"] = list(self.holidays)
        return out


@dataclass(frozen=True, slots=True)
class DstMoment(Relative):
    """A local time at the zone's next (or previous) DST transition: a time that does not
    exist (`gap`), one that occurs twice (`fold`, `fold_later`) or that day's noon."""

    edge: str
    timezone: str
    which: str = "next"

    def resolve(self) -> dt.datetime:
        return clock.dst_moment(self.edge, self.timezone, clock.now(), self.which)

    def stored(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dst": self.edge, "timezones": self.timezone}
        if self.which != "next":
            out["which"] = self.which
        return out


@dataclass(frozen=True, slots=True)
class DateText(Relative):
    """A relative date written one way people write dates (`date_text` of a relative date):
    its text is the day it means when used, so a case replayed next month still says the
    same day as its rows."""

    day: Relative
    fmt: str

    def resolve(self) -> str:
        day = self.day.resolve()
        if isinstance(day, str):  # a written date is written again only through its day
            raise ValueError(f"date_text needs a date, got {day!r}")
        return write_date(day.date() if isinstance(day, dt.datetime) else day, self.fmt)

    def stored(self) -> dict[str, Any]:
        return {"date_text": self.day.stored(), "formats": self.fmt}


DATE_FORMATS = {
    "iso": "%Y-%m-%d",
    "us": "%m/%d/%Y",
    "eu": "%d/%m/%Y",
    "dotted": "%d.%m.%Y",
    "short_us": "%m/%d",
    "short_eu": "%d/%m",
}


def write_date(day: dt.date, fmt: str) -> str:
    """A date as people write it: "12/01" is December or January depending on who."""
    if fmt == "long":
        return f"{day.day} {day.strftime('%B %Y')}"
    return day.strftime(DATE_FORMATS[fmt])


def date_edge(edge: str, today: dt.date) -> dt.date:
    if edge == "today":
        return today
    if edge == "yesterday":
        return today - dt.timedelta(days=1)
    if edge == "month_start":
        return today.replace(day=1)
    if edge == "month_end":  # the last day of the previous month
        return today.replace(day=1) - dt.timedelta(days=1)
    if edge == "year_start":
        return today.replace(month=1, day=1)
    if edge == "year_end":  # the last day of the previous year
        return dt.date(today.year - 1, 12, 31)
    if edge == "leap_day":  # the most recent 29 February
        year = today.year if (today.month, today.day) >= (2, 29) else today.year - 1
        while True:
            try:
                return dt.date(year, 2, 29)
            except ValueError:
                year -= 1
    raise ValueError(f"unknown date edge {edge!r}; one of {', '.join(DATE_EDGES)}")


def time_edge(edge: str, day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    start = dt.datetime.combine(day, dt.time(0, 0), tzinfo=zone)
    offsets = {
        "midnight": dt.timedelta(0),
        "after_midnight": dt.timedelta(seconds=1),
        "noon": dt.timedelta(hours=12),
        "before_midnight": dt.timedelta(days=1, seconds=-1),
        "end_of_day": dt.timedelta(days=1, microseconds=-1),
    }
    if edge not in offsets:
        raise ValueError(f"unknown time edge {edge!r}; one of {', '.join(TIME_EDGES)}")
    return start + offsets[edge]


def known_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _fields(value: Relative) -> dict[str, Any]:
    """Its fields as a run record keeps them: durations as text, a day as its fields."""
    out: dict[str, Any] = {}
    for name in value.__dataclass_fields__:  # type: ignore[attr-defined]
        v = getattr(value, name)
        if isinstance(v, dt.timedelta):
            v = clock.format_duration(v)
        out[name] = _fields(v) if isinstance(v, Relative) else v
    return out


def words(fields: Mapping[str, Any]) -> str | None:
    """A relative value's fields (as a run record keeps them) in a suite's words; None for a
    mapping that is no relative value."""
    keys, f = set(fields), fields
    if keys == {"offset", "timezone", "at", "align", "business_days", "holidays"}:
        out = f"in {f['offset']} ({f['timezone']})"
        out += f", at {f['at']}" if f["at"] else ""
        out += f", on a {f['align']} grid" if f["align"] else ""
        out += ", on a business day" if f["business_days"] else ""
        holidays = f["holidays"] or ()
        return out + (f" (holidays {', '.join(map(str, holidays))})" if holidays else "")
    if keys == {"days"}:
        return f"{f['days']} day{'s' * (f['days'] != 1)} ago"
    if keys == {"edge"}:
        return f"date edge {f['edge']}"
    if keys == {"edge", "timezone", "days_ago"}:
        ago = f", {f['days_ago']} days ago" if f["days_ago"] else ""
        return f"time edge {f['edge']} ({f['timezone']}{ago})"
    if keys == {"edge", "timezone", "which"}:
        return f"DST {f['edge']} ({f['timezone']}, {f['which']} transition)"
    if keys == {"day", "fmt"} and isinstance(f["day"], Mapping):
        day = words(f["day"])
        return None if day is None else f"{day}, written {f['fmt']}"
    return None
