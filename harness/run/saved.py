"""A case's values as a regression file keeps them, and back, exactly.

Format 2 (what `harness hunt` saves): `vars`, `setup` and `variant_setups` hold plain YAML
(text, numbers, booleans, null, lists, mappings), read as values and never as
generators, so a value that is a mapping (a choice of mappings: `{said: 2pm, hm:
"14:00"}`) is a mapping. What YAML has no type for is written as text or as its stored
mapping, and named in `types`, a mapping of the same shape whose leaves are type names:

    vars: {amount: "500.01", form: {said: 2pm, hm: "14:00"}, since: {days_ago: 12}}
    types: {vars: {amount: decimal, since: relative}}

Format 1 (files saved before): values were written like generators, so a relative date
was `{days_ago: 12}` and a number was text; a mapping with no generator key is read as
the mapping it is, and anything else that reads as a generator cannot be replayed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import TypeAdapter, ValidationError

from harness.spec import models as m
from harness.spec.clock import parse_duration
from harness.spec.relative import DateText, Relative
from harness.spec.template import format_value

#: a value's type name in `types` -> how its text or mapping becomes the value again
READERS: dict[str, Callable[[Any], Any]] = {
    "decimal": lambda v: _decimal(v),
    "date": lambda v: dt.date.fromisoformat(_text(v)),
    "datetime": lambda v: dt.datetime.fromisoformat(_text(v)),
    "time": lambda v: dt.time.fromisoformat(_text(v)),
    "bytes": lambda v: bytes.fromhex(_text(v)),
    "duration": lambda v: parse_duration(_text(v)),
}

_SPEC: TypeAdapter[Any] | None = None


def _spec() -> TypeAdapter[Any]:
    global _SPEC
    if _SPEC is None:
        _SPEC = TypeAdapter(m.ValueSpec)
    return _SPEC


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {value!r}")
    return value


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(_text(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None


def _type_of(value: Any) -> str | None:
    """The type name a value is stored under; None: plain YAML keeps it as it is."""
    if isinstance(value, Relative):
        return "relative"
    if isinstance(value, bool | int | float | str) or value is None:
        return None
    for name, kind in (
        ("decimal", Decimal),
        ("datetime", dt.datetime),  # before date: a datetime is a date too
        ("date", dt.date),
        ("time", dt.time),
        ("bytes", bytes),
        ("duration", dt.timedelta),
    ):
        if isinstance(value, kind):
            return name
    return None


def plain(value: Any) -> tuple[Any, Any]:
    """(what YAML keeps, its types: a type name, a mapping of the parts' types, or None)."""
    if isinstance(value, Relative):
        return value.stored(), "relative"
    if isinstance(value, Mapping):
        out, types = {}, {}
        for k, v in value.items():
            key = k if isinstance(k, str | int) and not isinstance(k, bool) else str(k)
            out[key], t = plain(v)
            if t is not None:
                types[key] = t
        return out, types or None
    if isinstance(value, list | tuple | set | frozenset):
        items = [plain(v) for v in value]
        types = {i: t for i, (_, t) in enumerate(items) if t is not None}
        return [v for v, _ in items], types or None
    kind = _type_of(value)
    if kind == "bytes":
        return value.hex(), kind
    if kind is not None:
        return format_value(value), kind
    if isinstance(value, bool | int | float | str) or value is None:
        return value, None
    return format_value(value), None  # a type YAML and the run log keep only as text


def stored(
    values: Mapping[str, Any], setup: Mapping[str, Any], variants: list[Any]
) -> dict[str, Any]:
    """The sections a format-2 file holds for a case's values."""
    out: dict[str, Any] = {}
    types: dict[str, Any] = {}
    for section, value in (("vars", values), ("setup", setup), ("variant_setups", variants)):
        if section == "variant_setups" and not variants:
            continue
        out[section], t = plain(value)
        if t is not None:
            types[section] = t
    return out | ({"types": types} if types else {})


def type_at(types: Mapping[str, Any], loc: tuple[str | int, ...]) -> Any:
    """The types of the value at loc (a name, a mapping of its parts', or None)."""
    here: Any = types
    for part in loc:
        if not isinstance(here, Mapping):
            return None
        here = here.get(part, here.get(str(part)) if isinstance(part, int) else None)
    return here


def value(raw: Any, types: Any, fmt: int, literal: Callable[[Any], Any]) -> Any:
    """A stored value back as the case had it. `literal` turns a relative generator model
    (`{days_ago: 12}`) into its relative value."""
    if fmt == 1:
        return _format_1(raw, literal)
    if isinstance(types, str):
        if types == "relative":
            return _relative(raw, literal)
        if types not in READERS:
            raise ValueError(f"unknown type {types!r}; one of relative, {', '.join(READERS)}")
        return READERS[types](raw)
    if isinstance(raw, Mapping):
        return {k: value(v, type_at(types or {}, (k,)), fmt, literal) for k, v in raw.items()}
    if isinstance(raw, list):
        return [value(v, type_at(types or {}, (i,)), fmt, literal) for i, v in enumerate(raw)]
    if types is not None:
        raise ValueError(f"types gives {types!r} for a single value")
    return raw


def _relative(raw: Any, literal: Callable[[Any], Any]) -> Relative:
    """A relative value from its stored mapping (`Relative.stored()`)."""
    if isinstance(raw, Mapping) and isinstance(raw.get("date_text"), Mapping):
        return DateText(_relative(raw["date_text"], literal), _text(raw.get("formats")))
    found = literal(_spec().validate_python(raw))
    if not isinstance(found, Relative):
        raise ValueError(f"{raw!r} is no relative date or time")
    return found


def _format_1(raw: Any, literal: Callable[[Any], Any]) -> Any:
    if isinstance(raw, Mapping) and not any(k in raw for k in m.GENERATOR_KEYS):
        return dict(raw)  # a mapping value (e.g. from a choice of mappings), never a generator
    if isinstance(raw, list):
        return list(raw)
    return literal(_spec().validate_python(raw))


def reason(exc: Exception) -> str:
    """What is wrong with a stored value, in one line."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return (
            "a saved value reads as a value generator, not a value "
            f"({first['msg']}); save the case again with this version (harness hunt) "
            "or delete the file"
        )
    return str(exc)
