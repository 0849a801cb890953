"""Events the engine emits; the CLI, the reports and tests consume them. The engine never prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.core import CaseResult
from harness.deps.base import DependencyInfo


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    suite: str
    run_dir: str
    total: int  # (case, trial) pairs: cases x trials
    already_done: int = 0
    resumed: bool = False
    trials: int = 1
    regressions: int = 0  # of the cases, known regression cases replayed first


@dataclass(frozen=True)
class Note:
    """Something a person should know while the run goes on (what was chosen and why)."""

    text: str
    level: str = "info"


@dataclass(frozen=True)
class DependencyReady:
    info: DependencyInfo


@dataclass(frozen=True)
class AgentReady:
    pid: int | None
    seconds: float
    log_path: str


@dataclass(frozen=True)
class CaseFinished:
    result: CaseResult


@dataclass(frozen=True)
class RunFinished:
    run_id: str
    status: str  # finished | interrupted | failed
    cases: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class HuntProgress:
    tried: int
    found: int
    seconds_left: float
    scenario: str


@dataclass(frozen=True)
class HuntFound:
    """A new divergence, shrunk and saved (`details`: signature, case, requirement, path...)."""

    details: dict[str, Any]


@dataclass(frozen=True)
class LoadProgress:
    """Where a load run stands: time, users, traffic and what the judged cases showed."""

    seconds: float
    length: float
    users: int
    requests: int
    judged: int
    passed: int
    violations: int  # invariant violations in judged cases (whole-database samples: report)


Event = (
    RunStarted
    | Note
    | DependencyReady
    | AgentReady
    | CaseFinished
    | RunFinished
    | HuntProgress
    | HuntFound
    | LoadProgress
)
Emit = Callable[[Event], None]


def ignore(_: Any) -> None:
    """An emit that drops every event."""
