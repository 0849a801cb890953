"""Waiting for an embedded server, always until an explicit deadline, and reading its log.

A wait ends as soon as the server exits (its exit code says more than a timeout would), and a
server that lost its port to another process between our look and its bind is started again
on another one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from harness import procs
from harness.deps.embedded.core import HOST, Scratch

log = logging.getLogger(__name__)

T = TypeVar("T")

PORT_ATTEMPTS = 5
PORT_TAKEN = "Address already in use"


async def on_free_port(
    scratch: Scratch,
    log_path: Path,
    server: str,
    launch: Callable[[int], Awaitable[tuple[T | None, str]]],
) -> tuple[int, T | None, str]:
    """Start a server on a free port, again on another when it lost its port to someone else
    between our look and its bind (up to PORT_ATTEMPTS times).

    `launch(port)` spawns the server (into `scratch.proc`) and waits for it: (result, "")
    once ready, else (None, why). Returns (port, result, why); a failed server is killed.
    """
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = procs.free_port(HOST)
        offset = _log_size(log_path)
        result, why = await launch(port)
        if result is not None:
            return port, result, ""
        await scratch.blocking(scratch.kill_proc)
        if PORT_TAKEN in _log_since(log_path, offset) and attempt < PORT_ATTEMPTS:
            log.info("port %d was taken before %s bound it; retrying", port, server)
            continue
        return port, None, why
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- logs


def _log_since(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(256_000).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def with_tail(message: str, log_path: Path, lines: int = 30) -> str:
    """The message followed by the last lines of the server's log, for an error."""
    tail = procs.tail(log_path, lines=lines).strip()
    return f"{message}\n--- last lines of the server log ---\n{tail or '(empty)'}"


async def unless_exited(
    proc: subprocess.Popen[bytes], attempt: Awaitable[T], deadline: float
) -> T | None:
    """Await one connection attempt, abandoning it (None) when the server exits or time is up.

    A port taken by a foreign listener that never answers would otherwise hold us for the
    whole connect timeout after our server already died of "address already in use".
    """
    task = asyncio.ensure_future(attempt)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.02)
            if done:
                return task.result()
            if proc.poll() is not None or time.monotonic() > deadline:
                return None
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def exits_soon(proc: subprocess.Popen[bytes], within: float = 0.5) -> bool:
    """After a rejection: was that our dying server's port owner, not our server?"""
    end = time.monotonic() + within
    while proc.poll() is None and time.monotonic() < end:
        await asyncio.sleep(0.01)
    return proc.poll() is not None


def gone_or_late(proc: subprocess.Popen[bytes], deadline: float) -> str | None:
    """Why waiting for the server is over before it answered ("timeout"), or None: go on."""
    if proc.poll() is not None:
        return f"exited during start-up with exit code {proc.returncode}"
    if time.monotonic() > deadline:
        return "timeout"
    return None
