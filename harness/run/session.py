"""One run from start to end: suite -> store -> dependencies -> agent -> engine -> reports.

Everything started here is stopped here, whatever happens: an AsyncExitStack
unwinds on normal exit, on exceptions and on cancellation (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faker

import harness
from harness.agents.base import AgentAdapter
from harness.agents.http import HttpAgent
from harness.agents.process import AgentProcessRunner
from harness.agents.python import PythonAgent
from harness.core import Case, CaseResult, Observation
from harness.deps.manager import DependencySet
from harness.deps.select import options_for, select_provider
from harness.errors import ConfigError, HarnessError
from harness.events import AgentReady, Emit, Note, RunFinished, RunStarted
from harness.procs import free_port
from harness.redact import redact
from harness.run.engine import Engine
from harness.run.plan import plan
from harness.run.store import RunStore, now_iso, reports_root
from harness.spec.suite import Suite, load_suite
from harness.spec.template import format_value, render_deep

SWEEP_CASE = "(run)"


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


@dataclass
class RunOptions:
    suite: Path | None = None
    reports_dir: Path | None = None
    seed: int | None = None
    concurrency: int | None = None
    case_timeout: float | None = None
    select: tuple[str, ...] = ()
    repeat: int | None = None
    deps: str | None = None  # None: the suite's environment.provider, else auto
    resume: str | None = None


@dataclass
class RunOutcome:
    run_id: str
    run_dir: Path
    status: str
    cases: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def _manifest(suite: Suite, options: RunOptions, seed: int, concurrency: int) -> dict[str, Any]:
    return {
        "suite": suite.name,
        "suite_path": str(suite.root),
        "suite_hash": suite.suite_hash,
        "spec_hash": suite.spec_hash,
        "spec_version": suite.spec.version,
        "spec_title": suite.spec.title,
        "requirements": [r.model_dump() for r in suite.spec.requirements],
        "seed": seed,
        "concurrency": concurrency,
        "case_timeout": options.case_timeout or suite.manifest.defaults.case_timeout,
        "select": list(options.select),
        "repeat": options.repeat,
        "deps_mode": options.deps,
        "harness_version": harness.__version__,
        "faker_version": faker.VERSION,
        "python": sys.version.split()[0],
        "started_at": now_iso(),
        "attempts": [],
    }


def open_store(options: RunOptions) -> tuple[Suite, RunStore]:
    """Validate everything and open the run's folder; nothing is started yet."""
    root = reports_root(options.reports_dir)
    if options.resume:
        store = RunStore.open(root, options.resume)
        suite = load_suite(options.suite or store.manifest["suite_path"])
        if suite.suite_hash != store.manifest.get("suite_hash"):
            raise ConfigError(
                f"the suite {suite.name} changed since run {options.resume} started, so its "
                "finished cases would not be comparable with new ones",
                hint="start a new run instead (harness run), or restore the suite's files",
            )
        return suite, store
    if options.suite is None:
        raise ConfigError("no suite given")
    suite = load_suite(options.suite)
    seed = options.seed if options.seed is not None else suite.manifest.defaults.seed
    concurrency = options.concurrency or suite.manifest.defaults.concurrency
    return suite, RunStore.create(root, _manifest(suite, options, seed, concurrency))


def planned_cases(suite: Suite, store: RunStore) -> list[Case]:
    m = store.manifest
    return list(plan(suite, int(m["seed"]), select=m.get("select") or (), repeat=m.get("repeat")))


async def execute(options: RunOptions, emit: Emit) -> RunOutcome:
    suite, store = open_store(options)
    started = time.perf_counter()
    cases = planned_cases(suite, store)
    todo = [c for c in cases if f"{c.id}@1" not in store.done]
    attempt = len(store.manifest.get("attempts", [])) + 1
    emit(
        RunStarted(
            store.run_id,
            suite.name,
            str(store.dir),
            len(cases),
            len(cases) - len(todo),
            resumed=bool(options.resume),
        )
    )
    store.manifest.setdefault("attempts", []).append({"started_at": now_iso(), "cases": len(todo)})
    store.update(status="running")
    status, error = "failed", None
    try:
        await _run(suite, store, todo, options, emit, attempt)
        status = "finished"
    except asyncio.CancelledError:
        status = "interrupted"
        raise
    except HarnessError as exc:
        error = str(exc)
        raise
    finally:
        store.close()
        elapsed = time.perf_counter() - started
        store.manifest["attempts"][-1].update(finished_at=now_iso(), status=status, error=error)
        store.update(status=status, finished_at=now_iso())
        counts = _counts(store)
        emit(RunFinished(store.run_id, status, len(store.done), elapsed, counts))
    return RunOutcome(store.run_id, store.dir, status, len(store.done), elapsed, counts)


def _counts(store: RunStore) -> dict[str, int]:
    from harness.run.store import read_records

    counts = {"pass": 0, "fail": 0, "error": 0}
    for record in read_records(store.dir):
        for check in record["checks"]:
            counts[check["verdict"]] += 1
    return counts


async def _run(
    suite: Suite, store: RunStore, todo: list[Case], options: RunOptions, emit: Emit, attempt: int
) -> None:
    m = store.manifest
    # which provider and why is settled (and said) before anything starts
    selection = await select_provider(suite, options_for(options.deps))
    store.update(deps=selection.manifest())
    for note in selection.notes:
        emit(note)
    async with AsyncExitStack() as stack:
        deps = DependencySet(
            suite,
            selection.provider,
            run_id=store.run_id,
            emit=emit,
            redactor=redact,
            pool_size=int(m["concurrency"]) + 2,
        )
        await stack.enter_async_context(deps)
        store.update(dependencies=[asdict(i) for i in deps.infos])
        agent = await _start_agent(suite, store, deps.context(), int(m["concurrency"]), emit, stack)
        engine = Engine(
            suite,
            agent,
            deps.targets,
            run_id=store.run_id,
            concurrency=int(m["concurrency"]),
            case_timeout=float(m["case_timeout"]),
            emit=emit,
            sink=store.append,
        )
        await engine.run(todo)
        if suite.invariants:
            sweep = await engine.sweep_invariants()
            sweep_case = Case(SWEEP_CASE, SWEEP_CASE, 0, 0, origin="invariant-sweep")
            store.append(CaseResult(sweep_case, attempt, Observation("-"), sweep))


async def _start_agent(
    suite: Suite,
    store: RunStore,
    deps: dict[str, Any],
    concurrency: int,
    emit: Emit,
    stack: AsyncExitStack,
) -> AgentAdapter:
    config = suite.manifest.environment.agent
    context: dict[str, Any] = {
        "python": sys.executable,
        "agent": {"port": free_port()},
        "deps": deps,
        "suite_dir": str(suite.root),
        "run": {"id": store.run_id},
        "env": EnvView(),
        "params": suite.params,
    }
    if config.process is not None:
        log_path = store.dir / "agent.log"
        runner = AgentProcessRunner(config.process, context, suite.root, log_path, redact)
        stack.push_async_callback(runner.stop)
        seconds = await runner.start()
        store.update(
            agent={
                "pid": runner.pid,
                "ready_seconds": round(seconds, 3),
                "command": redact(" ".join(runner.argv)),
            }
        )
        emit(AgentReady(runner.pid, seconds, str(log_path)))
    adapter: AgentAdapter
    if config.http is not None:
        adapter = HttpAgent(config.http, context, concurrency)
    else:
        assert config.python is not None
        for key, value in render_deep(config.python.env, context, {}).items():
            os.environ[key] = format_value(value)
        adapter = PythonAgent(config.python, suite.root)
        emit(Note(f"python agent {config.python.callable} loaded in-process"))
    await adapter.open()
    stack.push_async_callback(adapter.close)
    return adapter
