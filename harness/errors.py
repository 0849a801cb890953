"""The one root exception of the harness and its few families.

Only faults of the harness, its configuration or its environment raise. Whatever
the agent under test does (crash, hang, garbage) is an observation with a
verdict, never an exception that stops a run.
"""

from __future__ import annotations

from dataclasses import dataclass


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""

    exit_code = 3

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  -> {self.hint}" if self.hint else self.message


@dataclass(frozen=True)
class Problem:
    """One located problem in a suite file: `path:line:col: key.path: message`."""

    path: str
    line: int
    col: int
    key: str
    message: str

    def __str__(self) -> str:
        key = f"{self.key}: " if self.key else ""
        return f"{self.path}:{self.line}:{self.col}: {key}{self.message}"


class ConfigError(HarnessError):
    """The user's suite, options or policy are invalid (exit code 2); nothing was started."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | str, *, hint: str | None = None) -> None:
        if isinstance(problems, str):
            self.problems: list[Problem] = []
            super().__init__(problems, hint=hint)
        else:
            self.problems = sorted(problems, key=lambda p: (p.path, p.line, p.col))
            super().__init__("\n".join(str(p) for p in self.problems), hint=hint)


class EnvironmentFault(HarnessError):
    """A dependency or the agent's process could not be brought up or reached (exit 3)."""

    exit_code = 3


class DependencyError(EnvironmentFault):
    """A dependency (database, cache, container) failed to start, get ready or load fixtures."""


class AgentStartError(EnvironmentFault):
    """The agent's own process did not start or never passed its health check."""


class UnsafeTargetError(HarnessError):
    """The harness refused to write to a target that is not marked disposable (exit 2)."""

    exit_code = 2
