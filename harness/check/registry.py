"""Check types by name: each is registered once, with its category and its judge.

A check module registers its types when imported (`register(CheckKind(...))`); every
module of `harness/check/` is imported the first time a type is looked up, so a new check
type is one new module here plus its model in `harness/spec/models` (added to the `Check`
union). The engine, the preflight against the real schema and the check inventory all
dispatch through `kind_of`, never through `isinstance` ladders.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.core.failures import Category, FailureKind
from harness.core.types import CheckResult, Observation
from harness.empty import empty_dict

if TYPE_CHECKING:
    from harness.check.state import Targets
    from harness.spec import models as m
    from harness.spec.suite import Suite
    from harness.spec.template import Template


@dataclass
class Judging:
    """What a judge may look at for one trial: the replies, the templates' context, the real
    systems, and what `observe` hooks saw after the scenario's turns and each variant."""

    suite: Suite
    replies: list[str | None]
    context: Mapping[str, Any]
    targets: Targets
    cache: dict[str, Template]
    observation: Observation
    observed: dict[str, list[Any]] = field(default_factory=empty_dict)  # check id -> per variant


Judge = Callable[[Any, str, Judging], Awaitable[CheckResult]]
#: what a check needs to see after the scenario's own turns and after each variant
Observe = Callable[
    [Any, "Suite", "Targets", Mapping[str, Any], dict[str, "Template"]], Awaitable[Any]
]


@dataclass(frozen=True)
class SchemaQuery:
    """A query of a check, tried against the real schema before any agent starts."""

    database: str | None
    query: str
    params: Any


@dataclass(frozen=True)
class CheckKind:
    types: tuple[str, ...]
    category: Category
    judge: Judge
    #: checks that compare what several variants left (same_state) observe after each
    observe: Observe | None = None
    #: the query (if any) preflight tries against the real schema
    schema_query: Callable[[Any], SchemaQuery | None] | None = None
    #: the same judge, for a kind that never waits (output checks): called without a
    #: coroutine of its own, the engine judges thousands of checks a second
    judge_now: Callable[[Any, str, Judging], CheckResult] | None = None


_KINDS: dict[str, CheckKind] = {}
_loaded = False


def register(kind: CheckKind) -> CheckKind:
    for name in kind.types:
        if name in _KINDS and _KINDS[name] is not kind:
            raise RuntimeError(f"check type {name!r} is registered twice")
        _KINDS[name] = kind
    return kind


def _load() -> None:
    """Import every check module once, so each registers its types."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import harness.check as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name != "registry":
            importlib.import_module(f"harness.check.{info.name}")


def kind_of(check: m.CheckBase | str) -> CheckKind:
    """The registered kind of a check (or a check type name)."""
    _load()
    name = check if isinstance(check, str) else str(check.type)  # type: ignore[attr-defined]
    try:
        return _KINDS[name]
    except KeyError:
        raise LookupError(f"no check type {name!r} is registered") from None


def category_of(check: m.CheckBase) -> Category:
    return kind_of(check).category


def judge_error(
    check: Any, cid: str, message: str, cause: FailureKind, category: str | None = None
) -> CheckResult:
    """An error verdict for a check (or an invariant) that could not be judged, and why."""
    from harness.core.types import Verdict

    if category is None:
        category = kind_of(check).category.value
    return CheckResult(
        check_id=cid,
        check_type=getattr(check, "type", "invariant"),
        category=category,
        requirements=tuple(check.requirements),
        verdict=Verdict.ERROR,
        message=message,
        cause=cause,
    )
