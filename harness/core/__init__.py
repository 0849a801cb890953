"""The frozen vocabulary of the harness: case, observation, verdict, failure, severity, events.

Everything above (spec loading aside) speaks in these types; nothing here imports a
provider, an adapter or a report. Names load on first use, so a command that only needs
the events (`harness --help`) does not pay for pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.core.failures import (
        Category,
        Failure,
        FailureKey,
        FailureKind,
        FailureShape,
        Severity,
    )
    from harness.core.types import (
        SWEEP_CASE,
        TWIN,
        Case,
        CaseResult,
        CheckResult,
        DependencyInfo,
        Observation,
        TurnRecord,
        Verdict,
        dumps,
        to_jsonable,
    )

_WHERE = {
    **dict.fromkeys(
        ("Category", "Failure", "FailureKey", "FailureKind", "FailureShape", "Severity"), "failures"
    ),
    **dict.fromkeys(
        (
            "SWEEP_CASE",
            "TWIN",
            "Case",
            "CaseResult",
            "CheckResult",
            "DependencyInfo",
            "Observation",
            "TurnRecord",
            "Verdict",
            "dumps",
            "to_jsonable",
        ),
        "types",
    ),
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'harness.core' has no attribute {name!r}")
    return getattr(importlib.import_module(f"harness.core.{module}"), name)


__all__ = [
    "SWEEP_CASE",
    "TWIN",
    "Case",
    "CaseResult",
    "Category",
    "CheckResult",
    "DependencyInfo",
    "Failure",
    "FailureKey",
    "FailureKind",
    "FailureShape",
    "Observation",
    "Severity",
    "TurnRecord",
    "Verdict",
    "dumps",
    "to_jsonable",
]
