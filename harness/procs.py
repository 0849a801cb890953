"""Child processes that cannot outlive the harness: servers and the agent under test.

Every child gets a parent-death signal (Linux), so even `kill -9` of the harness
takes its servers with it; a normal stop signals the whole process group, waits,
then kills.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1

try:
    _libc: ctypes.CDLL | None = (
        ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
    )
except OSError:  # pragma: no cover - exotic libc
    _libc = None


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A preexec_fn: the child gets `sig` when the harness process dies, however it dies."""

    def _preexec() -> None:
        if _libc is not None:
            _libc.prctl(_PR_SET_PDEATHSIG, int(sig))

    return _preexec


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on host (callers retry if it got taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    user: str | int | None = None,
    group: int | None = None,
    extra_groups: Sequence[int] | None = None,
    death_signal: int = signal.SIGKILL,
    new_session: bool = True,
) -> subprocess.Popen[bytes]:
    """Start a child whose stdout and stderr go to log_path, in its own process group.

    With `user`, give it `group` and `extra_groups` too: Popen's user= alone keeps ours. Its
    parent-death signal is set after the switch of user, which would otherwise clear it.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            user=user,
            group=group,
            extra_groups=None if extra_groups is None else list(extra_groups),
            start_new_session=new_session,
            preexec_fn=die_with_parent(death_signal),
        )


def stop_process(
    proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 5.0
) -> int | None:
    """Signal the child's process group, wait up to timeout, then SIGKILL the group."""
    if proc.poll() is not None:
        _kill_group(proc.pid, signal.SIGKILL)  # leftovers of a group whose leader already exited
        return proc.returncode
    _kill_group(proc.pid, sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            return proc.wait(timeout=5)
    return proc.returncode


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def tail(path: Path, lines: int = 30, max_bytes: int = 64_000) -> str:
    """The last lines of a log file, for error messages (never the whole file)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(deque(data.splitlines(), maxlen=lines))


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.02,
    alive: Callable[[], bool] | None = None,
) -> bool:
    """Poll predicate until true, the timeout passes, or alive() says the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if alive is not None and not alive():
            return False
        time.sleep(interval)
    return predicate()
