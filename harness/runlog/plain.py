"""A trial record read as the plain map orjson makes of its line, where that map is exactly
what validating the line into the types (`TrialRecord`) and writing them back gives: the
reports' reader (`read.each_data`) then skips pydantic, which took a quarter of a
100,000-case run's reports.

`plain_trial` says whether a map is such a record: the current schema's trial, every
object with exactly its class's fields in their order, and every value of exactly the type
the field declares (an int where a float is declared, a missing field, an older schema or
another kind of record is not: those are validated into the types as before, which may
convert, fill in or refuse them). The checks are generated once from the classes' own
annotations, as `core.types.as_map` is, so a field added to a class is checked at once.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from typing import Any

from pydantic import JsonValue

from harness.core.calls import ServiceRequest
from harness.core.failures import Failure
from harness.core.spans import Span, SpanEvent
from harness.core.types import (
    Case,
    CheckResult,
    FaultWindow,
    Observation,
    StoredFailure,
    TurnRecord,
)
from harness.runlog.models import SCHEMA_VERSION

#: the classes a trial record is made of, each checked by a generated function
CLASSES: tuple[type, ...] = (
    Case,
    Observation,
    TurnRecord,
    CheckResult,
    FaultWindow,
    Span,
    SpanEvent,
    ServiceRequest,
    Failure,
)
_SCALARS = (str, int, float, bool)


class _Compiler:
    """Python source of a check that a value is exactly of a type (see the module's text)."""

    def __init__(self) -> None:
        self.scope: dict[str, Any] = {}
        self.depth = 0

    def check(self, kind: Any, value: str) -> str:
        if kind is Any or kind is JsonValue:
            return "True"
        if kind is type(None):
            return f"{value} is None"
        if kind in _SCALARS:
            return f"type({value}) is {kind.__name__}"
        if kind == StoredFailure:  # a failure as the current schema stores it (a map)
            return f"({value} is None or _Failure({value}))"
        if isinstance(kind, type) and issubclass(kind, enum.StrEnum):
            name = f"_{kind.__name__}_values"
            self.scope[name] = frozenset(m.value for m in kind)
            return f"(type({value}) is str and {value} in {name})"
        if kind in CLASSES:
            return f"_{kind.__name__}({value})"
        origin, args = typing.get_origin(kind), typing.get_args(kind)
        if origin in (typing.Union, types.UnionType):
            return "(" + " or ".join(self.check(a, value) for a in args) + ")"
        if origin is dict and args[0] is str:
            return self._each("dict", args[1], f"{value}.values()", value)
        if origin is list or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
            return self._each("list", args[0], value, value)  # a tuple is stored as a list
        raise TypeError(f"no plain check for {kind!r}")  # a new field type: add it here

    def _each(self, container: str, kind: Any, items: str, value: str) -> str:
        inner = self._inner(kind, items)
        if inner is None:
            return f"type({value}) is {container}"
        return f"(type({value}) is {container} and {inner})"

    def _inner(self, kind: Any, items: str) -> str | None:
        """A check of every item of a container, or None: any item will do."""
        self.depth += 1
        item = f"x{self.depth}"
        inner = self.check(kind, item)
        self.depth -= 1
        return None if inner == "True" else f"all({inner} for {item} in {items})"

    def field(self, kind: Any, value: str) -> tuple[frozenset[type] | None, str | None]:
        """A field's check in two parts: the types its value may have (None: any), settled
        for all the fields of an object at once, and what else to check (None: nothing)."""
        if kind is Any or kind is JsonValue:
            return None, None
        if kind is type(None) or kind in _SCALARS:
            return frozenset({kind}), None
        if kind == StoredFailure:
            return frozenset({type(None), dict}), f"({value} is None or _Failure({value}))"
        if isinstance(kind, type) and issubclass(kind, enum.StrEnum):
            return frozenset({str}), self.check(kind, value)
        if kind in CLASSES:
            return frozenset({dict}), self.check(kind, value)
        origin, args = typing.get_origin(kind), typing.get_args(kind)
        if origin in (typing.Union, types.UnionType) and type(None) in args and len(args) == 2:
            (other,) = (a for a in args if a is not type(None))
            allowed, deep = self.field(other, value)
            if allowed is None:
                return None, None
            return allowed | {type(None)}, deep and f"({value} is None or {deep})"
        if origin is dict and args[0] is str:
            inner = self._inner(args[1], f"{value}.values()")
            return frozenset({dict}), inner and f"(not {value} or {inner})"
        if origin is list or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
            inner = self._inner(args[0], value)
            return frozenset({list}), inner and f"(not {value} or {inner})"
        raise TypeError(f"no plain check for {kind!r}")  # a new field type: add it here

    def function(self, cls: type) -> str:
        """The check of one class: its fields' names in order, their values' types at once
        (memoized by the tuple of types: a run's records have a few), then what else."""
        hints = typing.get_type_hints(cls, include_extras=True)
        names = tuple(f.name for f in dataclasses.fields(cls))
        name = cls.__name__
        parts = [self.field(hints[n], f"d[{n!r}]") for n in names]
        self.scope[f"_{name}_allowed"] = tuple(allowed for allowed, _ in parts)
        self.scope[f"_{name}_types"] = {}
        deep = "".join(f" and {d}" for _, d in parts if d)
        return (
            f"def _{name}(d):\n"
            f"    if type(d) is not dict or tuple(d) != {names!r}:\n"
            "        return False\n"
            "    kinds = tuple(map(type, d.values()))\n"
            f"    ok = _{name}_types.get(kinds)\n"
            "    if ok is None:\n"
            f"        ok = _types_ok(kinds, _{name}_allowed, _{name}_types)\n"
            f"    return ok{deep}\n"
        )


def _types_ok(
    kinds: tuple[type, ...], allowed: tuple[frozenset[type] | None, ...], seen: dict[Any, bool]
) -> bool:
    ok = all(a is None or k in a for k, a in zip(kinds, allowed, strict=True))
    if len(seen) < 4096:  # bounded by the kinds of JSON values, whatever the record says
        seen[kinds] = ok
    return ok


def _compile() -> dict[str, Callable[[Any], bool]]:
    compiler = _Compiler()
    source = "\n".join(compiler.function(cls) for cls in CLASSES)
    scope = {**compiler.scope, "_types_ok": _types_ok}
    exec(source, scope)  # generated from our own classes' field names and types only
    return {cls.__name__: scope[f"_{cls.__name__}"] for cls in CLASSES}


_CHECKS = _compile()
_case, _observation, _check = _CHECKS["Case"], _CHECKS["Observation"], _CHECKS["CheckResult"]


def plain_trial(data: Any) -> bool:
    """Whether `data` (orjson's map of a line of cases.jsonl) is a trial record of the current
    schema exactly as the types would give it back, so that it can be read as it is."""
    return (
        type(data) is dict
        and data.get("type") == "trial"
        and type(data.get("v")) is int
        and data["v"] == SCHEMA_VERSION
        and type(data.get("key")) is str
        and type(data.get("trial")) is int
        and data.get("load") is None
        and _case(data.get("case"))
        and _observation(data.get("observation"))
        and type(checks := data.get("checks")) is list
        and all(map(_check, checks))
    )
