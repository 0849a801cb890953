"""A stub started as one of the run's dependencies: in the harness's own process (a thread
serving a loopback port) whatever the provider, since it is a double of the harness's own
making with nothing for a container engine or an external service to run; its time to
ready measured like every other dependency's."""

from __future__ import annotations

import time
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from harness.core.types import DependencyInfo
from harness.spec import models as m
from harness.stubs.service import LOOPBACK, StubService

#: why a stub runs embedded under the docker and external providers too (DependencyInfo.extra)
WHY_EMBEDDED = (
    "a stub is the harness's own double (pytest-httpserver in the harness's process): it runs "
    "embedded under every provider"
)


def _library() -> str:
    try:
        return f"pytest-httpserver {version('pytest-httpserver')}"
    except PackageNotFoundError:  # pragma: no cover - it is a dependency of the harness
        return "pytest-httpserver"


def start_stub(
    name: str,
    dep: m.HttpServiceDependency,
    params: Mapping[str, Any],
    *,
    started: float | None = None,
) -> tuple[StubService, DependencyInfo]:
    """A stub up and answering on a free loopback port, and what the reports record of it
    (`started`: the `perf_counter` its time to ready counts from; default now)."""
    if started is None:
        started = time.perf_counter()
    service = StubService(name, dep, params)
    service.start()  # ~2 ms, on the loop: no cancellation can come between start and owner
    info = DependencyInfo(
        name=name,
        kind="http_service",
        provider="embedded",
        version=_library(),
        source=f"http://{LOOPBACK}:{service.port}",
        ready_seconds=round(time.perf_counter() - started, 3),
        extra={"port": service.port, "why": WHY_EMBEDDED},
    )
    return service, info
