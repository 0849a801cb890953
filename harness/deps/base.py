"""The provider interface: how a dependency is brought up, reached and torn down.

The engine only ever sees `Endpoint`s and `DependencyInfo`s. The embedded,
docker and external providers differ in how they start a server, never in what
they hand over, so a new provider slots in without touching the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

from harness.core.types import DependencyInfo as DependencyInfo  # re-exported for providers
from harness.empty import empty_dict


@dataclass(frozen=True)
class Endpoint:
    """How to reach one running dependency; the agent is told only `url`."""

    kind: str
    host: str
    port: int
    user: str | None = None
    password: str | None = None
    database: str | None = None
    #: URL scheme of a generic service (kind "container"); postgres and redis have their own
    scheme: str | None = None
    #: container port -> host port, for a service that publishes several ports
    ports: Mapping[str, int] = field(default_factory=empty_dict)
    #: connection options kept from an external URL, e.g. "sslmode=require"
    query: str = ""

    @property
    def url(self) -> str:
        return self._url(quote(self.password, safe="") if self.password else "")

    @property
    def safe_url(self) -> str:
        """The URL with its password replaced by ***, for messages and reports."""
        return self._url("***" if self.password else "")

    def _url(self, password: str) -> str:
        auth = ""
        if self.user or password:
            auth = quote(self.user or "", safe="") + (f":{password}" if password else "") + "@"
        query = f"?{self.query}" if self.query else ""
        where = f"{auth}{self.host}:{self.port}"
        if self.kind == "postgres":
            return f"postgresql://{where}/{self.database or 'postgres'}{query}"
        if self.kind == "redis":
            return f"{self.scheme or 'redis'}://{where}/{self.database or '0'}{query}"
        path = f"/{self.database}" if self.database else ""
        return f"{self.scheme or self.kind}://{where}{path}{query}"

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
            "ports": {str(k): v for k, v in self.ports.items()},
        }


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
