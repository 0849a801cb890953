"""How an engine runs its (case, trial) pairs, `concurrency` at a time.

`pooled`, the common run (no case runs alone, none frees its place early): `concurrency`
workers, each taking the next pair as it finishes one; the same cases in flight, started in
the same order, without a task, a semaphore's turn and a task group's bookkeeping for
every case. `slotted`, the general one: a task per case, each taking a place (a case with
windowed faults takes every place, so it runs alone once the cases in flight end; a watched
case in a concurrent run gives its place back once its conversations end, while it waits
for late spans). Either way every finished case goes to the sink and is announced at once,
and the first failure of a worker is raised as it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from harness.core import Case, CaseResult
from harness.core.events import CaseFinished
from harness.run import collector
from harness.run.faulting import releases
from harness.run.tracing import Free, once

if TYPE_CHECKING:
    from harness.run.engine import Engine


async def pooled(engine: Engine, pairs: Iterable[tuple[Case, int]]) -> int:
    """Run the pairs with `concurrency` workers; return how many ran."""
    todo, done = iter(pairs), 0
    run_case, sink, emit = engine.run_case, engine.sink, engine.emit

    async def worker() -> None:
        nonlocal done
        for case, trial in todo:  # shared: each pair is taken by one worker
            result = await run_case(case, trial)
            sink(result)
            emit(CaseFinished(result))
            done += 1

    await _group(worker() for _ in range(engine.concurrency))
    return done


async def slotted(engine: Engine, pairs: Iterable[tuple[Case, int]], early: bool) -> int:
    """Run the pairs with a task each, `concurrency` places between them; return how many
    ran. `early`: a case frees its place once its conversations end."""
    slots, done = asyncio.Semaphore(engine.concurrency), 0
    finished = _finisher(engine)

    async def one(case: Case, trial: int, free: Free, n: int) -> None:
        nonlocal done
        try:
            result = await engine.run_case(case, trial, free if early and n == 1 else None)
        finally:
            free()
        finished(result)
        done += 1

    async def spawn(group: asyncio.TaskGroup) -> None:
        for case, trial in pairs:
            # a case with windowed faults runs alone: the cases in flight end first
            n = engine.concurrency if engine.alone(case) else 1
            for _ in range(n):
                await slots.acquire()
            # freed once: in `one`'s finally (and before, when it frees early)
            free = once(releases(slots, n)) if early or n > 1 else slots.release
            group.create_task(one(case, trial, free, n))

    await _group((), spawn)
    return done


def _finisher(engine: Engine) -> Callable[[CaseResult], None]:
    sink, emit = engine.sink, engine.emit

    def finished(result: CaseResult) -> None:
        sink(result)
        emit(CaseFinished(result))

    return finished


async def _group(
    workers: Iterable[object],
    spawn: Callable[[asyncio.TaskGroup], object] | None = None,
) -> None:
    """Run the workers (and what `spawn` starts) in one task group, the garbage collector
    kept out of their way (run/collector.py: a fifth of the time, otherwise); the first
    failure raised as its worker raised it."""
    try:
        with collector.quiet():
            async with asyncio.TaskGroup() as group:
                for worker in workers:
                    group.create_task(worker)  # type: ignore[arg-type]
                if spawn is not None:
                    await spawn(group)  # type: ignore[misc]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
