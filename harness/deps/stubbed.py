"""Stubbed third-party services (`kind: http_service`) among the run's dependencies: each
started by `harness.stubs` in the harness's own process under every provider (a double of the
harness's own making: no image to run, no external service to attach to), recorded as
provider "embedded" with the reason, and stopped with the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.deps.base import DependencyInfo, Endpoint

if TYPE_CHECKING:
    from harness.core.watch import Watcher
    from harness.stubs.service import StubService

KIND = "http_service"


def is_stub(dep: Any) -> bool:
    return getattr(dep, "kind", None) == KIND


def provided(deps: Mapping[str, Any]) -> dict[str, Any]:
    """The dependencies a provider starts: all but the stubs."""
    return {name: dep for name, dep in deps.items() if not is_stub(dep)}


class StubDependency:
    """A running stub as a `RunningDependency`: endpoint (http://127.0.0.1:port), info, stop."""

    writable = False  # nothing to load into it

    def __init__(self, name: str, service: StubService, info: DependencyInfo) -> None:
        self.name = name
        self.service = service
        self.info = info
        self.endpoint = Endpoint(kind=KIND, host="127.0.0.1", port=service.port, scheme="http")

    async def stop(self) -> None:
        await asyncio.to_thread(self.service.stop)

    def log_tail(self, lines: int = 30) -> str:
        tail = list(self.service.registry.unattributed)[-lines:]
        return "\n".join(f"{r.method} {r.path} -> {r.status}" for r in tail)


async def start(name: str, dep: Any, params: Mapping[str, Any]) -> StubDependency:
    from harness.stubs.running import start_stub

    service, info = start_stub(name, dep, params)
    return StubDependency(name, service, info)


def watchers(running: Mapping[str, Any], concurrency: int) -> list[Watcher]:
    services = [r.service for r in running.values() if isinstance(r, StubDependency)]
    if not services:
        return []
    from harness.stubs.watcher import StubWatcher

    return [StubWatcher(services, concurrency=concurrency)]
