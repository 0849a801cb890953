"""Events a session emits; the CLI, the reports and tests consume them. Nothing that emits
them prints. Every event carries the moment it happened (`at`, epoch seconds)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from harness.empty import empty_dict

if TYPE_CHECKING:
    from harness.core.types import CaseResult, DependencyInfo


class Status(StrEnum):
    """How a session ended (or that it still runs): the one closed set every command uses."""

    RUNNING = "running"
    FINISHED = "finished"  # its driver ran to the end
    INTERRUPTED = "interrupted"  # Ctrl-C, SIGTERM or SIGHUP: finished work kept, resumable
    FAILED = "failed"  # the harness, a dependency or the agent's process failed


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    suite: str
    run_dir: str
    total: int  # (case, trial) pairs: cases x trials; scenarios for a hunt
    already_done: int = 0
    resumed: bool = False
    trials: int = 1
    regressions: int = 0  # of the cases, known regression cases replayed first
    kind: str = "run"
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class RunKept:
    """The run's folder stays, whatever happens now (its environment is up, or it was resumed,
    or the session ended without being refused): the moment to name it to scripts."""

    run_id: str
    run_dir: str
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class Note:
    """Something a person should know while the run goes on (what was chosen and why)."""

    text: str
    level: str = "info"
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class DependencyReady:
    info: DependencyInfo
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class AgentReady:
    pid: int | None
    seconds: float
    log_path: str
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class CaseFinished:
    result: CaseResult
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class Interrupted:
    """The first stop signal arrived: the session unwinds, keeping what finished."""

    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class RunFinished:
    run_id: str
    status: Status
    cases: int
    seconds: float
    counts: dict[str, int] = field(default_factory=empty_dict)
    reason: str | None = None  # why it failed, when it did
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class HuntProgress:
    tried: int
    found: int
    seconds_left: float
    scenario: str
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class HuntFound:
    """A new divergence, shrunk and saved (`details`: signature, case, requirement, path...)."""

    details: dict[str, Any]
    at: float = field(default_factory=_now, kw_only=True)


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
    at: float = field(default_factory=_now, kw_only=True)


Event = (
    RunStarted
    | RunKept
    | Note
    | DependencyReady
    | AgentReady
    | CaseFinished
    | Interrupted
    | RunFinished
    | HuntProgress
    | HuntFound
    | LoadProgress
)
Emit = Callable[[Event], None]


def ignore(_: Any) -> None:
    """An emit that drops every event."""
