"""The frozen vocabulary of the harness: case, observation, verdict, failure, severity, events.

Everything above (spec loading aside) speaks in these types; nothing here imports a
provider, an adapter or a report.
"""

from harness.core.failures import Category, Failure, FailureKey, FailureKind, Severity
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
    "Observation",
    "Severity",
    "TurnRecord",
    "Verdict",
    "dumps",
    "to_jsonable",
]
