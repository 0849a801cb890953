"""One run from start to end: suite -> store -> environment -> engine -> stored results."""

from __future__ import annotations

import asyncio
import fnmatch
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faker
import hypothesis

import harness
from harness.core import SWEEP_CASE, Case, CaseResult, Observation
from harness.errors import ConfigError, HarnessError
from harness.events import Emit, Note, RunFinished, RunStarted
from harness.run.environment import environment, preflight
from harness.run.plan import plan
from harness.run.regressions import PREFIX as REGRESSION_PREFIX
from harness.run.regressions import regression_cases
from harness.run.store import RunStore, now_iso, reports_root
from harness.spec.suite import Suite, load_suite
from harness.spec.trace import check_inventory, data_seeds, source_revision


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
    trials: int | None = None  # None: the suite's defaults.trials (1 unless it says)
    group: str | None = None  # runs that belong together, e.g. one release's sign-off


@dataclass
class RunOutcome:
    run_id: str
    run_dir: Path
    status: str
    cases: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def base_manifest(
    suite: Suite, *, seed: int, concurrency: int, case_timeout: float | None
) -> dict[str, Any]:
    """What every stored run records: the suite and spec exactly, seeds, versions."""
    return {
        "kind": "run",
        "suite": suite.name,
        "suite_path": str(suite.root),
        "suite_hash": suite.suite_hash,
        "spec_hash": suite.spec_hash,
        "spec_version": suite.spec.version,
        "spec_title": suite.spec.title,
        "requirements": [r.model_dump() for r in suite.spec.requirements],
        # what judges each requirement, for traceability and coverage in a sign-off
        "checks": check_inventory(suite),
        "regressions": [REGRESSION_PREFIX + r.id for r in suite.regressions],
        "source": source_revision(suite.root),
        "data_seeds": data_seeds(suite),
        "seed": seed,
        "concurrency": concurrency,
        "case_timeout": case_timeout or suite.manifest.defaults.case_timeout,
        "harness_version": harness.__version__,
        "faker_version": faker.VERSION,
        "hypothesis_version": hypothesis.__version__,
        "python": sys.version.split()[0],
        "started_at": now_iso(),
        "attempts": [],
        **owner(),
    }


def owner() -> dict[str, Any]:
    """The harness process writing the run, so that a reader can tell a run still going
    from one whose process was killed (its status stays "running")."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def _manifest(suite: Suite, options: RunOptions, seed: int, concurrency: int) -> dict[str, Any]:
    manifest = base_manifest(
        suite, seed=seed, concurrency=concurrency, case_timeout=options.case_timeout
    )
    manifest.update(
        select=list(options.select),
        repeat=options.repeat,
        deps_mode=options.deps,
        trials=options.trials or suite.manifest.defaults.trials,
        group=options.group,
    )
    return manifest


def open_store(options: RunOptions) -> tuple[Suite, RunStore, list[Case]]:
    """Validate everything, plan every case and open the run's folder; nothing is started."""
    root = reports_root(options.reports_dir)
    if options.resume:
        changed = [
            flag
            for flag, value in (
                ("--seed", options.seed),
                ("--repeat", options.repeat),
                ("-k/--select", options.select),
            )
            if value
        ]
        if changed:
            raise ConfigError(
                f"{', '.join(changed)} cannot change when resuming: the run keeps the options "
                "it started with, so its cases stay comparable",
                hint="drop them, or start a new run",
            )
        store = RunStore.open(root, options.resume)
        from harness.report.runs import run_status  # the reader's view: running, or killed

        if run_status(store.manifest) == "running":
            m = store.manifest
            raise ConfigError(
                f"run {options.resume} is still going (harness pid {m.get('pid')} on "
                f"{m.get('host')}): resuming it now would run its missing cases twice",
                hint="wait for it to end, or stop it (Ctrl-C, or kill that pid), then resume",
            )
        _same_as_stored(store.manifest, options)
        suite = load_suite(options.suite or store.manifest["suite_path"])
        if suite.suite_hash != store.manifest.get("suite_hash"):
            raise ConfigError(
                f"the suite {suite.name} changed since run {options.resume} started, so its "
                "finished cases would not be comparable with new ones",
                hint="start a new run instead (harness run), or restore the suite's files",
            )
        m = store.manifest
        cases = planned_cases(suite, int(m["seed"]), m.get("select") or (), m.get("repeat"))
        if options.concurrency:
            store.manifest["concurrency"] = options.concurrency
        return suite, store, cases
    if options.suite is None:
        raise ConfigError("no suite given")
    suite = load_suite(options.suite)
    seed = options.seed if options.seed is not None else suite.manifest.defaults.seed
    concurrency = options.concurrency or suite.manifest.defaults.concurrency
    preflight(suite)
    cases = planned_cases(suite, seed, options.select, options.repeat)
    if not cases:
        raise ConfigError(
            f"no case of suite {suite.name} matches {' '.join(options.select)}",
            hint="scenarios: " + ", ".join(s.id for s in suite.scenarios),
        )
    manifest = _manifest(suite, options, seed, concurrency)
    manifest["planned"] = len(cases)
    return suite, RunStore.create(root, manifest), cases


def _same_as_stored(manifest: dict[str, Any], options: RunOptions) -> None:
    """--trials and --group may be repeated on resume (e.g. from HARNESS_TRIALS) but not
    changed: the run's trials decide which keys are still missing."""
    stored = {"--trials": manifest.get("trials") or 1, "--group": manifest.get("group")}
    for flag, value in (("--trials", options.trials), ("--group", options.group)):
        if value and value != stored[flag]:
            raise ConfigError(
                f"{flag} {value} differs from run {manifest.get('run_id')}'s {stored[flag]}: "
                "a resumed run keeps the options it started with",
                hint=f"drop {flag} (or HARNESS_{flag[2:].upper()}), or start a new run",
            )


def planned_cases(
    suite: Suite, seed: int, select: tuple[str, ...] | list[str], repeat: int | None
) -> list[Case]:
    """Every saved regression case first (known failures are checked before anything new),
    then the scenarios' cases."""
    known = [
        c
        for c in regression_cases(suite)
        if not select
        or any(fnmatch.fnmatchcase(c.scenario, p) or fnmatch.fnmatchcase(c.id, p) for p in select)
    ]
    return known + list(plan(suite, seed, select=select, repeat=repeat))


async def execute(options: RunOptions, emit: Emit) -> RunOutcome:
    suite, store, cases = open_store(options)
    started = time.perf_counter()
    trials = int(store.manifest.get("trials") or 1)
    # trial-major, as Engine.run: a resumed run finishes exactly the (case, trial) keys missing
    todo = [(c, t) for t in range(1, trials + 1) for c in cases if f"{c.id}@{t}" not in store.done]
    attempt = len(store.manifest.get("attempts", [])) + 1
    total = len(cases) * trials
    emit(
        RunStarted(
            store.run_id,
            suite.name,
            str(store.dir),
            total,
            total - len(todo),
            resumed=bool(options.resume),
            trials=trials,
            regressions=sum(1 for c in cases if c.origin == "regression"),
        )
    )
    if not todo:
        emit(Note(f"nothing to resume: every case of run {store.run_id} has finished"))
        counts = _counts(store)
        emit(RunFinished(store.run_id, "finished", len(store.done), 0.0, counts))
        return RunOutcome(store.run_id, store.dir, "finished", len(store.done), 0.0, counts)
    store.manifest.setdefault("attempts", []).append({"started_at": now_iso(), "cases": len(todo)})
    store.update(status="running", **owner())  # a resumed run: this process now
    status, error, discard = "failed", None, False
    try:
        await _run(suite, store, todo, options, emit, attempt)
        status = "finished"
    except asyncio.CancelledError:
        status = "interrupted"
        raise
    except HarnessError as exc:
        error = str(exc)
        # a configuration refused before any case ran leaves no run behind (exit 2 means
        # nothing was started); a resumed run keeps its folder whatever happens
        discard = exc.exit_code == 2 and not options.resume and not store.done
        raise
    finally:
        store.close()
        elapsed = time.perf_counter() - started
        if discard:
            shutil.rmtree(store.dir, ignore_errors=True)
        else:
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
    suite: Suite,
    store: RunStore,
    todo: list[tuple[Case, int]],
    options: RunOptions,
    emit: Emit,
    attempt: int,
) -> None:
    m = store.manifest
    concurrency = int(m["concurrency"])
    resumed = bool(options.resume)
    async with environment(suite, store, options.deps, concurrency, emit, resumed=resumed) as env:
        engine = env.engine(concurrency, float(m["case_timeout"]), emit, store.append)
        await engine.run_trials(todo)
        if suite.invariants:
            sweep = await engine.sweep_invariants()
            sweep_case = Case(SWEEP_CASE, SWEEP_CASE, 0, 0, origin="invariant-sweep")
            store.append(CaseResult(sweep_case, attempt, Observation("-"), sweep))
