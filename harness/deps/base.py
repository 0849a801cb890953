"""The provider interface: how a dependency is brought up, reached and torn down.

The engine only ever sees `Endpoint`s and `DependencyInfo`s. The embedded,
docker and external providers differ in how they start a server, never in what
they hand over, so a new provider slots in without touching the engine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote


@dataclass(frozen=True)
class Endpoint:
    """How to reach one running dependency; the agent is told only `url`."""

    kind: str
    host: str
    port: int
    user: str | None = None
    password: str | None = None
    database: str | None = None

    @property
    def url(self) -> str:
        auth = ""
        if self.user or self.password:
            auth = quote(self.user or "", safe="")
            if self.password:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        if self.kind == "postgres":
            return f"postgresql://{auth}{self.host}:{self.port}/{self.database or 'postgres'}"
        if self.kind == "redis":
            return f"redis://{auth}{self.host}:{self.port}/{self.database or '0'}"
        return f"{self.kind}://{auth}{self.host}:{self.port}"

    def context(self) -> dict[str, Any]:
        """What templates see as deps.<name>.*."""
        return {
            "url": self.url,
            "host": self.host,
            "port": self.port,
            "user": self.user or "",
            "password": self.password or "",
            "database": self.database or "",
            "kind": self.kind,
        }


@dataclass
class DependencyInfo:
    """What the reports record about a dependency: where it came from and how fast it was up."""

    name: str
    kind: str
    provider: str
    version: str = ""
    source: str = ""  # binary path, image reference or external URL (without secrets)
    digest: str = ""
    ready_seconds: float = 0.0
    fixtures_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class RunningDependency(Protocol):
    name: str
    endpoint: Endpoint
    info: DependencyInfo
    #: False when the harness must not load schema or seed data into it (external, not disposable)
    writable: bool

    async def stop(self) -> None:
        """Stop and remove everything this dependency created; safe to call twice."""

    def log_tail(self, lines: int = 30) -> str:
        """The dependency's last log lines, for error messages."""


class Provider(Protocol):
    """Brings a declared dependency up and waits until it answers."""

    name: str

    async def start(self, name: str, dep: Any, *, run_id: str, workdir: Path) -> RunningDependency:
        """Start `dep` (a models.Dependency), wait until ready, return it running.

        Raises DependencyError (with the server's last log lines) when it does not
        come up within its timeout; anything it started is stopped before raising.
        """
        ...
