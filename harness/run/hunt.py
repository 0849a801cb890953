"""`harness hunt`: search a suite's generated inputs for divergences within a time budget.

The environment (dependencies, the agent) comes up as for a run; the search itself
runs in a worker thread (run/hunter.py). Every divergence found is shrunk, confirmed
and saved as a regression case. The hypothesis example database and the rounds each
scenario has been searched live under the suite (`.hypothesis/`), so the next hunt
goes on where this one stopped instead of repeating it.
"""

from __future__ import annotations

import asyncio
import fnmatch
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis.configuration import set_hypothesis_home_dir

from harness.errors import ConfigError, EnvironmentFault
from harness.events import Emit, Note, RunFinished, RunStarted, ignore
from harness.run.environment import environment, preflight
from harness.run.hunter import Found, Hunter, hard_parts, searchable
from harness.run.session import base_manifest
from harness.run.store import RunStore, now_iso, reports_root
from harness.spec.suite import load_suite

__all__ = ["Found", "HuntOptions", "HuntOutcome", "hunt"]


@dataclass
class HuntOptions:
    suite: Path
    budget: float
    select: tuple[str, ...] = ()
    deps: str = "embedded"
    reports_dir: Path | None = None
    plain: bool = False
    seed: int | None = None
    group: str | None = None  # runs that belong together, e.g. one release's sign-off


@dataclass
class HuntOutcome:
    run_id: str
    run_dir: Path
    tried: int
    seconds: float
    found: list[Found] = field(default_factory=list)


async def hunt(options: HuntOptions, emit: Emit) -> HuntOutcome:
    suite = load_suite(options.suite)
    preflight(suite)
    set_hypothesis_home_dir(str(suite.root / ".hypothesis"))  # not the working directory
    # where defects hide first: a short budget goes to boundaries, formats and traps
    scenarios = sorted(
        (s for s in suite.scenarios if searchable(s)), key=lambda s: not hard_parts(s)
    )
    if options.select:
        matched = [
            s for s in scenarios if any(fnmatch.fnmatchcase(s.id, p) for p in options.select)
        ]
        if not matched:  # a typo in -k must not turn a CI job green: nothing starts
            raise ConfigError(
                f"no scenario of suite {suite.name} with generated inputs matches "
                f"{' '.join(options.select)}",
                hint="scenarios a hunt can search: "
                + (", ".join(s.id for s in scenarios[:12]) or "none")
                + (f" and {len(scenarios) - 12} more" if len(scenarios) > 12 else ""),
            )
        scenarios = matched
    if not scenarios:
        raise ConfigError(
            f"suite {suite.name} has no scenario with generated inputs: nothing to hunt",
            hint="give a scenario generated values (boundary, amount_text, text_trap, pool, "
            "choice, a range, faker) or personas; see the README's Hunting for edge cases",
        )
    hard = sum(1 for s in scenarios if hard_parts(s))
    # a given seed replays a hunt exactly; otherwise every hunt draws anew
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**32)
    manifest = base_manifest(suite, seed=seed, concurrency=1, case_timeout=None)
    manifest.update(
        kind="hunt",
        budget_seconds=options.budget,
        plain=options.plain,
        scenarios=[s.id for s in scenarios],
        deps_mode=options.deps,
        group=options.group,
    )
    store = RunStore.create(reports_root(options.reports_dir), manifest)
    emit(RunStarted(store.run_id, suite.name, str(store.dir), len(scenarios)))
    emit(
        Note(
            f"{hard} of the {len(scenarios)} scenario(s) have boundaries, formats, traps, "
            "pools, personas or rewordings and are searched first; the others vary only "
            "faker data and ranges"
        )
    )
    started = time.perf_counter()
    status = "failed"
    hunter: Hunter | None = None
    try:
        async with environment(suite, store, options.deps, 1, emit) as env:
            engine = env.engine(1, suite.manifest.defaults.case_timeout, ignore, ignore)
            hunter = Hunter(
                suite,
                engine,
                store,
                budget=options.budget,
                seed=seed,
                plain=options.plain,
                emit=emit,
                loop=asyncio.get_running_loop(),
            )
            try:
                await asyncio.to_thread(hunter.hunt, scenarios)
            except asyncio.CancelledError:
                hunter.stop()  # before the environment goes: nothing cut short is saved
                raise
            if hunter.agent_exit is not None:
                log = getattr(engine.agent, "log_path", None)
                raise EnvironmentFault(
                    f"the agent process exited with code {hunter.agent_exit} during the hunt; "
                    f"the hunt stopped there: {len(hunter.found)} divergence(s) found before "
                    "it are kept, nothing after it is saved",
                    hint=f"see the agent's log: {log}" if log else None,
                )
        status = "finished"
    except asyncio.CancelledError:
        status = "interrupted"
        raise
    finally:
        store.close()
        elapsed = time.perf_counter() - started
        found = hunter.found if hunter else []
        store.update(
            status=status,
            finished_at=now_iso(),
            tried=hunter.tried if hunter else 0,
            repeats=hunter.repeats if hunter else 0,
            found=[f.__dict__ for f in found],
        )
        emit(RunFinished(store.run_id, status, len(found), elapsed, {"fail": len(found)}))
    return HuntOutcome(store.run_id, store.dir, hunter.tried if hunter else 0, elapsed, found)
