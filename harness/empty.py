"""Default factories of empty containers, for a model's or a dataclass's field that starts
empty: `Field(default_factory=empty_list)` where one would write `list` (a test holds to it).

Why not `list` itself: pydantic asks every default factory for its signature (does it take
the validated data?), and for a builtin type `inspect.signature` parses the type's text
signature with `tokenize`. Timed inside a 1-case `harness run`, that check took 26 ms of its
start-up over the models it builds (benchmarks/RESULTS.md, 2026-12-07, evening); a Python
function's signature is read at once.
"""

from __future__ import annotations

from typing import Any


def empty_list() -> list[Any]:
    return []


def empty_dict() -> dict[Any, Any]:
    return {}


def empty_set() -> set[Any]:
    return set()
