"""YAML with positions, and pydantic errors turned into `path:line:col: key.path: message`."""

from __future__ import annotations

import contextlib
import difflib
import os
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from harness.empty import empty_dict, empty_set
from harness.errors import Problem
from harness.spec.limits import FileLimit, file_limit

PathKey = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Source:
    """One parsed YAML file: its data and where every key and value stands in the text."""

    path: Path
    data: Any
    display: str
    values: dict[PathKey, tuple[int, int]] = field(default_factory=empty_dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=empty_dict)
    #: the file's text, and each scalar's span in it with its style ('', '|', '>', "'", '"'):
    #: where a character of a value stands in the file (spec/positions.py)
    text: str = ""
    spans: dict[PathKey, tuple[int, int, str]] = field(default_factory=empty_dict)
    #: the collections met while building, to tell an alias's expansion from a large file
    nodes: set[int] = field(default_factory=empty_set, repr=False)
    aliased: bool = False

    def where(self, loc: PathKey, *, key: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of the value at loc, or of its nearest located parent."""
        table = self.keys if key else self.values
        probe = loc
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))

    def problem(self, loc: PathKey, message: str, *, key: bool = False) -> Problem:
        line, col = self.where(loc, key=key)
        return Problem(self.display, line, col, format_loc(loc), message)


def format_loc(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def did_you_mean(word: str, candidates: typing.Iterable[str]) -> str:
    match = _close(word, candidates)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _close(word: str, candidates: typing.Iterable[str]) -> list[str]:
    return difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_yaml(path: Path, limit: FileLimit | None = None) -> tuple[Source | None, list[Problem]]:
    """Parse one YAML file, keeping line and column of every key and value. A file over the
    size limit is refused before it is read: seconds and bounded memory, whatever it holds."""
    display = display_path(path)
    limit = limit or file_limit()
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            raw = f.read(limit.value + 1) if size <= limit.value else b""
        size = max(size, len(raw))
        if size > limit.value:
            return None, [Problem(display, 1, 1, "", limit.refusal(size))]
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(display, 1, 1, "", f"cannot read the file: {exc}")]
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, [Problem(display, line, col, "", f"invalid YAML: {exc.problem or exc}")]
    finally:
        loader.dispose()
    source = Source(path, None, display, text=text)
    if node is None:
        return None, [Problem(display, 1, 1, "", "the file is empty")]
    problems: list[Problem] = []
    try:
        source.data = _build(node, (), source, problems, loader)
        source.nodes.clear()
    except _TooBig:  # e.g. nested aliases ("billion laughs"): bounded, never hung
        return None, [
            Problem(
                display,
                1,
                1,
                "",
                f"the file expands to more than {MAX_VALUES:,} keys and values through YAML "
                "aliases (an alias of an alias of ...?); nothing was loaded"
                if source.aliased
                else f"the file holds more than {MAX_VALUES:,} keys and values, more than a "
                "suite file should; nothing was loaded (split it into several files)",
            )
        ]
    return source, problems


MAX_VALUES = 200_000  # keys and values one suite file may expand to


class _TooBig(Exception):
    pass


def _build(
    node: yaml.Node, loc: PathKey, source: Source, problems: list[Problem], loader: Any
) -> Any:
    source.values[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if len(source.values) > MAX_VALUES:
        raise _TooBig
    if isinstance(node, yaml.CollectionNode):
        if id(node) in source.nodes:
            source.aliased = True
        source.nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                problems.append(
                    Problem(source.display, line, col, format_loc(loc), "keys must be plain text")
                )
                continue
            key = str(key) if not isinstance(key, int) or isinstance(key, bool) else key
            sub = (*loc, key)
            source.keys[sub] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in out:
                problems.append(source.problem(sub, f"duplicate key {key!r}", key=True))
            out[key] = _build(value_node, sub, source, problems, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, (*loc, i), source, problems, loader) for i, item in enumerate(node.value)
        ]
    source.spans[loc] = (
        node.start_mark.index,
        node.end_mark.index,
        getattr(node, "style", "") or "",
    )
    if (
        node.tag == "tag:yaml.org,2002:float"
        and len(loc) in (2, 3)
        and loc[0] == "parameters"
        and loc[2:] in ((), ("value",))
    ):
        # a spec parameter keeps the digits it was written with: 500.00 is 500.00, not 500.0
        with contextlib.suppress(InvalidOperation, ValueError):
            number = Decimal(str(node.value).replace("_", ""))
            if number.is_finite():
                return number
    return loader.construct_object(node, deep=True)


# --------------------------------------------------------------------------- pydantic errors


def validate_model(source: Source, model: type[M]) -> tuple[M | None, list[Problem]]:
    try:
        return model.model_validate(source.data), []
    except ValidationError as exc:
        errors = exc.errors()
    # a misspelt required key is one mistake: its "unknown key (did you mean ...?)" says it all,
    # so the key's "missing required key" is not listed besides
    meant = {
        (*err["loc"][:-1], match[0])
        for err in errors
        if err["type"] == "extra_forbidden"
        and (match := _close(str(err["loc"][-1]), _fields_at(model, err["loc"])))
    }
    return None, [
        _problem(source, model, err)
        for err in errors
        if not (err["type"] == "missing" and tuple(err["loc"]) in meant)
    ]


def _resolve(data: Any, loc: Sequence[str | int]) -> tuple[PathKey, list[str | int]]:
    """Split a pydantic loc into the part found in the data and the part that is not."""
    found: list[str | int] = []
    current = data
    rest = list(loc)
    while rest:
        part = rest[0]
        if len(rest) > 1 and _has(current, part) and _is_tag(current, part, rest[1]):
            rest.pop(0)  # a generator's tag that is also its key: {boundary: x, margin: ...}
            continue
        if _has(current, part):
            current = current[part]
        elif isinstance(current, dict | list) and len(rest) > 1 and isinstance(part, str):
            rest.pop(0)  # a union tag pydantic puts in the loc; not a key of the file
            continue
        else:
            break
        found.append(part)
        rest.pop(0)
    return tuple(found), rest


def _has(container: Any, part: str | int) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)


def _problem(source: Source, model: type[BaseModel], err: Any) -> Problem:
    loc = tuple(err["loc"])
    kind = err["type"]
    found, rest = _resolve(source.data, loc)
    fields = _fields_at(model, loc)
    if kind == "extra_forbidden":
        key = loc[-1]
        hint = did_you_mean(str(key), fields) if fields else ""
        allowed = f"; allowed here: {', '.join(sorted(fields))}" if fields and not hint else ""
        return source.problem(found, f"unknown key {key!r}{hint}{allowed}", key=True)
    if kind == "unknown_name":  # a name written as a key (a toxic's attribute): at the key
        return source.problem(found, err["msg"], key=True)
    if kind == "missing":
        name = rest[-1] if rest else loc[-1]
        return source.problem(found, f"missing required key {name!r}")
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        tag = ctx.get("tag", "")
        expected = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        if tag == "mapping":
            keys = list(err["input"]) if isinstance(err["input"], dict) else []
            hint = next(
                (did_you_mean(str(k), expected) for k in keys if did_you_mean(str(k), expected)), ""
            )
            return source.problem(
                found,
                "a value generator needs one of the keys "
                + ", ".join(t for t in expected if t != "literal")
                + hint,
            )
        return source.problem(
            (*found, "type") if (*found, "type") in source.values else found,
            f"unknown type {tag!r}{did_you_mean(tag, expected)}; one of: {', '.join(expected)}",
        )
    if kind == "union_tag_not_found":
        disc = err.get("ctx", {}).get("discriminator", "type").strip("'")
        return source.problem(found, f"missing required key {disc}")
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        options = [o.strip(" '") for o in expected.replace(" or ", ",").split(",")]
        got = err.get("input")
        return source.problem(
            found, f"{got!r} is not allowed; use {expected}{did_you_mean(str(got), options)}"
        )
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    shown = _short(err.get("input"))
    if kind not in ("value_error", "assertion_error") and shown is not None:
        message += f" (got {shown})"
    return source.problem(found, message[0].lower() + message[1:] if message else message)


def _short(value: Any) -> str | None:
    if isinstance(value, dict | list):
        return type(value).__name__
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fields_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys a mapping may hold at loc's parent, walking the model's types."""
    tp: Any = model
    for part in loc[:-1]:
        tp = _step(tp, part)
        if tp is None:
            return []
    return _field_names(tp)


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return tp


def _members(tp: Any) -> list[Any]:
    tp = _unwrap(tp)
    if get_origin(tp) in (Union, types.UnionType):
        out: list[Any] = []
        for arg in get_args(tp):
            out.extend(_members(arg))
        return out
    return [tp]


def _is_tag(current: Any, part: str | int, after: str | int) -> bool:
    """Whether `part` is a union tag naming a key of `current` while the error is about a
    sibling key (`after`), rather than a key to descend into."""
    return isinstance(current, dict) and _has(current, after) and not _has(current[part], after)


def _field_names(tp: Any) -> list[str]:
    names: list[str] = []
    for member in _members(tp):
        if isinstance(member, type) and issubclass(member, BaseModel):
            for name, info in member.model_fields.items():
                names.append(info.alias or name)
    return names


def _step(tp: Any, part: str | int) -> Any:
    for member in _members(tp):
        origin = get_origin(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            if isinstance(part, str):
                for name, info in member.model_fields.items():
                    if part in (name, info.alias):
                        return info.annotation
                if _tag_matches(member, part):
                    return member
        elif origin in (list, tuple) and isinstance(part, int):
            return get_args(member)[0]
        elif origin is dict:
            return get_args(member)[1]
    if isinstance(part, str) and any(isinstance(m, type) for m in _members(tp)):
        return tp  # a union tag pydantic puts in the loc (e.g. "settings"): same level
    return None


def _tag_matches(member: type[BaseModel], tag: str) -> bool:
    for disc in ("type", "kind", "shape"):
        info = member.model_fields.get(disc)
        if info is not None and tag in get_args(_unwrap(info.annotation)):
            return True
    return any(tag == name for name in member.model_fields)
