"""Finding the processes a run started, from what it recorded, so that only its own count.

A run's manifest names the agent's pid, each embedded server's pid, a load run's locust
processes and each stubbed service's port, and the servers' data directories carry the run
id; nothing else on the machine (other runs, other sessions) is looked at.
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers import poll, read_manifest


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _cmdlines() -> dict[int, str]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out[int(entry.name)] = (
                    (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                )
            except OSError:
                continue
    return out


def run_processes(run_dir: Path) -> list[tuple[int, str]]:
    """The run's agent and servers that are still alive."""
    manifest = read_manifest(run_dir)
    pids = set()
    if manifest.get("agent", {}).get("pid"):
        pids.add(int(manifest["agent"]["pid"]))
    for dep in manifest.get("dependencies") or []:
        pid = (dep.get("extra") or {}).get("pid")
        if pid:
            pids.add(int(pid))
    for proc in (manifest.get("load") or {}).get("processes") or []:  # harness load's locust
        if proc.get("pid") and not proc.get("remote"):
            pids.add(int(proc["pid"]))
    cmdlines = _cmdlines()
    marked = {pid for pid, cmd in cmdlines.items() if f"harness-{run_dir.name}" in cmd}
    alive = [(pid, cmdlines.get(pid, "")) for pid in sorted(pids | marked) if _alive(pid)]
    # a stubbed service is a port of the harness's own process, not a process: still listening
    # once the run is over, it was left behind
    for dep in manifest.get("dependencies") or []:
        port = (dep.get("extra") or {}).get("port")
        if dep.get("kind") == "http_service" and port and listening(int(port)):
            alive.append((0, f"stub {dep.get('name')} listening on 127.0.0.1:{port}"))
    return alive


def wait_gone(run_dir: Path, timeout: float = 15.0) -> list[tuple[int, str]]:
    """Processes die asynchronously after their parent; give the kernel a moment."""
    return poll(
        lambda: run_processes(run_dir), until=lambda left: not left, timeout=timeout, every=0.1
    )


def listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port (a stub the run should have closed)."""
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
