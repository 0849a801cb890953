"""The values templates give and the filters that transform them: how a value reads inside
text (`format_value`), exact decimals, dates and durations compared as such, and the fixed
registry of filters a template may name (spec/template.py parses and renders templates)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import orjson

from harness.spec.clock import DurationError, format_duration, parse_duration
from harness.spec.relative import DaysAgo, Relative


class TemplateError(ValueError):
    """A template that cannot be parsed or a value it cannot find."""


def concrete(value: Any) -> Any:
    """Relative values made absolute, for the database (deep in lists and mappings)."""
    if isinstance(value, Relative):
        return value.resolve()
    if isinstance(value, dict):
        return {k: concrete(v) for k, v in value.items()}
    if isinstance(value, list):
        return [concrete(v) for v in value]
    return value


def shown(value: Any) -> str:
    """A value as an error message shows it: a relative one by what it means."""
    return value.described() if isinstance(value, Relative) else repr(format_value(value))


def to_decimal(value: Any) -> Decimal:
    """Read a number the way a spec means it: exact decimals, never binary floats."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TemplateError(f"expected a number, got {shown(value)}")
    if isinstance(value, int):
        return Decimal(value)
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise TemplateError(f"expected a number, got {shown(value)}") from None


def format_value(value: Any) -> str:
    """The text a value becomes inside a sentence, a URL or a SQL parameter."""
    if value is None or type(value) is str:  # most values: no isinstance ladder
        return value or ""
    if type(value) is int:  # a case's index, a count (never a bool: its type is bool)
        return str(value)
    if isinstance(value, Relative):
        moment = value.resolve()
        return moment if isinstance(moment, str) else moment.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return format_duration(value)
    return str(value)


def _money(value: Any, places: int = 2) -> Decimal:
    quantum = Decimal(1).scaleb(-int(places))
    return to_decimal(value).quantize(quantum, rounding=ROUND_HALF_UP)


def _comma_decimal(value: Any, places: int = 2) -> str:
    return format(_money(value, places), "f").replace(".", ",")


def _strip_accents(value: Any) -> str:
    decomposed = unicodedata.normalize("NFD", format_value(value))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _date(value: Any, fmt: str = "%Y-%m-%d") -> str:
    value = concrete(value)
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    if not isinstance(value, dt.date):
        raise TemplateError(f"date filter needs a date, got {shown(value)}")
    return value.strftime(fmt)


FILTERS: dict[str, Callable[..., Any]] = {
    "add": lambda v, x: to_decimal(v) + to_decimal(x),
    "sub": lambda v, x: to_decimal(v) - to_decimal(x),
    "mul": lambda v, x: to_decimal(v) * to_decimal(x),
    "money": _money,
    "int": lambda v: int(to_decimal(v)),
    "comma_decimal": _comma_decimal,
    "upper": lambda v: format_value(v).upper(),
    "lower": lambda v: format_value(v).lower(),
    "title": lambda v: format_value(v).title(),
    "nfc": lambda v: unicodedata.normalize("NFC", format_value(v)),
    "nfd": lambda v: unicodedata.normalize("NFD", format_value(v)),
    "strip_accents": _strip_accents,
    "date": _date,
    # relative, as a {days_ago: N} value is: a case replayed on a later day means the same
    # day, and a var made with it stays consistent with a setup value made with it
    "days_ago": lambda v: DaysAgo(int(to_decimal(v))),
    "json": lambda v: orjson.dumps(v, default=format_value).decode(),
    "default": lambda v, x: x if v in (None, "") else v,
    "join": lambda v, sep=", ": _join(v, sep),
    "then": lambda v, yes, no="": yes if truthy(v) else no,
    "first_word": lambda v: format_value(v).split(" ")[0],
    "gt": lambda v, x: _compare(v, x) > 0,
    "ge": lambda v, x: _compare(v, x) >= 0,
    "lt": lambda v, x: _compare(v, x) < 0,
    "le": lambda v, x: _compare(v, x) <= 0,
    "eq": lambda v, x: _compare(v, x) == 0,
    "ne": lambda v, x: _compare(v, x) != 0,
    "not": lambda v: not truthy(v),
    "and": lambda v, x: truthy(v) and truthy(x),
    "or": lambda v, x: truthy(v) or truthy(x),
    "contains": lambda v, x: format_value(x).casefold() in format_value(v).casefold(),
    "abs": lambda v: abs(to_decimal(v)),
}


#: what a filter that can fail takes, for the fix its error names (the others: a number)
TAKES = {"join": "a list (a var drawn as a list)", "date": "a date"}


def _join(value: Any, sep: Any) -> str:
    if not isinstance(value, list | tuple):
        raise TemplateError(f"join needs a list, got {shown(value)}")
    return format_value(sep).join(format_value(v) for v in value)


def truthy(value: Any) -> bool:
    """How a `when:` condition reads a rendered value."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no", "none", "null")
    return bool(value)


def _compare(a: Any, b: Any) -> int:
    """Numbers compare as exact decimals, dates as dates, durations as durations (`24h`
    against a drawn length of time), anything else as text."""
    a, b = concrete(a), concrete(b)
    if isinstance(a, dt.timedelta) or isinstance(b, dt.timedelta):
        try:
            d1, d2 = parse_duration(a), parse_duration(b)
        except DurationError as exc:
            raise TemplateError(str(exc)) from None
        return (d1 > d2) - (d1 < d2)
    try:
        x, y = to_decimal(a), to_decimal(b)
    except TemplateError:
        if isinstance(a, dt.date) and isinstance(b, str):
            b = dt.date.fromisoformat(b)
        elif isinstance(b, dt.date) and isinstance(a, str):
            a = dt.date.fromisoformat(a)
        if isinstance(a, dt.date) and isinstance(b, dt.date):
            return (a > b) - (a < b)
        x2, y2 = format_value(a), format_value(b)
        return (x2 > y2) - (x2 < y2)
    return (x > y) - (x < y)
