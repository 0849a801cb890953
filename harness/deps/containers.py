"""Containers made with testcontainers, started so that nothing can leak.

testcontainers' `start()` blocks (create, start, wait until ready), so it runs in a daemon
thread while the event loop keeps the deadline, watches for a container that exits during
start-up, and stays responsive to Ctrl-C and SIGTERM. When a start fails, times out or is
cancelled, the start is aborted: the readiness wait stops at its next poll (the container
methods it calls raise `Aborted`), and everything carrying the dependency's labels is
removed, now and once more when the thread ends, in case it created something meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import requests.exceptions
from testcontainers.community.postgres import PostgresContainer
from testcontainers.community.redis import RedisContainer
from testcontainers.core.container import BytesExecResult, DockerContainer, ExecConfig
from testcontainers.core.network import Network

from harness.deps import cleanup, engine
from harness.deps.aio import finish, in_thread
from harness.deps.base import DependencyInfo, Endpoint
from harness.empty import empty_dict
from harness.errors import DependencyError

log = logging.getLogger(__name__)

STOP_TIMEOUT = 30.0
LOG_LINES = 30
EXITED = ("exited", "dead")  # Docker's states of a container that stopped
_API_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)


class Aborted(BaseException):
    """Raised inside an abandoned start's thread; a BaseException, so that testcontainers'
    wait strategies (which retry on Exception) stop instead of polling a removed container."""


# --------------------------------------------------------------------------- containers


class AbortableContainer(DockerContainer):
    """A DockerContainer whose readiness wait can be stopped from another thread."""

    aborted: threading.Event

    def _check(self) -> None:
        if getattr(self, "aborted", None) is not None and self.aborted.is_set():
            raise Aborted

    def exec(self, command: str | list[str] | ExecConfig) -> BytesExecResult:
        self._check()
        return super().exec(command)

    def get_logs(self) -> tuple[bytes, bytes]:
        self._check()
        return super().get_logs()

    def get_exposed_port(self, port: int) -> int:
        self._check()
        return super().get_exposed_port(port)

    def reload(self) -> None:
        self._check()
        super().reload()


class HarnessPostgres(AbortableContainer, PostgresContainer):
    """testcontainers' PostgreSQL module (its env conventions and psql readiness check)."""


class HarnessRedis(AbortableContainer, RedisContainer):
    """testcontainers' Redis module (`--requirepass`, PING readiness check)."""


class GenericContainer(AbortableContainer):
    """Any image: the `kind: container` dependency."""


def publish_on(container: DockerContainer, ports: list[str], host_ip: str | None) -> None:
    """Publish container ports on random host ports, bound to `host_ip` (loopback) if given."""
    bindings: dict[str, Any] = container.ports  # docker-py takes (ip, port) tuples here
    for port in ports:
        bindings[port] = (host_ip, None) if host_ip else None


# --------------------------------------------------------------------------- the run's network


class RunNetwork:
    """One labelled network per run; containers join it under their dependency name, and it
    is removed when the last of them stops."""

    def __init__(self, run_id: str, labels: dict[str, str]) -> None:
        self.name = f"harness-{run_id}"
        self.labels = labels
        self.network: Network | None = None
        self._users = 0
        self._lock = threading.Lock()

    def acquire(self) -> Network:
        """Create on first use (blocking)."""
        with self._lock:
            if self.network is None:
                network = Network(docker_network_kw={"labels": self.labels})
                network.name = self.name
                self.network = network.create()
            self._users += 1
            return self.network

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users > 0 or self.network is None:
                return
            network, self.network = self.network, None
        ident = network.id if network.id is not None else self.name
        try:
            client = engine.client(timeout=STOP_TIMEOUT)
        except _API_ERRORS as exc:
            problem: str | None = str(exc)
        else:
            try:
                problem = cleanup.remove_one(client, "network", ident)
            finally:
                client.close()
        if problem:
            log.warning(
                "could not remove network %s: %s (harness clean removes it)", self.name, problem
            )


# --------------------------------------------------------------------------- start and stop


def log_tail(client: docker.DockerClient, selector: dict[str, str], lines: int = LOG_LINES) -> str:
    """The last log lines of the container matching `selector` ("" if there is none)."""
    try:
        found = client.containers.list(all=True, filters={"label": _filters(selector)})
        if not found:
            return ""
        raw = found[0].logs(tail=lines, stdout=True, stderr=True)
    except _API_ERRORS:
        return ""
    return raw.decode("utf-8", "replace").rstrip() if isinstance(raw, bytes) else ""


def _state(client: docker.DockerClient, selector: dict[str, str]) -> tuple[str, int | None]:
    """The status and exit code of the container matching `selector`, if it exists yet."""
    try:
        found = client.containers.list(all=True, filters={"label": _filters(selector)})
    except _API_ERRORS:
        return "", None
    if not found:
        return "", None
    state = (found[0].attrs or {}).get("State") or {}
    return found[0].status or "", state.get("ExitCode")


def _filters(selector: dict[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in selector.items()]


async def start_container(
    container: AbortableContainer,
    selector: dict[str, str],
    *,
    name: str,
    image: str,
    timeout: float,
    hint: str,
) -> None:
    """Start `container` and wait until its readiness check passes, within `timeout` seconds.

    On failure, timeout or cancellation the container (found by `selector`, its labels) is
    removed before this returns, and a DependencyError names the image and shows its logs,
    with `hint` (which setting gives more time).
    """
    container.aborted = threading.Event()
    watcher = engine.client(timeout=10)
    removing = threading.Lock()  # the abort and the start's own thread never remove at once

    def run() -> None:
        try:
            container.start()
        finally:
            if container.aborted.is_set():  # it may have created the container meanwhile
                with removing:
                    cleanup.remove_matching(watcher, selector)

    future = in_thread(run, f"start-{name}")
    deadline = time.monotonic() + timeout
    why = ""
    exited = cannot_run = False  # either way, more time would not help
    try:
        while True:
            done, _ = await asyncio.wait({future}, timeout=0.25)
            if done:
                try:
                    future.result()
                    watcher.close()
                    return
                except Aborted:
                    why = "was abandoned"
                except Exception as exc:
                    why = f"failed its readiness check: {_first_line(exc)}"
                    cannot_run = _cannot_run(exc)
                    status, code = await in_thread(lambda: _state(watcher, selector), "state")
                    if status in EXITED:  # the plainest account of what happened
                        why, exited = _exited(code), True
                break
            if time.monotonic() > deadline:
                why = f"was not ready within {timeout:g}s"
                break
            status, code = await in_thread(lambda: _state(watcher, selector), f"watch-{name}")
            if status in EXITED:
                why, exited = _exited(code), True
                break
    except BaseException:
        await finish(_abort(container, watcher, selector, name, removing))
        raise
    seen = getattr(getattr(container, "_wait_strategy", None), "last_seen", "")
    why += f" (its wait last saw: {seen})" if seen and not exited else ""
    tail = await finish(_abort(container, watcher, selector, name, removing))
    if exited or cannot_run:
        hint = (
            "check the image and its settings in suite.yaml (command, env, volumes) or the "
            "--image override: the container stopped or could not run its command, so "
            "waiting longer would not help"
        )
    raise DependencyError(
        f"dependency '{name}': container from image {image} {why}"
        + (f"; its last log lines:\n{_indent(tail)}" if tail else "; its log is empty"),
        hint=hint,
    )


async def _abort(
    container: AbortableContainer,
    client: docker.DockerClient,
    selector: dict[str, str],
    name: str,
    removing: threading.Lock,
) -> str:
    """Stop a start: no more readiness polls, logs kept, the container removed."""
    container.aborted.set()

    def work() -> str:
        tail = log_tail(client, selector)
        with removing:
            problems = cleanup.remove_matching(client, selector)
        if problems:
            log.warning("removing %s: %s", name, "; ".join(problems))
        return tail

    return await in_thread(work, f"abort-{name}")


def _exited(code: int | None) -> str:
    return f"exited with code {code} during start-up"


def _cannot_run(exc: BaseException) -> bool:
    """The engine could not start the container's command (Docker says so only in words)."""
    return any("executable file not found" in str(e) for e in (exc, exc.__cause__) if e)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    cause = exc.__cause__
    if isinstance(exc, RuntimeError) and cause is not None:
        text = str(cause).strip() or text
    return text.splitlines()[0][:400]


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


@dataclass(eq=False)
class DockerDependency:
    """A dependency running in a container (a RunningDependency)."""

    name: str
    endpoint: Endpoint
    info: DependencyInfo
    writable: bool = True
    _container: DockerContainer | None = field(default=None, repr=False)
    _selector: dict[str, str] = field(default_factory=empty_dict, repr=False)
    _network: RunNetwork | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stopped: bool = field(default=False, repr=False)
    _final_log: str | None = field(default=None, repr=False)

    async def stop(self) -> None:
        """Remove the container (and the run's network after its last user); safe to call
        twice or concurrently; finishes even if the caller is cancelled."""
        if self._stopped:
            return
        await finish(in_thread(self.stop_sync, f"stop-{self.name}"))

    def stop_sync(self) -> None:
        with self._lock:
            if self._stopped:
                return
            client = engine.client(timeout=STOP_TIMEOUT)
            try:
                self._final_log = log_tail(client, self._selector, 200)
                problems = cleanup.remove_matching(client, self._selector)
            finally:
                client.close()
            if self._network is not None:
                self._network.release()
            self._stopped = True
        if problems:
            raise DependencyError(
                f"container of '{self.name}' was not removed: {'; '.join(problems)}",
                hint="harness clean removes it once this run has ended",
            )

    def log_tail(self, lines: int = LOG_LINES) -> str:
        if self._final_log is not None:
            return "\n".join(self._final_log.splitlines()[-lines:])
        client = engine.client(timeout=10)
        try:
            return log_tail(client, self._selector, lines)
        finally:
            client.close()
