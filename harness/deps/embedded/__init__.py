"""The embedded provider: real PostgreSQL and Redis servers as child processes of the harness.

Each dependency gets its own temporary directory under the run's workdir, a free loopback
port and a random password; the server is a direct child with a parent-death signal, so it
cannot outlive the harness. One small module per service (`postgres.py` with its template
cache `pgtemplate.py`, `redis.py`) over a shared core: `core.py` (spawning, scratch folders,
stop and stop-at-exit, log tails) and `waits.py` (readiness and free ports, every wait with
an explicit deadline).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from harness.deps.embedded.core import READY_TIMEOUT, EmbeddedDependency, Settings
from harness.errors import DependencyError


class EmbeddedProvider:
    """Runs PostgreSQL and Redis as local child processes (see the module doc)."""

    name = "embedded"

    def __init__(
        self,
        *,
        ready_timeout: float = READY_TIMEOUT,
        template_cache: bool | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.ready_timeout = ready_timeout
        if template_cache is None:
            template_cache = os.environ.get("HARNESS_PG_TEMPLATE", "1") not in ("0", "false", "no")
        self.template_cache = template_cache
        self.cache_dir = cache_dir

    async def start(self, name: str, dep: Any, *, run_id: str, workdir: Path) -> EmbeddedDependency:
        kind = getattr(dep, "kind", None)
        started = time.perf_counter()
        workdir = Path(workdir).absolute()  # servers run with their own cwd
        workdir.mkdir(parents=True, exist_ok=True)
        settings = Settings(self.ready_timeout, self.template_cache, self.cache_dir)
        # each service's module (and its client library) imported only by a suite that has it
        if kind == "postgres":
            from harness.deps.embedded import postgres

            database = str(getattr(dep, "database", None) or "postgres")
            return await postgres.start(name, database, workdir, started, settings)
        if kind == "redis":
            from harness.deps.embedded import redis

            return await redis.start(name, workdir, started, settings)
        raise DependencyError(
            f"dependency '{name}': the embedded provider cannot run kind {kind!r}",
            hint="use kind postgres or redis, or another provider (docker, external)",
        )


__all__ = ["EmbeddedDependency", "EmbeddedProvider"]
