"""Redis as an embedded server: a config file, redis-server on a free port, PING.

The password goes in a private config file, never on the command line (`ps` shows argv);
nothing is saved to disk. The server stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import subprocess
import time
from pathlib import Path

import redis.asyncio
import redis.exceptions

from harness.deps.base import Endpoint
from harness.deps.binaries import (
    RedisBinary,
    RunAs,
    find_redis,
    path_problem,
    shared_redis_copy,
)
from harness.deps.embedded import core, waits
from harness.deps.embedded.core import HOST, EmbeddedDependency, Settings
from harness.errors import DependencyError

log = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0


async def start(name: str, workdir: Path, started: float, settings: Settings) -> EmbeddedDependency:
    """A redis-server for dependency `name`, answering an authenticated PING."""
    deadline = time.monotonic() + settings.ready_timeout
    async with core.starting() as scratch:
        rb, who = await core.runnable(
            scratch, "redis-server", find_redis, _problem, shared_redis_copy, settings.cache_dir
        )
        run_dir = core.private_dir(core.reachable_base(workdir, who), f"redis-{name}-", who)
        scratch.paths.append(run_dir)
        log_path = run_dir / "redis.log"
        conf = run_dir / "redis.conf"
        password = secrets.token_urlsafe(24)

        async def launch(port: int) -> tuple[bool | None, str]:
            conf.unlink(missing_ok=True)
            # a config file, not argv: the password stays out of `ps`
            core.write_private(conf, _conf(port, run_dir, password), who)
            argv = [str(rb.path), str(conf)]
            proc = core.spawn_server(
                argv, log_path=log_path, env=core.child_env(who), cwd=run_dir, who=who
            )
            scratch.proc, scratch.stop_signal = proc, signal.SIGTERM
            why = await wait_ready(proc, port, password, deadline)
            return (True, "") if why is None else (None, why)

        port, up, why = await waits.on_free_port(scratch, log_path, "redis-server", launch)
        if not up:
            if why == "timeout":
                message = (
                    f"redis-server ({rb.path}) was not ready within {settings.ready_timeout:g}s"
                )
            else:
                message = f"redis-server ({rb.path}, {rb.version}) {why}"
            raise DependencyError(
                waits.with_tail(message, log_path),
                hint="see the server log above; HARNESS_REDIS_SERVER chooses another binary",
            )
        return core.ready(
            scratch,
            Endpoint(kind="redis", host=HOST, port=port, password=password, database="0"),
            name=name,
            found=(rb.version, str(rb.path), rb.source),
            who=who,
            started=started,
            extra={"data_dir": str(run_dir)},
            stop=(signal.SIGTERM, STOP_TIMEOUT),
            log_path=log_path,
        )
    raise AssertionError("unreachable")  # pragma: no cover - core.starting() re-raises


def _problem(rb: RedisBinary, who: RunAs) -> str | None:
    return path_problem(rb.path, who)


async def _ping(port: int, password: str) -> bool:
    client = redis.asyncio.Redis(
        host=HOST, port=port, password=password, socket_connect_timeout=5, socket_timeout=5
    )
    try:
        return bool(await client.ping())
    finally:
        await client.aclose()


async def wait_ready(
    proc: subprocess.Popen[bytes], port: int, password: str, deadline: float
) -> str | None:
    """None once PING (authenticated) answers; else why not."""
    while True:
        why = waits.gone_or_late(proc, deadline)
        if why is not None:
            return why
        try:
            if await waits.unless_exited(proc, _ping(port, password), deadline):
                return None
        except (
            redis.exceptions.BusyLoadingError,
            redis.exceptions.TimeoutError,
            OSError,
        ):
            pass
        except redis.exceptions.ConnectionError as exc:
            refused = isinstance(exc, redis.exceptions.AuthenticationError)
            if refused and not await waits.exits_soon(proc):
                return f"rejected the password: {exc}"
        except redis.exceptions.RedisError as exc:
            if not await waits.exits_soon(proc):
                return f"answered PING with an error: {exc}"
        await asyncio.sleep(0.01)


def _conf(port: int, directory: Path, password: str) -> str:
    quoted_dir = str(directory).replace("\\", "\\\\").replace('"', '\\"')
    return "\n".join(
        [
            f"port {port}",
            f"bind {HOST}",
            "protected-mode yes",
            'save ""',
            "appendonly no",
            "daemonize no",
            f'dir "{quoted_dir}"',
            f"requirepass {password}",
            'logfile ""',
            "",
        ]
    )
