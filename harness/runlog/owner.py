"""Which process owns a run, and whether it still runs: one liveness rule for every reader.

A pid alone is not enough (the system gives it to another program once the owner is
gone), so the owner is (pid, host, the process's start time); a process with that pid
but another start time is not the owner.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from harness import procs


def process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot, as text (as container labels keep
    it); "" when there is no such process (or no /proc)."""
    start = procs.process_start(pid)
    return "" if start is None else str(start)


def hostname() -> str:
    return socket.gethostname()


class Owner(BaseModel):
    """The harness process writing a run folder."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    pid: int
    host: str
    #: process start time (clock ticks since boot); "" when unknown (runs before schema 2)
    start: str = ""

    @classmethod
    def current(cls) -> Owner:
        pid = os.getpid()
        return cls(pid=pid, host=hostname(), start=process_start(pid))

    def alive(self) -> bool | None:
        """True or False on this host; None when it cannot be told (another host). Without a
        recorded start time (records older than it) the pid alone decides."""
        if self.host != hostname():
            return None
        started = process_start(self.pid)
        if not started:  # gone, or no /proc at all: then the pid alone is all there is
            return False if Path("/proc/self/stat").is_file() else _pid_exists(self.pid)
        return started == self.start if self.start else True


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
