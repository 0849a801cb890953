"""Stubbed third-party services (`kind: http_service`) among the run's dependencies: each
started by `harness.stubs` in the harness's own process under every provider (a double of the
harness's own making: no image to run, no external service to attach to), recorded as
provider "embedded" with the reason, and stopped with the rest."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.core.events import Note
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
        # what the run's own log holds, for the manifest (saved when the run ends)
        self.info.extra.update(self.counts())

    def counts(self) -> dict[str, int]:
        service = self.service
        return {
            "requests_of_no_case": service.registry.unattributed_total,
            "requests_of_a_duplicate_pair": service.registry.shared_total,
            "template_errors": service.template_errors,
            "faults": service.faults,
        }

    def note(self) -> Note | None:
        """Said when the run ends: requests no case owned, answers the stub could not make."""
        counts = self.counts()
        parts = []
        nobody = counts["requests_of_no_case"] - counts["requests_of_a_duplicate_pair"]
        if nobody:
            parts.append(
                f"{nobody} request(s) belonged to no case in flight when they arrived "
                "(answered by the suite's routes or its default; does the agent propagate "
                "`traceparent`, or carry the `match:` value?)"
            )
        if counts["requests_of_a_duplicate_pair"]:
            parts.append(
                f"{counts['requests_of_a_duplicate_pair']} request(s) carried a `match:` value "
                "two cases in flight shared (a duplicate pair holds the same values): answered "
                "with that case's values and routes, attributed to neither (`match: "
                "traceparent` tells a pair apart)"
            )
        if counts["template_errors"]:
            parts.append(
                f"{counts['template_errors']} answer(s) could not be rendered for their "
                "request (answered 500)"
            )
        if counts["faults"]:
            parts.append(f"{counts['faults']} request(s) failed in the stub itself (500)")
        if not parts:
            return None
        return Note(f"stub {self.name}: " + "; ".join(parts), "warning")

    def log_tail(self, lines: int = 30) -> str:
        tail = list(self.service.registry.unattributed)[-lines:]
        return "\n".join(f"{r.method} {r.path} -> {r.status}" for r in tail)


async def start(name: str, dep: Any, params: Mapping[str, Any]) -> StubDependency:
    started = time.perf_counter()  # its time to ready counts loading the library too
    from harness.stubs.running import start_stub

    service, info = start_stub(name, dep, params, started=started)
    return StubDependency(name, service, info)


def watchers(running: Mapping[str, Any], concurrency: int) -> list[Watcher]:
    services = [r.service for r in running.values() if isinstance(r, StubDependency)]
    if not services:
        return []
    from harness.stubs.watcher import StubWatcher

    return [StubWatcher(services, concurrency=concurrency)]
