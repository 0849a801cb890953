"""When a container counts as ready: the wait strategies of a generic container, and its deadline.

A generic container (`kind: container`) says how to tell it is ready with `wait:` (exactly
one of log, port, http, command); without one, a server must answer on its first port.
PostgreSQL and Redis use testcontainers' own checks, then the harness's own query through
the published port. Every wait has one deadline (see `deadline`).
"""

from __future__ import annotations

import socket
import time
from typing import Any

from testcontainers.core.wait_strategies import (
    ExecWaitStrategy,
    HttpWaitStrategy,
    LogMessageWaitStrategy,
)
from testcontainers.core.waiting_utils import WaitStrategy, WaitStrategyTarget

from harness.deps.engine import POLL_INTERVAL
from harness.spec.models import ContainerDependency, ContainerWait

DEFAULT_READY_TIMEOUT = 60.0


def deadline(name: str, dep: Any) -> tuple[float, str]:
    """Seconds a dependency has to be ready, and the hint that names the setting to raise.

    A generic container's `wait.timeout` wins when given; else the dependency's
    `ready_timeout`; else 60 s.
    """
    wait = dep.wait if isinstance(dep, ContainerDependency) else None
    where = f"environment.dependencies.{name}"
    if wait is not None and wait.timeout is not None:
        return wait.timeout, (
            f"check the image and its settings in suite.yaml (command, env, wait); on a slow "
            f"machine raise {where}.wait.timeout (now {wait.timeout:g} s)"
        )
    timeout = float(getattr(dep, "ready_timeout", None) or DEFAULT_READY_TIMEOUT)
    if isinstance(dep, ContainerDependency):
        what = "check the image and its settings in suite.yaml (command, env, wait); on a slow "
    else:
        what = f"a {dep.kind} server may need longer on a slow machine or a first start: "
    return timeout, f"{what}raise {where}.ready_timeout (now {timeout:g} s)"


def strategy_for(dep: ContainerDependency, timeout: float) -> WaitStrategy | None:
    """The wait strategy of a generic container (None: no port and no wait, ready at once)."""
    ports = [_number(p) for p in dep.ports]
    first = ports[0] if ports else None
    wait = dep.wait
    strategy: WaitStrategy | None
    if wait is None:
        strategy = ListeningPort(first) if first is not None else None
    else:
        strategy = _declared(wait, first)
    if strategy is not None:
        strategy.with_startup_timeout(int(max(1, timeout)))
        strategy.with_poll_interval(POLL_INTERVAL)
    return strategy


def _declared(wait: ContainerWait, first: int | None) -> WaitStrategy:
    if wait.log is not None:
        return LogMessageWaitStrategy(wait.log, times=wait.times)
    if wait.port is not None:
        return ListeningPort(_number(wait.port))
    if wait.http is not None:
        port = wait.http.port if wait.http.port is not None else first
        assert port is not None  # the model requires a port for an http wait
        return ExactStatus(_number(port), wait.http.path, wait.http.status)
    assert wait.command is not None
    return ExecWaitStrategy(shell_command(wait.command))


def shell_command(command: str | list[str]) -> list[str]:
    """A command as docker exec takes it: a list as given, a string through `sh -c` (docker
    exec would take the whole string as the name of one executable)."""
    return ["sh", "-c", command] if isinstance(command, str) else list(command)


def _number(port: int | str) -> int:
    return int(str(port).split("/")[0])


class ExactStatus(HttpWaitStrategy):
    """An HTTP wait for exactly one status: testcontainers' `for_status_code` only adds to
    the codes it accepts, which always include 200, so `status: 204` would pass on a 200."""

    def __init__(self, port: int, path: str, status: int) -> None:
        super().__init__(port, path)
        self._status_codes = {status}
        self.last_seen = ""  # what the last attempt got, for the error when it never passes

    def _try_http_request(self, url: str, headers: dict[str, str], ssl_context: Any) -> bool:
        self.last_seen = f"no HTTP answer from {url} (refused, reset or timed out)"
        return bool(super()._try_http_request(url, headers, ssl_context))

    def _check_response(self, response: Any, url: str) -> bool:
        self.last_seen = f"HTTP {getattr(response, 'status', '?')} from {url}"
        return bool(super()._check_response(response, url))

    def _handle_http_error(self, error: Any) -> bool:
        code = getattr(error, "code", None)
        reason = getattr(error, "reason", error)
        self.last_seen = f"HTTP {code}" if code is not None else str(reason)
        return bool(super()._handle_http_error(error))


class ListeningPort(WaitStrategy):
    """Ready when the published port has a server behind it.

    A plain TCP connect is not enough: Docker's userland proxy accepts connections on a
    published port even when nothing listens in the container, then closes them at once.
    So the check connects and reads briefly: end-of-file means no server yet; a banner or
    a silent open connection means one is there.
    """

    def __init__(self, port: int) -> None:
        super().__init__()
        self._port = port

    def wait_until_ready(self, container: WaitStrategyTarget) -> None:
        start = time.monotonic()
        host = container.get_container_host_ip()
        while True:
            port = int(container.get_exposed_port(self._port))
            try:
                with socket.create_connection((host, port), timeout=1) as s:
                    s.settimeout(0.3)
                    try:
                        if s.recv(1):
                            return
                    except TimeoutError:
                        return
            except OSError:
                pass
            if time.monotonic() - start > self._startup_timeout:
                raise TimeoutError(
                    f"nothing listened on container port {self._port} within "
                    f"{self._startup_timeout:g}s"
                )
            time.sleep(self._poll_interval)
