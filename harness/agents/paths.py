"""JSON paths into a reply (`messages[-1].content`): parsed once, followed into the data,
and, for a path that finds nothing, the reply's closest one."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

_STEP = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")
PATHS_LISTED = 500  # a reply's paths looked through for the closest, at most


@lru_cache(maxsize=512)
def parse_path(path: str) -> tuple[str | int, ...]:
    """`messages[-1].content` -> ("messages", -1, "content")."""
    steps: list[str | int] = []
    for name, index in _STEP.findall(path):
        steps.append(int(index) if index else name)
    return tuple(steps)


def get_path(data: Any, path: str) -> tuple[Any, bool]:
    """The value at a JSON path, and whether it is there (a null value is there)."""
    current = data
    for step in parse_path(path):
        if isinstance(step, int):
            if isinstance(current, list) and -len(current) <= step < len(current):
                current = current[step]
                continue
            return None, False
        if isinstance(current, Mapping) and step in current:
            current = current[step]
        elif isinstance(current, list) and step.isdigit() and int(step) < len(current):
            current = current[int(step)]
        else:
            return None, False
    return current, True


def near_path(path: str, data: Any) -> str:
    """The hint for a path that found nothing: the reply's closest path, as `did_you_mean`
    says it ("(did you mean 'visit.id'?)" after a space), or nothing."""
    from harness.spec.loader import did_you_mean

    paths: list[str] = []
    stack: list[tuple[str, Any]] = [("", data)]
    while stack and len(paths) < PATHS_LISTED:
        at, value = stack.pop()
        if isinstance(value, Mapping):
            inner: Any = ((f"{at}.{k}" if at else str(k), v) for k, v in value.items())
        elif isinstance(value, list):  # written as a path is: `messages[0]`
            inner = ((f"{at}[{i}]", v) for i, v in enumerate(value[:20]))
        else:
            continue
        for path_to, v in inner:
            paths.append(path_to)
            stack.append((path_to, v))
    return did_you_mean(path, paths)
