"""Where a character of a suite's value stands in its file: `path:line:col` for a problem
found inside a value (a database's error in a query), through block scalars (`|`, `>`),
quotes and the templates the value was rendered from.

A scalar's span in the file is known from the loader (spec/loader.py); the parsed value is
aligned with it character by character, indentation, line folding and quotes skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.empty import empty_dict
from harness.errors import Problem
from harness.spec.loader import PathKey, Source, format_loc
from harness.spec.template import Template, TemplateError, format_value


@dataclass(frozen=True)
class Located:
    """Where a suite's scenarios and invariants are written: their files as parsed."""

    scenarios: dict[str, tuple[Source, int]] = field(default_factory=empty_dict)
    invariants: Source | None = None

    def scenario(self, scenario_id: str) -> tuple[Source, PathKey] | None:
        found = self.scenarios.get(scenario_id)
        return None if found is None else (found[0], ("scenarios", found[1]))


def problem_at(source: Source, loc: PathKey, message: str, offset: int | None = None) -> Problem:
    """A problem at a value's character `offset` (None: at the value, as the loader says)."""
    if offset is None:
        return source.problem(loc, message)
    line, col = value_position(source, loc, offset)
    return Problem(source.display, line, col, format_loc(loc), message)


def value_position(source: Source, loc: PathKey, offset: int) -> tuple[int, int]:
    """Line and column (1-based) of character `offset` of the string value at loc."""
    value = value_at(source.data, loc)
    span = source.spans.get(loc)
    if span is None or not isinstance(value, str):
        return source.where(loc)
    start, end, style = span
    raw = source.text[start:end]
    i = 0
    if style in ("|", ">"):
        i = raw.find("\n") + 1  # the header line: indicator, chomping, a comment
        if i == 0:
            return source.where(loc)
    elif style in ("'", '"'):
        i = 1
    offset = max(0, min(offset, len(value)))
    for ch in value[:offset]:
        i = _match(raw, i, ch)
        if i < 0:
            return source.where(loc)  # an escape the alignment cannot follow: the value
        i += 1
    target = value[offset] if offset < len(value) else None
    if target is not None:
        found = _match(raw, i, target)
        i = found if found >= 0 else i
    return _line_col(source.text, start + min(i, len(raw)))


def _match(raw: str, i: int, ch: str) -> int:
    """The index of the next character of raw that the value's `ch` was parsed from."""
    space = ch in " \t\n"
    while i < len(raw):
        if raw[i] == ch or (space and raw[i] in " \t\r\n"):
            return i
        i += 1
    return -1


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def value_at(data: Any, loc: PathKey) -> Any:
    """The value at a path of loaded YAML data, or None where the path leads nowhere."""
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def template_offset(source: str, context: Mapping[str, Any], offset: int) -> int:
    """Character `offset` of the template rendered with context, as an offset into the template
    itself; inside an inserted value, the start of its `{{`."""
    try:
        parts = Template(source).parts
    except TemplateError:
        return offset
    at = rendered = 0
    for part in parts:
        if isinstance(part, str):
            if offset < rendered + len(part):
                return at + offset - rendered
            at, rendered = at + len(part), rendered + len(part)
            continue
        end = source.find("}}", at) + 2
        try:
            width = len(format_value(part.evaluate(context)))
        except TemplateError:
            return at
        if offset < rendered + width:
            return at
        at, rendered = end, rendered + width
    return at + max(0, offset - rendered)


def strings(value: Any, loc: PathKey) -> Iterator[tuple[PathKey, str]]:
    """Every string inside a file's raw data with where it stands."""
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, (*loc, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from strings(item, (*loc, i))
