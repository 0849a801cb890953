"""`{{ path | filter(arg) }}` templates: the only way suite text refers to values.

Templates are parsed once when a suite loads, so unknown names and filters are
configuration errors with a file position, never surprises halfway through a run.
Nothing in a template is ever evaluated as code: a path is looked up, a filter is
a function from a fixed registry.
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import orjson

from harness.spec.clock import DurationError, format_duration, parse_duration
from harness.spec.relative import DaysAgo, Relative

__all__ = ["DaysAgo", "Relative", "Template", "TemplateError", "concrete", "format_value"]

_EXPR = re.compile(r"\{\{(.*?)\}\}", re.S)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_ARG = re.compile(
    r"""\s*(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|(?P<num>-?\d+(?:\.\d+)?)|(?P<kw>true|false|null)"""
    r"""|(?P<path>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*))\s*(?:,|$)"""
)


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
    "days_ago": lambda v: dt.date.today() - dt.timedelta(days=int(to_decimal(v))),
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


@dataclass(frozen=True, slots=True)
class Filter:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class PathArg:
    """A filter argument that names a value, e.g. `gt(params.approval_limit)`."""

    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Expr:
    """One `{{ ... }}`: a dotted path and the filters applied to it, left to right."""

    path: tuple[str, ...]
    filters: tuple[Filter, ...]
    source: str

    def paths(self) -> Iterator[tuple[str, ...]]:
        yield self.path
        for f in self.filters:
            yield from (a.path for a in f.args if isinstance(a, PathArg))

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        filters = self.filters
        try:
            value = _walk(self.path, context)
        except TemplateError:
            # a name that is not there (a reply field the agent left out) is an error, unless
            # the expression gives a default: then the filters run from that default on
            first = next((i for i, f in enumerate(filters) if f.name == "default"), None)
            if first is None:
                raise
            value, filters = None, filters[first:]
        for f in filters:
            args = [_walk(a.path, context) if isinstance(a, PathArg) else a for a in f.args]
            try:
                value = FILTERS[f.name](value, *args)
            except (ValueError, TypeError, ArithmeticError) as exc:  # TemplateError included
                takes = TAKES.get(f.name, "a number")
                raise TemplateError(
                    f"filter {f.name!r} on {{{{{self.source}}}}}: {exc}; fix the template: "
                    f"{f.name} takes {takes} (README, Template language)"
                ) from exc
        return value


def _walk(path: tuple[str, ...], context: Mapping[str, Any]) -> Any:
    value: Any = context
    for i, part in enumerate(path):
        # a dict, the usual step, is known before the ABC check
        if (type(value) is dict or isinstance(value, Mapping)) and part in value:
            value = value[part]
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise TemplateError(f"{'.'.join(path[: i + 1])} is not defined")
    return value


def _parse_args(text: str, source: str) -> tuple[Any, ...]:
    args: list[Any] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _ARG.match(text, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"cannot read the filter arguments in {{{{{source}}}}}")
        if m.group("sq") is not None:
            args.append(m.group("sq"))
        elif m.group("dq") is not None:
            args.append(m.group("dq"))
        elif m.group("num") is not None:
            num = m.group("num")
            args.append(Decimal(num) if "." in num else int(num))
        elif m.group("kw") is not None:
            args.append({"true": True, "false": False, "null": None}[m.group("kw")])
        else:
            args.append(PathArg(tuple(m.group("path").split("."))))
        pos = m.end()
    return tuple(args)


def _check_arity(name: str, args: tuple[Any, ...], source: str) -> None:
    """A filter given too many or too few arguments is found when the suite loads."""
    params = list(inspect.signature(FILTERS[name]).parameters.values())[1:]
    least = sum(p.default is inspect.Parameter.empty for p in params)
    if not least <= len(args) <= len(params):
        wanted = f"{least}" if least == len(params) else f"{least} to {len(params)}"
        raise TemplateError(
            f"filter {name!r} takes {wanted} argument(s), {len(args)} given, in {{{{{source}}}}}"
        )


def parse_expr(source: str) -> Expr:
    """Parse the inside of one `{{ ... }}`."""
    parts = [p.strip() for p in source.split("|")]
    path = tuple(parts[0].split("."))
    if not parts[0] or not all(_NAME.match(p) or p.isdigit() for p in path):
        raise TemplateError(f"{{{{{source}}}}} must start with a dotted name such as params.limit")
    filters: list[Filter] = []
    for raw in parts[1:]:
        name, _, rest = raw.partition("(")
        name = name.strip()
        if name not in FILTERS:
            raise TemplateError(
                f"unknown filter {name!r} in {{{{{source}}}}}; known filters: "
                + ", ".join(sorted(FILTERS))
            )
        args = ()
        if rest:
            if not rest.rstrip().endswith(")"):
                raise TemplateError(f"missing ')' after the arguments of {name!r}")
            args = _parse_args(rest.rstrip()[:-1], source)
        _check_arity(name, args, source)
        filters.append(Filter(name, args))
    return Expr(path, tuple(filters), source.strip())


class Template:
    """A parsed template. A template that is exactly one expression keeps its value's type."""

    __slots__ = ("_single", "parts", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        parts: list[str | Expr] = []
        pos = 0
        for m in _EXPR.finditer(source):
            if m.start() > pos:
                parts.append(source[pos : m.start()])
            parts.append(parse_expr(m.group(1)))
            pos = m.end()
        if pos < len(source):
            parts.append(source[pos:])
        if ("{{" in source and not any(isinstance(p, Expr) for p in parts)) or any(
            isinstance(p, str) and "{{" in p for p in parts
        ):
            raise TemplateError("an opening '{{' has no closing '}}'")
        self.parts: tuple[str | Expr, ...] = tuple(parts)
        self._single = parts[0] if len(parts) == 1 and isinstance(parts[0], Expr) else None

    @property
    def is_literal(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    def expressions(self) -> Iterator[Expr]:
        return (p for p in self.parts if isinstance(p, Expr))

    def paths(self) -> Iterator[tuple[str, ...]]:
        """Every name the template reads: expression paths and path arguments of filters."""
        for expr in self.expressions():
            yield from expr.paths()

    def render(self, context: Mapping[str, Any]) -> Any:
        if self._single is not None:
            return self._single.evaluate(context)
        out = []
        for p in self.parts:  # a loop, not a comprehension: one call less, every turn
            out.append(p if isinstance(p, str) else format_value(p.evaluate(context)))
        return "".join(out)

    def render_text(
        self, context: Mapping[str, Any], literal: Callable[[str], str] | None = None
    ) -> str:
        """The template as text; `literal` rewrites only the template's own words, never
        the values it inserts."""
        if literal is None:
            return format_value(self.render(context))
        return "".join(
            literal(p) if isinstance(p, str) else format_value(p.evaluate(context))
            for p in self.parts
        )

    def __repr__(self) -> str:
        return f"Template({self.source!r})"


def has_template(text: str) -> bool:
    return "{{" in text


def render_deep(value: Any, context: Mapping[str, Any], cache: dict[str, Template]) -> Any:
    """Render every template inside nested lists and mappings, keeping other values."""
    if type(value) is dict:  # before the ABC checks below: a request's body, every turn
        return {k: render_deep(v, context, cache) for k, v in value.items()}
    if isinstance(value, str):
        if "{{" not in value:
            return value
        tpl = cache.get(value)
        if tpl is None:
            tpl = cache[value] = Template(value)
        return tpl.render(context)
    if type(value) is dict or isinstance(value, Mapping):  # a dict: no ABC check
        return {k: render_deep(v, context, cache) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_deep(v, context, cache) for v in value]
    return value


def iter_templates(value: Any) -> Iterator[str]:
    """Every string holding a template inside nested lists and mappings."""
    if isinstance(value, str):
        if "{{" in value:
            yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from iter_templates(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from iter_templates(v)
