"""Which process owns a run, and whether it still runs: one liveness rule for every reader.

A pid alone is not enough (the system gives it to another program once the owner is
gone), so the owner is (pid, host, the process's start time); a process with that pid
but another start time is not the owner. A pid means something only in its PID namespace:
a container sharing /dev/shm or a run folder and the host name (two containers of a pod)
sees other pids, so an owner of another namespace cannot be judged, as one of another host.
"""

import os
import socket

from pydantic import BaseModel, ConfigDict

from harness import procs


def process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot, as text (as container labels keep
    it); "" when there is no such process (or no /proc)."""
    start = procs.process_start(pid)
    return "" if start is None else str(start)


def hostname() -> str:
    return socket.gethostname()


def pid_namespace() -> str:
    """This process's PID namespace (e.g. "pid:[4026531836]"); "" when it cannot be read."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


class Owner(BaseModel):
    """The harness process writing a run folder."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    pid: int
    host: str
    #: process start time (clock ticks since boot); "" when unknown (runs before schema 2)
    start: str = ""
    #: the PID namespace the pid belongs to; "" when unknown (records older than it)
    ns: str = ""

    @classmethod
    def current(cls) -> "Owner":
        pid = os.getpid()
        return cls(pid=pid, host=hostname(), start=process_start(pid), ns=pid_namespace())

    def alive(self) -> bool | None:
        """True or False on this host and in this PID namespace; None when it cannot be told
        (another host or namespace). Without a recorded start time (records older than it)
        the pid alone decides."""
        if self.host != hostname() or (self.ns and self.ns != pid_namespace()):
            return None
        started = process_start(self.pid)
        if started:
            return started == self.start if self.start else True
        # not in /proc: gone, hidden from us (hidepid), or no /proc at all; a process that
        # exists but cannot be seen is taken as the owner, its start time unknown
        return _pid_exists(self.pid)

    def line(self) -> str:
        """The owner as one line of text (a data folder's owner file)."""
        return f"{self.pid} {self.host} {self.start or '-'} {self.ns or '-'}\n"

    @classmethod
    def parse(cls, text: str) -> "Owner | None":
        """An owner written by `line` (or its older forms: pid host [start]); None when the
        text is none of them."""
        pid, host, *rest = [*text.split(), "", ""][:4]
        if not pid.isdigit() or not host:
            return None
        start, ns = (part if part != "-" else "" for part in rest)
        return cls(pid=int(pid), host=host, start=start, ns=ns)


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
