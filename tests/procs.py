"""Finding processes a run may have left behind, by what is on their command line."""

from __future__ import annotations

import os
import time
from pathlib import Path

AGENT_MARK = "fixtures.refund_desk.agent"


def processes_matching(*needles: str) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except OSError:
            continue
        if state != "Z" and any(n in cmd for n in needles):
            found.append((int(entry.name), cmd.strip()))
    return found


def run_processes(run_id: str) -> list[tuple[int, str]]:
    """Servers (data dirs carry the run id) and demo agents still alive."""
    return processes_matching(f"harness-{run_id}", AGENT_MARK)


def wait_gone(run_id: str, timeout: float = 15.0) -> list[tuple[int, str]]:
    """Processes die asynchronously after their parent; give the kernel a moment."""
    deadline = time.monotonic() + timeout
    left = run_processes(run_id)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = run_processes(run_id)
    return left
