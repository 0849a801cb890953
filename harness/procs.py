"""Child processes that cannot outlive the harness: servers and the agent under test.

Every child gets a parent-death signal (Linux), so even `kill -9` of the harness
takes its servers with it; a normal stop signals the whole process group, waits,
then kills.

The agent is a program we do not control: what it starts may leave its process group and
session (`setsid`, a daemon's double fork), out of reach of a group signal. On Linux the
harness becomes a child subreaper before it starts the agent, so such orphans are re-parented
to the harness rather than to init, and `ProcessTree` finds the agent's every process by
parent links in /proc: the agent's descendants, and the orphans re-parented to the harness
that are no child the harness started itself (`own_child`). Process start times name each
process, so a pid reused meanwhile is never signalled. (A cgroup would hold the tree
whatever it does, but that needs a delegated cgroup v2 hierarchy, which many machines, CI
runners with cgroup v1 among them, do not give.) After a `kill -9` of the harness only the
agent itself gets its parent-death signal: what it started in another session lives on.
Elsewhere (macOS: no subreaper, no /proc) stopping the agent is best effort: its process
group, which holds what it started unless that left it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36

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
        proc = subprocess.Popen(
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
    own_child(proc.pid)
    return proc


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


# --------------------------------------------------------------------------- process trees


@dataclass(frozen=True)
class Proc:
    """One process as /proc/PID/stat shows it."""

    pid: int
    ppid: int
    sid: int
    start: int  # clock ticks after boot: with the pid, it names one process for good
    zombie: bool


def read_proc(pid: int) -> Proc | None:
    """The process `pid` now, or None when there is none (or no /proc)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces and ")"
        return Proc(pid, int(fields[1]), int(fields[3]), int(fields[19]), fields[0] == "Z")
    except (IndexError, ValueError):
        return None


def process_start(pid: int) -> int | None:
    """When process `pid` started (clock ticks after boot), None when it does not exist."""
    found = read_proc(pid)
    return None if found is None else found.start


def process_table() -> dict[int, Proc]:
    """Every process /proc shows (empty where there is no /proc)."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return {}
    table = {}
    for name in names:
        if name.isdigit() and (found := read_proc(int(name))) is not None:
            table[found.pid] = found
    return table


_subreaper = False
_own: set[int] = set()  # the children the harness started itself (each leads its session)
_own_lock = threading.Lock()


def become_subreaper() -> bool:
    """Make the harness the reaper of its orphaned descendants (Linux 3.4+), for good: a
    process the agent started, whose parent exited, is re-parented to the harness instead
    of init, so `ProcessTree` still finds it. False where the system has no such thing."""
    global _subreaper
    with _own_lock:
        if not _subreaper and _libc is not None:
            _subreaper = _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
        return _subreaper


def own_child(pid: int) -> None:
    """Note a child the harness started itself (a server, a load process, an agent): an
    agent's stop never takes it, or what is left of its session, for the agent's orphans."""
    with _own_lock:
        _own.add(pid)


def clock_ticks() -> int:
    """Now, in the unit of process start times (clock ticks after boot): a process started
    later has a start time at least this."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)  # Linux only, like /proc
    if boottime is None:
        return 0
    return int(time.clock_gettime(boottime) * os.sysconf("SC_CLK_TCK"))


@dataclass(frozen=True)
class ProcessTree:
    """A child the harness started (the agent) and every process it starts, wherever those go."""

    root: int
    root_start: int | None  # None: the root was gone before anyone looked
    since: int  # clock_ticks() just before the root was started

    @classmethod
    def of(cls, pid: int, since: int) -> ProcessTree:
        own_child(pid)
        return cls(pid, process_start(pid), since)

    def members(self) -> dict[int, int]:
        """Its processes now (pid -> start time): the root and its descendants, and the
        orphans re-parented to the harness with their descendants.

        An orphan of the root's is a child of the harness that started after the root and is
        neither in the harness's own session (where short helper commands run) nor in the
        session of another child the harness started (`own_child`: a server or load process
        leads its own session, and what it leaves there is its own).
        """
        table = process_table()
        me, my_session = os.getpid(), os.getsid(0)
        with _own_lock:
            others = {pid for pid in _own if pid != self.root}
        found = table.get(self.root)
        roots = [self.root] if found is not None and found.start == self.root_start else []
        roots += [
            p.pid
            for p in table.values()
            if p.ppid == me
            and p.pid != self.root
            and p.sid not in (my_session, *others)
            and p.start >= self.since
        ]
        children: dict[int, list[int]] = defaultdict(list)
        for p in table.values():
            children[p.ppid].append(p.pid)
        tree: dict[int, int] = {}
        todo = list(roots)
        while todo:
            pid = todo.pop()
            if pid not in tree:
                tree[pid] = table[pid].start
                todo.extend(children[pid])
        return tree

    def kill(self, seen: Mapping[int, int], settle: float = 5.0) -> int:
        """SIGKILL every member but the root (its runner waits for it): those `seen` before
        the root was stopped and those found now, again until a look finds none left (one may
        fork between a look and its kill); then wait up to `settle` seconds until they are
        gone, reaping those re-parented to the harness. Returns how many there were."""
        killed: dict[int, int] = {}
        candidates = dict(seen)
        for _ in range(20):
            candidates.update(self.members())
            todo = {
                pid: start
                for pid, start in candidates.items()
                if pid != self.root and pid not in killed and _kill_exactly(pid, start)
            }
            if not todo:
                break
            killed.update(todo)
        _reap(killed, time.monotonic() + settle)
        return len(killed)


def _kill_exactly(pid: int, start: int) -> bool:
    """SIGKILL the process `pid` only if it is still the one that started at `start`; True
    when it was that one (a zombie is not signalled, but counts: it is to be reaped).

    A pidfd pins the process: once it is open and the start time matches, a pid reused
    meanwhile cannot receive the signal. Without pidfds (Linux < 5.3) the gap is a few
    microseconds between the check and the kill.
    """
    if hasattr(os, "pidfd_open"):
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return False  # gone
        try:
            found = read_proc(pid)
            if found is None or found.start != start:
                return False
            if not found.zombie:  # a zombie is dead already: only to be reaped
                signal.pidfd_send_signal(fd, signal.SIGKILL)
            return True
        except OSError:
            return False
        finally:
            os.close(fd)
    found = read_proc(pid)
    if found is None or found.start != start:
        return False
    if not found.zombie:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            return False
    return True


def _reap(killed: Mapping[int, int], deadline: float) -> None:
    """Wait until the killed processes are gone; those re-parented to the harness end as its
    zombies, and nobody else waits for them, so reap them here."""
    me = os.getpid()
    left = dict(killed)
    while left and time.monotonic() < deadline:
        for pid, start in list(left.items()):
            found = read_proc(pid)
            if found is None or found.start != start:
                del left[pid]
            elif found.zombie and found.ppid == me:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
        if left:
            time.sleep(0.01)
