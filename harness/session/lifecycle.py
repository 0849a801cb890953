"""One lifecycle for every command: open or resume the run log, say it started, bring the
environment up, let the command's driver produce records, finish with a status from one
closed set, take the environment down, write the reports.

    plan (validate everything; exit 2 starts nothing) -> open or resume (locked)
      -> RunStarted -> environment up -> driver.drive -> environment down
      -> status (finished | interrupted | failed) -> reports -> RunFinished

The interrupt policy is the same for all: Ctrl-C, SIGTERM or SIGHUP cancels the session,
which unwinds (the environment is always torn down), records `interrupted`, writes the
reports of what finished and returns an outcome whose status says so (exit 130 in the
CLI). A configuration refused after the folder was made
(e.g. the suite does not match the real schema) removes the new folder: exit 2 leaves
nothing. The drivers (harness/modes/) only produce records.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from harness.core.events import Emit, Note, RunFinished, RunStarted, Status
from harness.errors import HarnessError
from harness.redact import redact
from harness.runlog.models import AnyManifest, Attempt
from harness.runlog.owner import Owner
from harness.runlog.store import RunLog, now_iso, reports_root
from harness.session.environment import Environment, environment
from harness.session.options import SessionOptions
from harness.spec.suite import Suite

R = TypeVar("R")


@dataclass
class Context:
    """What a driver gets while it runs: the log it writes, the environment, the events."""

    log: RunLog
    env: Environment | None
    emit: Emit
    attempt: int


@dataclass
class Start:
    """What a driver says about the run it is about to do, for RunStarted."""

    total: int
    already_done: int = 0
    trials: int = 1
    regressions: int = 0


class Driver(Protocol):
    """A command's part of a session: plan it, then produce records."""

    @property
    def kind(self) -> str: ...

    @property
    def options(self) -> SessionOptions: ...

    @property
    def suite(self) -> Suite: ...

    @property
    def concurrency(self) -> int: ...

    def plan(self) -> AnyManifest:
        """A new session: validate everything and plan it; raise ConfigError to refuse
        (nothing has been created yet)."""

    def resume(self, log: RunLog) -> None:
        """A resumed session: check the options against what the log recorded, re-plan."""

    def start(self, log: RunLog) -> Start: ...

    def needs_environment(self, log: RunLog) -> bool:
        """False when there is nothing left to run (a resume of a finished run)."""

    async def drive(self, ctx: Context) -> None:
        """Produce the records; runs inside the environment (when it needs one)."""

    def finish(self, log: RunLog, status: Status) -> tuple[Status, str | None]:
        """Record what the driver found (manifest fields); may turn the status to failed
        with a reason (e.g. the agent died during a load)."""

    def counts(self, log: RunLog) -> dict[str, int]: ...


@dataclass
class Outcome:
    run_id: str
    run_dir: Path
    status: Status
    cases: int
    seconds: float
    counts: dict[str, int]
    error: str | None = None
    reports: Any = None


async def run_session(
    driver: Driver, emit: Emit, *, reports: Callable[[Path], Any] | None = None
) -> Outcome:
    """Run one session of `driver` from plan to reports; see the module's docstring."""
    options = driver.options
    root = reports_root(options.reports_dir)
    resumed = options.resume is not None
    if resumed:
        assert options.resume is not None
        log = RunLog.resume(root, options.resume)
        try:
            driver.resume(log)
        except BaseException:
            log.close()
            raise
    else:
        log = RunLog.create(root, driver.plan())
    redact.add_environment()
    start = driver.start(log)
    attempt = Attempt(started_at=now_iso(), cases=start.total - start.already_done)
    log.manifest.attempts.append(attempt)
    log.update(status=Status.RUNNING, owner=Owner.current(), finished_at=None, error=None)
    emit(
        RunStarted(
            log.run_id,
            driver.suite.name,
            str(log.dir),
            start.total,
            start.already_done,
            resumed=resumed,
            trials=start.trials,
            regressions=start.regressions,
            kind=driver.kind,
        )
    )
    began = time.perf_counter()
    status, error, discard = Status.FAILED, None, False
    ctx = Context(log, None, emit, len(log.manifest.attempts))
    try:
        if driver.needs_environment(log):
            async with environment(
                driver.suite, log, options.deps, driver.concurrency, emit, resumed=resumed
            ) as env:
                ctx.env = env
                mark = time.perf_counter()
                try:
                    await driver.drive(ctx)
                finally:
                    log.manifest.phases.add("cases", time.perf_counter() - mark)
        else:
            await driver.drive(ctx)
        status = Status.FINISHED
    except asyncio.CancelledError:
        status = Status.INTERRUPTED
        emit(Note("interrupted: keeping what finished; stopping what the run started"))
    except HarnessError as exc:
        error = str(exc)
        # a configuration refused before any case ran leaves no run behind (exit 2 means
        # nothing was started); a resumed run keeps its folder whatever happens
        discard = exc.exit_code == 2 and not resumed and not log.done
        raise
    except Exception as exc:
        error = f"internal error: {type(exc).__name__}: {exc}"
        raise
    finally:
        outcome = _finish(driver, log, attempt, status, error, discard, began)
        if not discard:
            if reports is not None:
                if status is Status.INTERRUPTED:
                    emit(Note("writing the reports of what finished (a second signal lets them "
                              "finish, a third leaves at once)"))  # fmt: skip
                outcome.reports = await _shielded(reports, log)
            log.close()
            emit(
                RunFinished(
                    outcome.run_id,
                    outcome.status,
                    outcome.cases,
                    outcome.seconds,
                    outcome.counts,
                    outcome.error,
                )
            )
    return outcome


def _finish(
    driver: Driver,
    log: RunLog,
    attempt: Attempt,
    status: Status,
    error: str | None,
    discard: bool,
    began: float,
) -> Outcome:
    """The run's end in its manifest (or its folder gone, when refused)."""
    elapsed = time.perf_counter() - began
    if discard:
        log.discard()
        return Outcome(log.run_id, log.dir, status, 0, elapsed, {}, error)
    status, reason = driver.finish(log, status)
    error = error or reason
    attempt.finished_at, attempt.status, attempt.error = now_iso(), status, error
    log.update(status=status, finished_at=now_iso(), error=error)
    counts = driver.counts(log)
    return Outcome(log.run_id, log.dir, status, len(log.done), elapsed, counts, error)


async def _shielded(reports: Callable[[Path], R], log: RunLog) -> R:
    """Write the reports in a thread that a stop signal does not cut short: a signal during
    them lets them finish (a third one leaves at once: see cli/common.run_async)."""
    mark = time.perf_counter()
    task = asyncio.ensure_future(asyncio.to_thread(reports, log.dir))
    try:
        while True:
            try:
                return await asyncio.shield(task)
            except asyncio.CancelledError:
                if task.cancelled():
                    raise
    finally:
        log.manifest.phases.add("reports", time.perf_counter() - mark)
        log.save()
