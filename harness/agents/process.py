"""The agent as its own process: started with only connection URLs, health-checked, logged.

The agent gets a minimal environment (PATH, locale, Python paths) plus exactly
the variables the suite declares, as a production deployment would, never the
harness's own environment. Its output is redacted line by line into the run's
agent.log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness import procs
from harness.errors import AgentStartError
from harness.procs import die_with_parent, tail
from harness.redact import SECRET_NAME, Redactor
from harness.spec.models import AgentConfig, AgentProcess
from harness.spec.template import Template, TemplateError, format_value, render_deep

PASSED_THROUGH = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "SYSTEMROOT",
)


class AgentProcessRunner:
    """Starts, health-checks and stops the agent's process group."""

    def __init__(
        self,
        config: AgentProcess,
        context: dict[str, Any],
        root: Path,
        log_path: Path,
        redactor: Redactor,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        cache: dict[str, Template] = {}
        self.config = config
        self.argv = [format_value(a) for a in render_deep(config.command, context, cache)]
        cwd = format_value(render_deep(config.cwd, context, cache)) if config.cwd else "."
        self.cwd = (root / cwd).resolve()
        self.env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
        self.env["PYTHONUNBUFFERED"] = "1"
        self.env.update(extra_env or {})  # the harness's own (OTLP), under the suite's
        declared = {k: format_value(v) for k, v in render_deep(config.env, context, cache).items()}
        self.env.update(declared)
        #: declared variables that came out empty, e.g. from an unset {{ env.NAME }} (not
        #: those written empty, or with a `default` for when it is unset: said on purpose)
        self.empty = sorted(
            k for k, v in declared.items() if v == "" and _maybe_unset(config.env.get(k))
        )
        for name, value in declared.items():
            if SECRET_NAME.search(name) and len(value) >= 6:  # never in logs or reports
                redactor.add(value)
        self.health_url = (
            format_value(render_deep(config.health.url, context, cache)) if config.health else None
        )
        self.log_path = log_path
        self.redact = redactor
        self.proc: asyncio.subprocess.Process | None = None
        self.tree: procs.ProcessTree | None = None
        self._pump: asyncio.Task[None] | None = None
        self.ready_seconds = 0.0
        #: the harness is stopping it (the session's end): its exit from then on is no crash
        self.stopping = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def exit_code(self) -> int | None:
        """None while the agent runs (or before it started)."""
        return self.proc.returncode if self.proc else None

    async def wait_exit(self, timeout: float) -> int | None:
        """The exit code if the process ends within timeout, else None (it is alive)."""
        if self.proc is None:
            return None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.proc.wait()), timeout)
        return self.proc.returncode

    def log_tail(self, lines: int = 25) -> str:
        return tail(self.log_path, lines) or "(the log is empty: the agent wrote nothing)"

    async def start(self, on_spawn: Callable[[int], None] | None = None) -> float:
        """Start the process and wait for its health check; return seconds until healthy.
        `on_spawn(pid)` is called as soon as the process exists (before it is healthy)."""
        started = time.perf_counter()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # before the agent exists: what it starts and then abandons comes back to the harness
        procs.become_subreaper()
        since = procs.clock_ticks()
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGKILL),
            )
        except OSError as exc:
            raise AgentStartError(
                f"cannot start the agent ({' '.join(self.argv)}): {exc}",
                hint="check environment.agent.process.command and cwd in suite.yaml",
            ) from exc
        self.tree = procs.ProcessTree.of(self.proc.pid, since)
        self._pump = asyncio.create_task(self._copy_output())
        if on_spawn is not None:
            on_spawn(self.proc.pid)
        if self.config.health is not None:
            await self._wait_healthy(self.config.health.timeout, self.config.health.interval)
        self.ready_seconds = time.perf_counter() - started
        return self.ready_seconds

    async def _copy_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with open(self.log_path, "a", encoding="utf-8") as log:
            pending = b""  # masked by whole lines: a secret split across reads is still seen
            while True:
                chunk = await self.proc.stdout.read(65536)
                if not chunk:
                    break
                pending += chunk
                cut = pending.rfind(b"\n") + 1 if len(pending) < 1_048_576 else len(pending)
                if cut:
                    log.write(self.redact(pending[:cut].decode("utf-8", errors="replace")))
                    log.flush()
                    pending = pending[cut:]
            if pending:
                log.write(self.redact(pending.decode("utf-8", errors="replace")))

    async def _wait_healthy(self, timeout: float, interval: float) -> None:
        assert self.proc is not None and self.health_url is not None
        proc = self.proc
        healthy, last = await wait_healthy(
            self.health_url, timeout, interval, lambda: proc.returncode is None
        )
        if healthy:
            return
        if self._pump is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._pump), 1.0)
        code = self.proc.returncode
        what = (
            f"the agent exited with code {code} before it was healthy"
            if code is not None
            else f"at {self.health_url}, {last}"
            if last.startswith(UNTRUSTED)
            else f"the agent was not healthy at {self.health_url} within {timeout:g} s ({last})"
        )
        await self.stop()
        raise AgentStartError(
            f"{what}\n--- last lines of {self.log_path} ---\n{self.log_tail(25)}",
            hint=TRUST_HINT
            if last.startswith(UNTRUSTED)
            else "run the agent's command by hand with the same environment to see why",
        )

    async def stop(self) -> None:
        """SIGTERM the agent's process group, then SIGKILL it after stop_timeout; then SIGKILL
        every process it started that is left, in its group or not (procs.ProcessTree)."""
        proc = self.proc
        if proc is None:
            return
        self.stopping = True
        # looked at before the agent goes: its children are found by their parent until then
        seen = self.tree.members() if self.tree is not None else {}
        if proc.returncode is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.config.stop_timeout)
            except TimeoutError:
                _signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
        _signal_group(proc.pid, signal.SIGKILL)  # children it left behind in its group
        if self.tree is not None:
            await asyncio.to_thread(self.tree.kill, seen)
            self.tree = None
        if self._pump is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._pump, 2.0)
            self._pump = None


UNTRUSTED = "the agent's TLS certificate fails verification"
TRUST_HINT = (
    "the agent's certificate must be issued to the host in the suite's URL, be valid now, and "
    "be signed by a CA the system trusts or that the file SSL_CERT_FILE names"
)


async def wait_healthy(
    url: str, timeout: float, interval: float, alive: Callable[[], bool] = lambda: True
) -> tuple[bool, str]:
    """Poll url until it answers 200, the timeout passes or alive() turns false;
    (healthy, what the last attempt saw)."""
    import ssl

    from harness.agents import client  # a python agent's run never needs an HTTP client

    deadline = time.monotonic() + timeout
    last = "no answer yet"
    pool = client.Pool(1)
    try:
        while time.monotonic() < deadline and alive():
            try:
                async with asyncio.timeout(2), pool.request("GET", url, {}) as resp:
                    if resp.status == 200:
                        return True, "HTTP 200"
                    last = f"HTTP {resp.status}"
            except (OSError, TimeoutError) as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if isinstance(exc.__cause__, ssl.SSLCertVerificationError):
                    return False, f"{UNTRUSTED} ({exc.__cause__.verify_message})"  # never heals
            await asyncio.sleep(interval)
    finally:
        pool.close()
    return False, last


async def check_reachable(config: AgentConfig, context: dict[str, Any]) -> None:
    """An agent the harness does not start must already answer, or the run stops with exit 3
    before any case (otherwise every case would read as a divergence)."""
    cache: dict[str, Template] = {}
    if config.health is not None:
        url = format_value(render_deep(config.health.url, context, cache))
        healthy, last = await wait_healthy(url, config.health.timeout, config.health.interval)
        if not healthy and last.startswith(UNTRUSTED):
            raise AgentStartError(f"at {url}, {last}", hint=TRUST_HINT)
        if not healthy:
            raise AgentStartError(
                f"the agent was not healthy at {url} within {config.health.timeout:g} s ({last})",
                hint="start the agent first, or give environment.agent.process so the harness "
                "starts it",
            )
        return
    probe = _probe_url(config, context)
    if probe is None:
        return
    url = probe
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port), 5)
    except (OSError, TimeoutError) as exc:
        raise AgentStartError(
            f"nothing answers at {url} ({type(exc).__name__}: {exc})",
            hint="start the agent first, add environment.agent.health to wait for it, or give "
            "environment.agent.process so the harness starts it",
        ) from None
    writer.close()


class _Any(Mapping[str, Any]):
    """Stands for what a conversation only knows later (session, reply, turn): any key is
    there, and reads as a placeholder, so the agent's address can be told before any case."""

    def __getitem__(self, key: str) -> Any:
        return self

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __str__(self) -> str:
        return "x"


def _probe_url(config: AgentConfig, context: dict[str, Any]) -> str | None:
    """The URL whose host and port must answer: the first request a conversation makes."""
    if config.openai is not None:
        source: str = config.openai.base_url
    elif config.http is not None:
        first = config.http.login or config.http.open
        source = first.url if first is not None else config.http.url
    else:
        return None
    later = {name: _Any() for name in ("session", "reply", "turn", "case", "vars")}
    try:
        return format_value(render_deep(source, {**context, **later}, {}))
    except TemplateError as exc:
        raise AgentStartError(f"the agent's URL {source!r} cannot be rendered: {exc}") from None


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _maybe_unset(raw: object) -> bool:
    """A declared value that reads something (`{{ env.NAME }}`) with no `default` for it."""
    if not isinstance(raw, str):
        return False
    template = Template(raw)
    return not template.is_literal and not any(
        f.name == "default" for e in template.expressions() for f in e.filters
    )
