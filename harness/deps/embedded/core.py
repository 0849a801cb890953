"""The embedded servers' shared core: child processes, their folders, starts and stops.

A server is a direct child of the harness (never a daemonising wrapper) with a parent-death
signal, so it cannot outlive the harness. `EmbeddedDependency.stop()` signals it (each
service says which signal shuts it down cleanly), SIGKILLs what is left and removes its
folders; `Scratch` undoes a start that fails or is cancelled half-way in the same way, and
servers still running at interpreter exit are stopped then. Waits are in waits.py.

When the harness runs as root, servers run as an unprivileged account (binaries.pg_run_as),
with its own uid, gid and groups.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from harness import procs
from harness.deps.base import DependencyInfo, Endpoint
from harness.deps.binaries import SEARCH, RunAs, path_problem, pg_run_as
from harness.empty import empty_list

log = logging.getLogger(__name__)

T = TypeVar("T")
B = TypeVar("B")  # what binaries lookups find

PROVIDER = "embedded"
HOST = "127.0.0.1"
READY_TIMEOUT = 30.0

#: Blocking work (binary probes, copies, stops) runs here, never on the event loop.
#: Servers are spawned on the loop's own thread instead: a parent-death signal fires when
#: the *thread* that forked the child exits, and pool threads come and go.
BLOCKING = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="embedded")


@dataclass(frozen=True)
class Settings:
    """What the provider was configured with, as every service's start reads it."""

    ready_timeout: float = READY_TIMEOUT
    template_cache: bool = True
    cache_dir: Path | None = None


# --------------------------------------------------------------------------- the running server


@dataclass(eq=False)
class EmbeddedDependency:
    """A server started by the embedded provider (a RunningDependency)."""

    name: str
    endpoint: Endpoint
    info: DependencyInfo
    writable: bool = True
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _stop_signal: int = field(default=signal.SIGTERM, repr=False)
    _stop_timeout: float = field(default=5.0, repr=False)
    _log_path: Path | None = field(default=None, repr=False)
    _paths: list[Path] = field(default_factory=empty_list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stopped: bool = field(default=False, repr=False)
    _final_log: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _LIVE.add(self)

    async def stop(self) -> None:
        """Shut the server down and remove its directory; safe to call twice or concurrently.

        The work runs in a thread that finishes even if this coroutine is cancelled.
        """
        if self._stopped:
            return
        await asyncio.shield(asyncio.wrap_future(BLOCKING.submit(self.stop_sync)))

    def stop_sync(self) -> None:
        """The blocking stop (also used at interpreter exit)."""
        with self._lock:
            if self._stopped:
                return
            if self._proc is not None:
                stop_server(self._proc, self._stop_signal, self._stop_timeout)
            if self._log_path is not None:
                self._final_log = procs.tail(self._log_path, lines=200)
            remove_paths(self._paths)
            self._stopped = True
            _LIVE.discard(self)
            log.debug("stopped %s (%s)", self.name, self.info.kind)

    def log_tail(self, lines: int = 30) -> str:
        if self._final_log is not None:
            return "\n".join(self._final_log.splitlines()[-lines:])
        return procs.tail(self._log_path, lines=lines) if self._log_path else ""

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid


#: Started and not yet stopped (strong references: a dropped handle is still stopped at exit).
_LIVE: set[EmbeddedDependency] = set()


@atexit.register
def _stop_all_at_exit() -> None:
    """Servers still running when the interpreter exits (a forgotten stop) go down with it."""
    for dep in list(_LIVE):
        with contextlib.suppress(Exception):
            dep.stop_sync()


def stop_server(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    """Signal the server itself, not its group (PostgreSQL's children take orders from the
    postmaster, initdb's backend from initdb), wait, then SIGKILL the whole process group
    so no child is left behind."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    procs.stop_process(proc, sig=signal.SIGKILL, timeout=5.0)


def remove_paths(paths: Sequence[Path]) -> None:
    for path in paths:
        if path.exists():
            shutil.rmtree(path, onerror=_warn_not_removed)


def _warn_not_removed(func: Callable[..., Any], path: str, exc_info: Any) -> None:
    log.warning("could not remove %s: %s", path, exc_info[1])


# --------------------------------------------------------------------------- a start in progress


class Scratch:
    """What a start has created so far, so that a failure or cancellation can undo it."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.stop_signal = signal.SIGTERM
        self.paths: list[Path] = []
        self.pending: set[concurrent.futures.Future[Any]] = set()

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn in a thread; a cancelled start waits for it before it removes anything."""
        fut = BLOCKING.submit(fn, *args)
        self.pending.add(fut)
        try:
            return await asyncio.wrap_future(fut)
        finally:
            if fut.done():
                self.pending.discard(fut)

    def kill_proc(self) -> None:
        if self.proc is not None:
            stop_server(self.proc, self.stop_signal, 5.0)
            self.proc = None

    def undo_sync(self) -> None:
        concurrent.futures.wait(list(self.pending), timeout=120)
        self.kill_proc()
        remove_paths(list(reversed(self.paths)))

    async def undo(self) -> None:
        """Undo in a thread that completes even if we are cancelled again meanwhile."""
        with contextlib.suppress(BaseException):
            await asyncio.shield(asyncio.wrap_future(BLOCKING.submit(self.undo_sync)))


@contextlib.asynccontextmanager
async def starting() -> AsyncIterator[Scratch]:
    """`async with starting() as scratch:` a start that undoes itself if it does not finish."""
    scratch = Scratch()
    try:
        yield scratch
    except BaseException:
        await scratch.undo()
        raise


async def runnable(
    scratch: Scratch,
    server: str,
    find: Callable[[], B],
    problem: Callable[[B, RunAs], str | None],
    copy: Callable[[B, RunAs, Path | None], B],
    cache_dir: Path | None,
) -> tuple[B, RunAs | None]:
    """The binaries to run and whom as (binaries.pg_run_as): found by `find`, or, when that
    account cannot use them, the cache's copy of them that it can."""
    found = await scratch.blocking(find)
    who = pg_run_as()
    if who is not None:
        why = await scratch.blocking(problem, found, who)
        if why:
            log.info("%s must run as %s, who cannot use it: %s", server, who.name, why)
            found = await scratch.blocking(copy, found, who, cache_dir)
    return found, who


def ready(
    scratch: Scratch,
    endpoint: Endpoint,
    *,
    name: str,
    found: tuple[str, str, str],
    who: RunAs | None,
    started: float,
    extra: dict[str, Any],
    stop: tuple[int, float],
    log_path: Path,
) -> EmbeddedDependency:
    """The running server a start hands over: its process and folders are now the handle's.

    `found` is the binaries' (version, path, how they were found); `stop` the signal that shuts
    the server down cleanly and how long to wait for it before SIGKILL.
    """
    assert scratch.proc is not None
    version, source, found_by = found
    running = EmbeddedDependency(
        name=name,
        endpoint=endpoint,
        info=DependencyInfo(
            name=name,
            kind=endpoint.kind,
            provider=PROVIDER,
            version=version,
            source=source,
            ready_seconds=time.perf_counter() - started,
            extra={
                "pid": scratch.proc.pid,
                **extra,
                "run_as": (who or RunAs.current()).name,
                "found_by": found_by,
            },
        ),
        _proc=scratch.proc,
        _stop_signal=stop[0],
        _stop_timeout=stop[1],
        _log_path=log_path,
        _paths=list(reversed(scratch.paths)),
    )
    log.info(
        "%s for '%s' ready on %s:%d in %.2fs (pid %d)", version, name, HOST, endpoint.port,
        running.info.ready_seconds, scratch.proc.pid,
    )  # fmt: skip
    return running


# --------------------------------------------------------------------------- processes and files


def child_env(who: RunAs | None, **extra: str) -> dict[str, str]:
    """The server's environment: ours without PG* variables (PGDATA, PGPORT... would steer it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    if who is not None:
        env.update(HOME=who.home, USER=who.name, LOGNAME=who.name)
    env.update(extra)
    return env


def spawn_server(
    argv: Sequence[str], *, log_path: Path, env: dict[str, str], cwd: Path, who: RunAs | None
) -> subprocess.Popen[bytes]:
    """procs.spawn, as `who` (its uid, gid and groups) when given."""
    if who is None:
        return procs.spawn(argv, log_path=log_path, env=env, cwd=cwd)
    return procs.spawn(
        argv, log_path=log_path, env=env, cwd=cwd,
        user=who.uid, group=who.gid, extra_groups=sorted(who.groups),
    )  # fmt: skip


def reachable_base(workdir: Path, who: RunAs | None) -> Path:
    """Where the server's directory goes: the workdir, unless `who` cannot enter it."""
    problem = None if who is None else path_problem(workdir, who, SEARCH)
    if who is None or problem is None:
        return workdir
    base = Path(tempfile.gettempdir())
    log.info(
        "%s cannot enter %s (%s); the server's files go to %s", who.name, workdir, problem, base
    )
    return base


def chown_tree(root: Path, who: RunAs | None) -> None:
    if who is None:
        return
    os.chown(root, who.uid, who.gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            os.chown(os.path.join(dirpath, name), who.uid, who.gid, follow_symlinks=False)


def private_dir(parent: Path, prefix: str, who: RunAs | None) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    if who is not None:
        os.chown(path, who.uid, who.gid)
    return path


def write_private(path: Path, text: str, who: RunAs | None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    if who is not None:
        os.chown(path, who.uid, who.gid)
