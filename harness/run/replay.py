"""`harness replay`: one case re-run exactly, from (suite, seed, case id) or a regression file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.core import TWIN, Case, CaseResult
from harness.errors import ConfigError
from harness.events import Emit, Note, RunStarted, ignore
from harness.run import regressions
from harness.run.environment import environment, preflight
from harness.run.plan import find_case, plan
from harness.run.session import base_manifest
from harness.run.store import RunStore, now_iso, reports_root
from harness.spec.loader import did_you_mean
from harness.spec.suite import Suite, load_suite


@dataclass
class ReplayOptions:
    suite: Path
    case_id: str
    seed: int | None = None
    times: int = 1
    deps: str = "embedded"
    reports_dir: Path | None = None


@dataclass
class ReplayOutcome:
    run_id: str
    run_dir: Path
    results: list[CaseResult] = field(default_factory=list)


def resolve_case(suite: Suite, case_id: str, seed: int) -> Case:
    """The exact case: a regression case as saved, or a scenario's case re-planned."""
    if case_id.startswith(regressions.PREFIX):
        rid = case_id.removeprefix(regressions.PREFIX)
        for reg in suite.regressions:
            if reg.id == rid:
                return regressions.regression_case(reg, suite.scenario(reg.scenario), suite.params)
        known = [r.id for r in suite.regressions]
        raise ConfigError(
            f"no regression case {rid!r} in {suite.root / 'regressions'}{did_you_mean(rid, known)}"
        )
    try:
        return find_case(suite, seed, case_id)
    except (KeyError, ValueError) as exc:
        ids = [c.id for c in plan(suite, seed)] + [
            regressions.PREFIX + r.id for r in suite.regressions
        ]
        raise ConfigError(
            f"{exc.args[0] if exc.args else exc}{did_you_mean(case_id, ids)}",
            hint="harness list SUITE shows the scenarios; case ids are scenario or scenario#N",
        ) from None


async def replay(options: ReplayOptions, emit: Emit) -> ReplayOutcome:
    suite = load_suite(options.suite)
    if options.seed is not None and options.case_id.startswith(regressions.PREFIX):
        raise ConfigError(
            f"--seed {options.seed}: a regression case replays with the seed and inputs "
            "saved in its file; --seed does not apply",
            hint=f"harness replay {options.case_id} (without --seed)",
        )
    preflight(suite)
    seed = options.seed if options.seed is not None else suite.manifest.defaults.seed
    case_id = options.case_id
    if case_id.endswith(TWIN):  # a load run's second conversation of a duplicate pair
        case_id = case_id.removesuffix(TWIN)
        emit(
            Note(
                f"{options.case_id} was the second of two identical conversations a load run "
                f"sent at once; a replay sends {case_id} alone, so a failure that needed the "
                "race does not come back here: harness load reproduces it (pass --seed with "
                "the load run's seed if it had its own)",
                "warning",
            )
        )
    case = resolve_case(suite, case_id, seed)
    manifest = base_manifest(suite, seed=seed, concurrency=1, case_timeout=None)
    manifest.update(kind="replay", case_id=case.id, times=options.times, deps_mode=options.deps)
    store = RunStore.create(reports_root(options.reports_dir), manifest)
    emit(RunStarted(store.run_id, suite.name, str(store.dir), options.times))
    outcome = ReplayOutcome(store.run_id, store.dir)
    status = "failed"
    try:
        async with environment(suite, store, options.deps, 1, emit) as env:
            engine = env.engine(1, suite.manifest.defaults.case_timeout, ignore, store.append)
            for trial in range(1, options.times + 1):
                result = await engine.run_case(case, trial)
                store.append(result)
                outcome.results.append(result)
        status = "finished"
    finally:
        store.close()
        store.update(status=status, finished_at=now_iso())
    return outcome
