"""One load run while it runs: the case server, the feeder, the invariant samples and the
load generator's processes, bounded in time and stopped on every way out.

The harness's own process keeps everything that judges (the environment, the
engine, the case feeder, the invariant samples) and starts the load generator's
processes, which it stops (and, past a deadline, kills) on every way out: the
profile's end, an early stop, Ctrl-C or SIGTERM. What finished is stored as it
finishes; the manifest says how far the run got. The driver is modes/load.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from typing import TYPE_CHECKING, Any

from harness.agents.http import HttpAgent, OpenAIAgent
from harness.core.events import Emit, LoadProgress, Note, ignore
from harness.errors import ConfigError, EnvironmentFault
from harness.load.ahead import Ahead
from harness.load.feeder import JUDGES, PREPARERS, Feeder
from harness.load.invariants import InvariantWatch, Sample, SetupGate
from harness.load.processes import LoadProcesses
from harness.load.server import LoadState, make_app, serve
from harness.load.timeline import Timeline
from harness.load.windows import FaultWindows
from harness.load.wire import STOP_GRACE, pack
from harness.procs import free_port
from harness.runlog.models import AgentExit, LoadManifest, LoadProcess, LoadSample, LocustTotals
from harness.runlog.store import RunLog
from harness.session.environment import Environment, WatchedAgent
from harness.spec.load import ProfileBase
from harness.spec.models import Scenario
from harness.spec.suite import Suite

if TYPE_CHECKING:
    from harness.modes.load import LoadOptions

START_TIMEOUT = 120.0  # seconds for the generator's processes (and workers) to come up
MANIFEST_EVERY = 2.0


def agent_config(suite: Suite, env: Environment) -> dict[str, Any]:
    """The agent as the generator's processes drive it: its adapter's kind and configuration,
    the context of its templates (port, deps, env; typed), the chat URL of an OpenAI one.
    An API key is never sent: each process reads it from its own environment."""
    agent = env.agent.inner if isinstance(env.agent, WatchedAgent) else env.agent
    if isinstance(agent, OpenAIAgent):
        kind, url = "openai", agent.url
    elif isinstance(agent, HttpAgent):
        kind, url = "http", ""
    else:  # pragma: no cover - refused by the driver's plan
        raise ConfigError("harness load drives agents over HTTP (http or openai)")
    config = agent.config  # a stream's adapter is refused with a `reply`, its default too
    streamed = getattr(config, "stream", None) is not None
    return {
        "kind": kind,
        "config": config.model_dump(mode="json", exclude={"reply"} if streamed else None),
        "base": pack(agent.base_context),
        "url": url,
        "timeout": agent.config.timeout,
    }


def _ahead(env: Environment, suite: Suite) -> Ahead | None:
    agent = env.agent.inner if isinstance(env.agent, WatchedAgent) else env.agent
    if isinstance(agent, HttpAgent):
        return Ahead(agent.config, agent.base_context, list(suite.scenarios))
    return None


def scenarios_config(scenarios: list[Scenario]) -> dict[str, Any]:
    """Each scenario's turns (text template, contract) and tool results, for the generator."""
    out: dict[str, Any] = {}
    for s in scenarios:
        turns = [
            [t, None] if isinstance(t, str) else [t.text, t.model_dump(mode="json")]
            for t in s.turns
        ]
        out[s.id] = {"turns": turns, "tool_results": s.tool_results}
    return out


class LoadSession:
    """Everything one load run holds while it runs."""

    def __init__(
        self,
        suite: Suite,
        profile: ProfileBase,
        log: RunLog,
        env: Environment,
        options: LoadOptions,
        emit: Emit,
    ) -> None:
        self.suite, self.profile, self.log, self.env = suite, profile, log, env
        self.options, self.emit = options, emit
        m = log.manifest
        assert isinstance(m, LoadManifest)
        self.manifest = m
        agent = agent_config(suite, env)
        self.engine = env.engine(PREPARERS + JUDGES, m.case_timeout, ignore, log.append)
        self.timeline = Timeline(profile.stages(), profile.length, profile.window_seconds())
        self.watch = InvariantWatch(suite, env.deps.targets)
        self.gate = SetupGate()
        self.feeder = Feeder(
            suite,
            self.engine,
            log,
            profile,
            seed=m.seed,
            watch=self.watch,
            gate=self.gate,
            timeline=self.timeline,
            agent=env.agent.runner if isinstance(env.agent, WatchedAgent) else None,
            ahead=_ahead(env, suite),
        )
        turns = max(len(s.turns) for s in self.feeder.scenarios)
        self.stop_timeout = min(60.0, max(2.0, turns * float(agent["timeout"])))
        self.state = LoadState(
            config={
                "run": log.run_id,
                "agent": agent,
                "scenarios": scenarios_config(self.feeder.scenarios),
                "schedule": m.load.schedule,
                "length": profile.length,
                "wait": list(profile.wait),
                # the windows on the load's clock: the generator plays turns by them
                "faults": [[f.at, f.end, list(f.accept_status)] for f in profile.faults],
                "stop_timeout": self.stop_timeout,
            }
        )
        self.procs = LoadProcesses(log.dir, log.run_id)
        #: the profile's fault windows, on the links' proxies (the environment's: the driver's
        #: `fault_links`)
        self.faults = FaultWindows(
            profile.faults,
            env.links,
            lambda: self.timeline.t0,
            lambda text: emit(Note(text)),
            source=f"load:{options.profile}",
        )
        self.timeline.faults = self.faults if profile.faults else None
        self.samples: list[Sample] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self._server: Any = None
        self._last_manifest = 0.0
        #: the agent process's exit code and the load's seconds when the harness saw it gone
        self.agent_exit: tuple[int, float] | None = None

    @property
    def cut_short(self) -> str | None:
        """Why the load stopped before its profile's end, when the agent process died."""
        if self.agent_exit is None:
            return None
        code, at = self.agent_exit
        return (
            f"the agent process exited with code {code} at {at:.1f} s; the load was cut short "
            f"there (see {self.log.dir / 'agent.log'})"
        )

    async def run(self) -> None:
        app = make_app(self.state, self.feeder, self.timeline)
        self._server, port = await serve(app, self.options.bind, self.options.case_port or 0)
        local_host = (
            "127.0.0.1" if self.options.bind in ("0.0.0.0", "::", "") else self.options.bind
        )
        path = f"/{self.state.secret}"
        local_url = f"http://{local_host}:{port}{path}"
        public = self.options.advertise or _public(self.options.bind) or local_host
        public_url = f"http://{public}:{port}{path}"
        self.tasks += [
            asyncio.create_task(self.feeder.fill()),
            asyncio.create_task(self._sample()),
            asyncio.create_task(self.faults.run()),
        ]
        self._start_generator(local_url, public_url)
        await self._wait_started()
        await self._watch()

    def _start_generator(self, local_url: str, public_url: str) -> None:
        o = self.options
        expect = o.expect_workers if o.expect_workers is not None else o.workers
        if expect <= 0:
            self.procs.start_local(local_url)
        else:
            port = o.master_port or free_port()  # resolved by master_port() before the start
            master_host = "127.0.0.1" if o.bind in ("0.0.0.0", "::", "") else o.bind
            self.procs.start_master(public_url, o.bind, port, expect)
            for n in range(1, o.workers + 1):
                self.procs.start_worker(n, master_host, port, local_url)
            if expect > o.workers:
                host = o.advertise or _public(o.bind)
                if host is None:
                    self.emit(
                        Note(
                            f"waiting for {expect - o.workers} remote worker(s), but the harness "
                            "found no address of this machine that others can reach: stop and "
                            "run again with --advertise HOST, then on each machine harness "
                            f"load-worker --master-host HOST --master-port {port}",
                            "warning",
                        )
                    )
                else:
                    self.emit(
                        Note(
                            f"waiting for {expect - o.workers} remote worker(s): on each machine "
                            f"run harness load-worker --master-host {host} --master-port {port}"
                        )
                    )
        self._update_manifest(force=True)

    async def _wait_started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not self.state.started:
            if (failure := self.procs.failure()) is not None:
                raise EnvironmentFault(failure)
            if not self.procs.running or time.monotonic() > deadline:
                raise EnvironmentFault(
                    "the load generator did not start the profile "
                    f"({self.state.runner_state or 'no word from it'})",
                    hint=f"see the load-*.log files in {self.log.dir}",
                )
            await asyncio.sleep(0.05)
        self.emit(Note(f"load started: profile {self.options.profile}, {self.profile.length:g} s"))

    async def _watch(self) -> None:
        """Until every generator process has ended: progress, deadlines, a dead agent."""
        runner = self.env.agent.runner if isinstance(self.env.agent, WatchedAgent) else None
        deadline = self.profile.length + self.stop_timeout + STOP_GRACE + 15.0
        last = 0.0
        while self.procs.running:
            await asyncio.sleep(0.1)
            if (failure := self.procs.failure()) is not None:
                raise EnvironmentFault(failure)
            if runner is not None and runner.exit_code is not None and self.agent_exit is None:
                self.state.stop = True
                self.agent_exit = (runner.exit_code, self._elapsed())
                self.feeder.agent_died(runner.exit_code)
                self.emit(
                    Note(
                        f"the agent process exited with code {runner.exit_code} during the load; "
                        f"stopping. Last lines of {runner.log_path}:\n{runner.log_tail(15)}",
                        "error",
                    )
                )
            if self._elapsed() > deadline:
                self.emit(Note("the load generator overran the profile's limit; stopping it"))
                await self.procs.stop()
            if time.monotonic() - last >= 0.5:
                last = time.monotonic()
                self._progress()
                self._update_manifest()
        if (failure := self.procs.failure()) is not None:
            raise EnvironmentFault(failure)

    def _elapsed(self) -> float:
        t0 = self.timeline.t0
        return time.time() - t0 if t0 is not None else 0.0

    def _progress(self) -> None:
        c = self.feeder.counts
        requests = sum(p.requests for p in self.state.processes.values() if p.role != "master")
        self.emit(
            LoadProgress(
                seconds=min(self._elapsed(), self.profile.length),
                length=self.profile.length,
                users=self.timeline.current_users,
                requests=requests,
                judged=c.judged,
                passed=c.passed,
                violations=c.violations,  # the samples' rows are counted in the report
            )
        )

    async def _sample(self) -> None:
        """The invariants over the whole database, every few seconds while the load runs."""
        while True:
            await asyncio.sleep(self.profile.sample_every)
            if self.timeline.t0 is not None:
                await self._take_sample()

    async def _take_sample(self) -> None:
        async with self.gate.exclusive():
            sample = await self.watch.sample(self._elapsed())
        if sum(sample.violations.values()) and not any(
            sum(s.violations.values()) for s in self.samples
        ):
            found = ", ".join(f"{k} ({v} rows)" for k, v in sample.violations.items() if v)
            self.emit(Note(f"invariant violated in the database at {sample.at:.1f} s: {found}"))
        self.samples.append(sample)

    def _update_manifest(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_manifest < MANIFEST_EVERY:
            return
        self._last_manifest = now
        load = self.manifest.load
        c = self.feeder.counts
        load.t0 = self.timeline.t0
        load.users_timeline = [list(s) for s in self.timeline.samples()]
        load.samples = [LoadSample.model_validate(s.to_dict()) for s in self.samples]
        load.counts = vars(c).copy()
        load.waited_s = round(self.state.waited, 3)
        load.processes = [LoadProcess.model_validate(p) for p in self._processes()]
        load.locust = LocustTotals.model_validate(self.state.totals) if self.state.totals else None
        load.stop_timeout_s = self.stop_timeout
        if self.agent_exit is not None:
            load.agent_exit = AgentExit(code=self.agent_exit[0], at=round(self.agent_exit[1], 3))
        if self.faults.windows:
            self.faults.refresh()
            load.faults = [w.model_copy() for w in self.faults.windows]
        self.log.update(levels=self.feeder.levels.table())

    def _processes(self) -> list[dict[str, Any]]:
        reported = {p.pid: p for p in self.state.processes.values()}
        out = []
        for item in self.procs.manifest():
            p = reported.get(item["pid"])
            if p is not None:
                item.update(index=p.index, requests=p.requests, failures=p.failures, final=p.final)
            out.append(item)
        local = {p["pid"] for p in out}
        for p in reported.values():  # workers on other machines
            if p.pid not in local and p.role == "worker":
                out.append(
                    {
                        "role": "worker",
                        "pid": p.pid,
                        "remote": True,
                        "index": p.index,
                        "requests": p.requests,
                        "failures": p.failures,
                        "final": p.final,
                    }
                )
        return out

    async def shutdown(self, *, complete: bool) -> None:
        """Stop the generator, judge what came back, sample once more, sweep; store it all."""
        self.state.stop = True
        self.faults.close()  # no fault outlives the load: the links are clean again
        if self.procs.running:
            await self.procs.stop(3.0 if not complete else 10.0)
        self.procs.mask_logs()
        self.feeder.close()
        await self.feeder.drain(timeout=self.log.manifest.case_timeout if complete else 3.0)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.engine.watching.end_all()  # cases prepared or handed out, never played
        if self._server is not None:
            await self._server.cleanup()
        if complete and self.suite.invariants:
            await self._take_sample()
            self.log.append_sweep(1, await self.watch.sweep())
        self._update_manifest(force=True)


def _public(bind: str) -> str | None:
    """The address to give remote workers when none was given: the interface bound, else this
    machine's name when it resolves beyond loopback, else its first non-loopback address;
    None when there is none (then --advertise is needed)."""
    if bind not in ("0.0.0.0", "::", ""):
        return bind
    name = socket.getfqdn()
    with contextlib.suppress(OSError):
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(name, None)}
        if name and name != "localhost" and not all(_loopback(a) for a in addresses):
            return name
    return _first_address()


def _loopback(address: str) -> bool:
    return address.startswith("127.") or address == "::1"


def _first_address() -> str | None:
    """The source address of a route off this machine (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never reached, only routed
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if _loopback(address) or address == "0.0.0.0" else address
