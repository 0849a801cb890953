"""The environment every session needs: dependencies up, agent up, torn down after.

`async with environment(...) as env:` enters the dependencies, the agent's own
process and its adapter into one AsyncExitStack, so whatever ends the block
(normal exit, an exception, Ctrl-C, SIGTERM) stops all of them. What it learns on the
way (dependencies, the agent's pid and version) goes into the run log's manifest, and
every secret it meets (passwords, secret-named variables and headers) into `redact`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import AsyncIterator, Collection, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from harness.agents.base import AgentAdapter, Call, Conversation, Reply
from harness.agents.process import AgentProcessRunner, check_reachable
from harness.agents.python import PythonAgent, check_importable
from harness.core import Failure, FailureKind
from harness.core.events import AgentReady, Emit, Note
from harness.core.watch import Watcher
from harness.deps.manager import DependencySet, scratch_root
from harness.deps.options import DepsOptions
from harness.deps.select import resumed_options, select_provider
from harness.empty import empty_dict, empty_list
from harness.errors import ConfigError
from harness.generate.identity import Identity
from harness.procs import free_port
from harness.redact import SECRET_NAME as SECRET_HEADER
from harness.redact import redact
from harness.run.engine import Engine, Sink
from harness.run.preflight import check_against_schema, fixed_unique_values
from harness.runlog.models import AgentInfo, DepsChoice
from harness.runlog.store import RunLog
from harness.session import faults, traces
from harness.spec.models import AgentConfig, Turn
from harness.spec.suite import Suite
from harness.spec.template import TemplateError, format_value, render_deep
from harness.spec.trace import agent_revision
from harness.stubs.attribution import refuse_unattributable

if TYPE_CHECKING:  # imported by a run that traces or has faults (session/traces, faults)
    from harness.faults import LinkProxy
    from harness.otel.receiver import TraceReceiver


class WatchedAgent:
    """The adapter, plus the agent process's death named in every call that failed after it
    (otherwise a crash mid-run would only show as refused connections)."""

    def __init__(self, inner: AgentAdapter, runner: AgentProcessRunner, emit: Emit) -> None:
        self.inner = inner
        self.runner = runner
        self.emit = emit
        self.name = inner.name
        self._told = False

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    def conversation(self, context: dict[str, Any]) -> WatchedConversation:
        return WatchedConversation(self, self.inner.conversation(context))

    @property
    def exit_code(self) -> int | None:
        """The agent process's exit code once it has ended, else None."""
        return self.runner.exit_code

    @property
    def log_path(self) -> Path:
        return self.runner.log_path

    async def blame(self, failure: Failure) -> Failure:
        """A failure after the agent's process died says so (a refused connection: was it?);
        not once the harness is stopping it itself: that is no death during the run."""
        code = self.runner.exit_code
        if code is None and failure.kind is FailureKind.CONNECTION and not self.runner.stopping:
            code = await self.runner.wait_exit(0.5)
        if code is None or self.runner.stopping:
            return failure
        if not self._told:
            self._told = True
            said = f"the agent process exited with code {code} during the run; every later case"
            lines = self.runner.log_tail(15)
            tail = f"is an error. Last lines of {self.runner.log_path}:\n{lines}"
            self.emit(Note(f"{said} {tail}", "error"))
        return failure.with_message(
            f"{failure.message} (the agent process had exited with code {code}; its last "
            "lines: agent.log in the run folder)",
            FailureKind.AGENT_EXITED,
        )


class WatchedConversation:
    def __init__(self, agent: WatchedAgent, inner: Conversation) -> None:
        self.agent = agent
        self.inner = inner

    @property
    def session(self) -> dict[str, Any]:
        return self.inner.session

    @property
    def closes(self) -> bool:
        return self.inner.closes

    @property
    def calls(self) -> list[Call]:
        return self.inner.calls

    async def open(self, context: dict[str, Any]) -> Failure | None:
        failure = await self.inner.open(context)
        return None if failure is None else await self.agent.blame(failure)

    async def send(self, text: str, turn: Turn | None, context: dict[str, Any]) -> Reply:
        reply = await self.inner.send(text, turn, context)
        if reply.failure is not None:
            reply.failure = await self.agent.blame(reply.failure)
        return reply

    async def close(self, context: dict[str, Any]) -> None:
        await self.inner.close(context)


class EnvView(Mapping[str, str]):
    """`{{ env.NAME }}`: the harness's environment, read only where a suite asks by name."""

    def __getitem__(self, key: str) -> str:
        return os.environ.get(key, "")

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def agent_version(config: AgentConfig, context: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """environment.agent.version rendered (e.g. from {{ env.AGENT_VERSION }}), for the
    manifest; an empty result is said and left out."""
    if config.version is None:
        return {}
    version = format_value(render_deep(config.version, context, {})).strip()
    if not version:
        emit(Note("environment.agent.version is empty (an unset env variable?)", "warning"))
        return {}
    return {"version": redact(version)}


@dataclass
class Environment:
    suite: Suite
    log: RunLog
    deps: DependencySet
    agent: AgentAdapter
    #: the run's OTLP receiver, when it traces (a span check, a service matched by traceparent)
    receiver: TraceReceiver | None = None
    #: what sees each conversation from outside the agent: its spans, its service requests
    watchers: list[Watcher] = field(default_factory=empty_list)
    #: the fault proxies by link, in runs that use faults (the agent reaches these links there)
    links: dict[str, LinkProxy] = field(default_factory=empty_dict)

    def engine(self, concurrency: int, case_timeout: float, emit: Emit, sink: Sink) -> Engine:
        engine = Engine(
            self.suite,
            self.agent,
            self.deps.targets,
            run_id=self.log.run_id,
            concurrency=concurrency,
            case_timeout=case_timeout,
            emit=emit,
            sink=sink,
            identity=Identity(
                self.deps.uniques,
                self.suite.database_for,
                self.suite.params,
                self.suite.param_kinds,
            ),
            watchers=self.watchers,
            traced=self.receiver is not None,
            links=self.links,
        )
        runner = getattr(self.agent, "runner", None)  # recovery checks' health: true polls it
        engine.talk.health = getattr(runner, "health_url", None)
        return engine


def preflight(suite: Suite) -> None:
    """What can be known wrong about the environment before anything starts (exit 2,
    nothing created); every command's driver calls it once while it plans."""
    if suite.manifest.environment.agent.python is not None:
        check_importable(suite.manifest.environment.agent.python, suite.root)
    scratch_root()  # HARNESS_WORKDIR must be a folder


@asynccontextmanager
async def environment(
    suite: Suite,
    log: RunLog,
    deps_options: DepsOptions,
    concurrency: int,
    emit: Emit,
    *,
    resumed: bool = False,
    links: Collection[str] = (),
) -> AsyncIterator[Environment]:
    """Dependencies, then the agent, up; both down when the block ends, however it ends.
    The seconds each took go into the manifest's phases. `links`: the dependencies a fault of
    the run names (`session/faults.links_for`): each gets a proxy the agent is told instead."""
    # which provider and why is settled (and said) before anything starts; a resumed run
    # keeps the provider and images it started on
    options = deps_options
    # a call check or scenario route on a stub needs its requests attributed (exit 2, here)
    refuse_unattributable(suite, concurrency)
    _external_secrets(suite, options)
    if resumed and log.manifest.deps is not None:
        options = resumed_options(options, log.manifest.deps.model_dump())
    selection = await select_provider(suite, options, resuming=log.run_id if resumed else None)
    starts = bool(suite.manifest.environment.dependencies)  # else saved with the agent's start
    log.update(deps=DepsChoice.model_validate(selection.manifest()), save=starts)
    for note in selection.notes:
        emit(note)
    async with AsyncExitStack() as stack:
        started = time.perf_counter()
        deps = DependencySet(
            suite,
            selection.provider,
            run_id=log.run_id,
            emit=emit,
            redactor=redact,
            pool_size=concurrency + 2,
        )
        await stack.enter_async_context(deps)
        log.manifest.phases.add("dependencies", time.perf_counter() - started)
        log.update(dependencies=list(deps.infos), save=starts)
        if deps.targets.databases:
            problems = await check_against_schema(suite, deps.targets.databases)
            if problems:
                raise ConfigError(
                    "the suite does not match the database's schema:\n" + "\n".join(problems),
                    hint="fix the names in the suite (or the schema it loads); nothing ran",
                )
            identity = Identity(deps.uniques, suite.database_for, suite.params)
            for text in fixed_unique_values(suite, identity):
                emit(Note(text, "warning"))
        receiver = await traces.start_receiver(suite, stack)
        seed = int(getattr(log.manifest, "seed", 0) or 0)
        proxies = await faults.start_proxies(links, deps.endpoints, seed, stack, emit)
        started = time.perf_counter()
        try:
            context = faults.agent_context(deps.endpoints, proxies)
            agent = await _start_agent(suite, log, context, concurrency, emit, stack, receiver)
        except TemplateError as exc:  # e.g. {{ otel.endpoint }} in a suite that does not trace
            raise ConfigError(f"environment.agent: {exc}") from None
        log.manifest.phases.add("agent", time.perf_counter() - started)
        log.save()
        watchers: list[Watcher] = [
            *traces.trace_watchers(suite, receiver),
            *deps.watchers(concurrency),  # the stub services' (their requests per case)
        ]
        try:
            yield Environment(suite, log, deps, agent, receiver, watchers, proxies)
            started = suite.manifest.environment.agent.process is not None
            await traces.wait_late(receiver, started, emit)
        finally:  # the cases are judged; the receiver still listens until the stack closes
            if (info := traces.conclude(receiver, emit)) is not None:
                log.update(traces=info)


async def _start_agent(
    suite: Suite,
    log: RunLog,
    deps: dict[str, Any],
    concurrency: int,
    emit: Emit,
    stack: AsyncExitStack,
    receiver: TraceReceiver | None = None,
) -> AgentAdapter:
    config = suite.manifest.environment.agent
    traces.announce(receiver, config.process is not None, emit)
    context: dict[str, Any] = {
        "python": sys.executable,
        "agent": {"port": free_port()},
        "deps": deps,
        "suite_dir": str(suite.root),
        "run": {"id": log.run_id},
        "env": EnvView(),
        "params": suite.params,
        "otel": traces.otel_context(receiver),
    }
    _suite_secrets(suite, context)
    runner: AgentProcessRunner | None = None
    info = agent_version(config, context, emit)
    interfaces = ("http", "openai", "python")
    info["interface"] = next(k for k in interfaces if getattr(config, k) is not None)
    if config.openai is not None:
        info["model"] = config.openai.model
        info["prices"] = {name: p.model_dump() for name, p in config.openai.prices.items()}
    if config.process is not None:
        log_path = log.dir / "agent.log"
        otlp = traces.agent_environment(receiver)
        runner = AgentProcessRunner(config.process, context, suite.root, log_path, redact, otlp)
        stack.push_async_callback(runner.stop)
        if runner.empty:
            emit(
                Note(
                    f"the agent gets empty {', '.join(runner.empty)} (an unset env variable?)",
                    "warning",
                )
            )
        info.update(command=redact(" ".join(runner.argv)), git=agent_revision(runner.cwd))
        seconds = await runner.start(
            on_spawn=lambda pid: log.update(agent=AgentInfo(pid=pid, **info))
        )
        log.update(agent=AgentInfo(pid=runner.pid, ready_seconds=round(seconds, 3), **info))
        emit(AgentReady(runner.pid, seconds, str(log_path)))
    else:
        if config.python is not None and config.python.path:  # started in-process from there
            info["git"] = agent_revision(suite.root / config.python.path[0])
        log.update(agent=AgentInfo(**info))  # saved: an agent that never answers is named
        await check_reachable(config, context)
    adapter: AgentAdapter
    if config.http is not None:
        from harness.agents.http import HttpAgent

        adapter = HttpAgent(config.http, context, concurrency)
        _secret_headers(config.http.headers, context)
    elif config.openai is not None:
        from harness.agents.http import OpenAIAgent

        adapter = OpenAIAgent(config.openai, context, concurrency)
        _secret_headers(config.openai.headers, context)
        key_env = config.openai.api_key_env
        if key_env and not os.environ.get(key_env):
            emit(Note(f"{key_env} (the agent's api_key_env) is not set: requests carry no "
                      "API key", "warning"))  # fmt: skip
    else:
        assert config.python is not None
        for key, value in render_deep(config.python.env, context, {}).items():
            os.environ[key] = format_value(value)
            redact.add_named({key: os.environ[key]})
        adapter = PythonAgent(config.python, suite.root)
        emit(Note(f"python agent {config.python.callable} loaded in-process"))
    await adapter.open()
    stack.push_async_callback(adapter.close)
    return WatchedAgent(adapter, runner, emit) if runner is not None else adapter


def _secret_headers(headers: Mapping[str, str], context: dict[str, Any]) -> None:
    """Header values with secret-like names (Authorization, X-Api-Key, Cookie ...), and the
    credential after a scheme word ("Bearer abc" -> "abc"), are never written anywhere
    (those rendered per conversation, from captured tokens, are masked as they are sent)."""
    for name, template in headers.items():
        try:
            value = format_value(render_deep(template, context, {}))
        except TemplateError:
            continue  # uses the session or the case: masked when sent
        if SECRET_HEADER.search(name):
            redact.add(value)
            scheme, _, credential = value.partition(" ")
            if credential and scheme.isalpha():
                redact.add(credential.strip())


def _external_secrets(suite: Suite, options: DepsOptions) -> None:
    """The passwords in external services' URLs (--external, HARNESS_EXTERNAL_*, suite.yaml)
    are secrets from the start, before any message could quote one."""
    urls = [item.partition("=")[2] for item in options.externals]
    urls += [v for k, v in os.environ.items() if k.startswith("HARNESS_EXTERNAL_")]
    urls += [
        dep.external.url
        for dep in suite.manifest.environment.dependencies.values()
        if dep.external is not None
    ]
    for url in urls:
        try:
            password = urlsplit(url).password
        except ValueError:
            continue
        if password:
            redact.add(unquote(password))


def _suite_secrets(suite: Suite, context: dict[str, Any]) -> None:
    """What the suite marks secret (environment.secrets), rendered with what the agent's
    own templates see, once the dependencies' addresses and passwords are known."""
    for template in suite.manifest.environment.secrets:
        redact.add(format_value(render_deep(template, context, {})).strip())
