"""The Docker engine: does one answer, where is it, and testcontainers set up to use it safely.

testcontainers reads its settings from the environment when it is first imported, and on
machines that look like containers (a /.dockerenv file) it would reach published ports
through the bridge's gateway, a private-range address. The harness sends its traffic to
loopback only, and cannot count on Ryuk (the reaper image is not pullable everywhere; the
harness removes its own containers, see deps/cleanup.py), so `configure()` sets both, in the
environment and in testcontainers' live configuration, before any container is made.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from urllib.parse import urlparse

import docker
import docker.errors
import requests.exceptions

#: seconds `auto` waits for an engine to answer before it falls back to embedded
PING_TIMEOUT = 2.0
#: seconds a single Docker API call may take (pulls have their own, longer, budget)
API_TIMEOUT = 60
#: how often readiness checks poll inside testcontainers' wait strategies
POLL_INTERVAL = 0.1
#: upper bound for testcontainers' own waits; the harness's per-dependency deadline is shorter
TC_MAX_WAIT = 600.0
LOOPBACK = "127.0.0.1"
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}

_configured: bool | None = None
_lock = threading.Lock()


@dataclass(frozen=True)
class Engine:
    """What a ping of the Docker engine found."""

    answers: bool
    where: str  # the API address, e.g. unix:///var/run/docker.sock
    local: bool  # on this machine: publish on and connect to 127.0.0.1
    version: str = ""
    why: str = ""  # why it does not answer

    def describe(self) -> str:
        if self.answers:
            return f"Docker engine {self.version} at {self.where}"
        return f"no Docker engine answers at {self.where}: {self.why}"


def address() -> str:
    """Where docker-py will look for the engine (DOCKER_HOST, else the local socket)."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def is_local(where: str) -> bool:
    parsed = urlparse(where)
    if parsed.scheme in ("unix", "npipe", "http+unix"):
        return True
    return parsed.scheme in ("tcp", "http", "https") and (parsed.hostname or "") in _LOCAL_HOSTS


def client(timeout: float = API_TIMEOUT) -> docker.DockerClient:
    """A docker-py client for the engine the environment names (version negotiated)."""
    return docker.from_env(timeout=int(max(1, timeout)))


def probe(timeout: float = PING_TIMEOUT) -> Engine:
    """Ping the engine with a short timeout; never raises."""
    where = address()
    try:
        c = client(timeout)
    except docker.errors.DockerException as exc:
        return Engine(False, where, is_local(where), why=_short(exc))
    try:
        c.ping()
        version = str(c.version().get("Version", ""))
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        return Engine(False, where, is_local(where), why=_short(exc))
    finally:
        c.close()
    return Engine(True, where, is_local(where), version=version)


def configure(engine: Engine) -> None:
    """Point testcontainers at `engine`: no Ryuk; with a local engine, loopback only."""
    global _configured
    with _lock:
        if _configured is engine.local:
            return
        os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
        if engine.local:
            os.environ["TESTCONTAINERS_CONNECTION_MODE"] = "docker_host"
            os.environ["TESTCONTAINERS_HOST_OVERRIDE"] = LOOPBACK
        from testcontainers.core.config import ConnectionMode, testcontainers_config

        testcontainers_config.ryuk_disabled = True
        if engine.local:
            # docker_host mode alone would still use the gateway on a /.dockerenv machine
            testcontainers_config.connection_mode_override = ConnectionMode.docker_host
            testcontainers_config.tc_host_override = LOOPBACK
        testcontainers_config.sleep_time = POLL_INTERVAL
        testcontainers_config.max_tries = int(TC_MAX_WAIT / POLL_INTERVAL)
        _configured = engine.local


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    # docker-py wraps the interesting part deep inside a requests error
    for marker in ("FileNotFoundError", "ConnectionRefusedError", "PermissionError"):
        if marker in text:
            return {
                "FileNotFoundError": "the socket does not exist (is dockerd running?)",
                "ConnectionRefusedError": "connection refused (is dockerd running?)",
                "PermissionError": "permission denied on the socket (join the docker group?)",
            }[marker]
    return text if len(text) <= 300 else text[:300] + " …"
