"""`{{ path | filter(arg) }}` templates: the only way suite text refers to values.

Templates are parsed once when a suite loads, so unknown names and filters are
configuration errors with a file position, never surprises halfway through a run.
Nothing in a template is ever evaluated as code: a path is looked up, a filter is
a function from a fixed registry.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from harness.spec.compiled import compile_parts
from harness.spec.filters import (
    FILTERS,
    TAKES,
    TemplateError,
    concrete,
    format_value,
    shown,
    to_decimal,
    truthy,
)
from harness.spec.relative import DaysAgo, Relative

__all__ = [
    "DaysAgo",
    "Relative",
    "Template",
    "TemplateError",
    "concrete",
    "format_value",
    "shown",
    "to_decimal",
    "truthy",
]

COMPILE_AFTER = 8  # renders before a template is compiled: a suite's one-off templates never are
_EXPR = re.compile(r"\{\{(.*?)\}\}", re.S)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_ARG = re.compile(
    r"""\s*(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|(?P<num>-?\d+(?:\.\d+)?)|(?P<kw>true|false|null)"""
    r"""|(?P<path>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*))\s*(?:,|$)"""
)


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

    __slots__ = ("_fast", "_renders", "_single", "parts", "source")

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
        self._fast: Callable[[Mapping[str, Any]], Any] | None = None
        self._renders = 0  # compiled once rendered a few times (spec/compiled.py), not before

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
        if self._fast is not None:
            return self._fast(context)
        if self._renders < COMPILE_AFTER:
            self._renders += 1
            if self._renders == COMPILE_AFTER:
                self._fast = compile_parts(self.parts, format_value, self._interpret)
        return self._interpret(context)

    def _interpret(self, context: Mapping[str, Any]) -> Any:
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
