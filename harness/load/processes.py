"""The load generator's processes as the harness starts, watches and stops them.

Each runs `python -m harness.load.roles` in its own session (a Ctrl-C at the
terminal reaches the harness only, which then stops them in order), with a
parent-death signal (a `kill -9` of the harness takes them down too) and its
output in its own log in the run's folder. The tag in every command line names
the run, so a person (or a test) can tell a run's processes apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
from harness.empty import empty_list
from harness.procs import spawn, tail
from harness.redact import redact

MODULE = "harness.load.roles"


@dataclass
class LoadProcess:
    role: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class LoadProcesses:
    run_dir: Path
    run_id: str
    procs: list[LoadProcess] = field(default_factory=empty_list)
    stopping: bool = False  # the harness stopped them: their exit codes say nothing

    def _spawn(self, role: str, name: str, *args: str) -> LoadProcess:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        package_root = str(Path(harness.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        log = self.run_dir / f"load-{name}.log"
        argv = [sys.executable, "-m", MODULE, role, *args, "--tag", f"harness-{self.run_id}"]
        proc = spawn(argv, log_path=log, env=env)
        item = LoadProcess(role, proc, log)
        self.procs.append(item)
        return item

    def start_local(self, url: str) -> None:
        self._spawn("local", "local", "--harness", url)

    def start_master(self, url: str, bind: str, port: int, expect: int) -> None:
        args = ("--harness", url, "--bind", bind, "--port", str(port), "--expect", str(expect))
        self._spawn("master", "master", *args)

    def start_worker(self, n: int, master_host: str, port: int, url: str) -> None:
        args = ("--master-host", master_host, "--master-port", str(port), "--harness", url)
        self._spawn("worker", f"worker-{n}", *args)

    def exited(self) -> list[tuple[LoadProcess, int]]:
        return [(p, code) for p in self.procs if (code := p.proc.poll()) is not None]

    @property
    def running(self) -> bool:
        return any(p.proc.poll() is None for p in self.procs)

    def failure(self) -> str | None:
        """The first process that exited with an error, with its last log lines."""
        if self.stopping:
            return None
        for p, code in self.exited():
            if code != 0:
                return (
                    f"the load generator's {p.role} process (pid {p.pid}) exited with code "
                    f"{code}; last lines of {p.log}:\n{tail(p.log, 15)}"
                )
        return None

    async def wait(self, timeout: float) -> bool:
        """True when every process ended within timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.running and loop.time() < deadline:
            await asyncio.sleep(0.05)
        return not self.running

    async def stop(self, timeout: float = 3.0) -> None:
        """SIGTERM (each hands back what finished, then exits), then SIGKILL what is left."""
        self.stopping = True
        for p in self.procs:
            if p.proc.poll() is None:
                _signal(p.pid, signal.SIGTERM)
        if not await self.wait(timeout):
            for p in self.procs:
                if p.proc.poll() is None:
                    _signal(p.pid, signal.SIGKILL)
            await self.wait(5.0)

    def mask_logs(self) -> None:
        """The generator's processes write their own logs (locust's failure messages quote
        the agent's replies); once they have ended, every secret in them is masked."""
        for p in self.procs:
            if p.proc.poll() is not None and p.log.is_file():
                raw = p.log.read_bytes()
                masked = redact.text(raw)
                if masked != raw:
                    p.log.write_bytes(masked)

    def manifest(self) -> list[dict[str, Any]]:
        return [{"role": p.role, "pid": p.pid, "log": p.log.name} for p in self.procs]


def _signal(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
