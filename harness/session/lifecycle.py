"""One lifecycle for every command: open or resume the run log, say it started, bring the
environment up, let the command's driver produce records, finish with a status from one
closed set, take the environment down, write the reports.

    plan (validate everything; exit 2 starts nothing) -> open or resume (locked)
      -> RunStarted -> environment up -> RunKept -> driver.drive -> environment down
      -> status (finished | interrupted | failed) -> reports -> RunFinished

The interrupt policy is the same for all: Ctrl-C, SIGTERM or SIGHUP cancels the session,
which unwinds (the environment is always torn down), records `interrupted`, writes the
reports of what finished and returns an outcome whose status says so (exit 130 in the
CLI). A signal while the reports are written lets them finish and says so; one that comes
after the run had ended leaves its status as it was, and the outcome says a signal came
(exit 130 all the same). A configuration refused before the environment is up (e.g. the
suite does not match the real schema) removes the new folder: exit 2 leaves nothing, and
`RunKept`, which names the run to scripts, is never emitted for it. A resume of a finished
run changes nothing: it says so and returns at once. The drivers (harness/modes/) only
produce records.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from harness.core.events import Emit, Note, RunFinished, RunKept, RunStarted, Status
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

    #: the links its run's faults name (`session/faults.links_for`), read once its plan or
    #: resume is done: each gets a proxy for the agent (none: the run uses no faults)
    fault_links: tuple[str, ...]

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
    #: a stop signal came after the run had ended, while its reports were written: its status
    #: stays as it was, and the command exits 130 all the same
    signalled: bool = False
    #: a resume of a run that had finished: nothing ran, nothing of it changed
    already_finished: bool = False


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
        if log.manifest.finished:
            return _already_finished(driver, log, emit)
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
    kept = False

    def keep() -> None:
        """From here on the folder stays, whatever happens: name it (once)."""
        nonlocal kept
        if not kept:
            kept = True
            emit(RunKept(log.run_id, str(log.dir)))

    if resumed:  # a resumed run keeps its folder whatever happens
        keep()
    began = time.perf_counter()
    status, error, discard = Status.FAILED, None, False
    ctx = Context(log, None, emit, len(log.manifest.attempts))
    try:
        if driver.needs_environment(log):
            async with environment(
                driver.suite,
                log,
                options.deps,
                driver.concurrency,
                emit,
                resumed=resumed,
                links=driver.fault_links,
            ) as env:
                keep()  # the suite matched the real schema and the agent is up
                ctx.env = env
                mark = time.perf_counter()
                try:
                    await driver.drive(ctx)
                finally:
                    log.manifest.phases.add("cases", time.perf_counter() - mark)
        else:
            keep()
            await driver.drive(ctx)
        status = Status.FINISHED
    except asyncio.CancelledError:
        _handled()
        status = Status.INTERRUPTED
        emit(Note("interrupted: keeping what finished; stopping what the run started"))
    except HarnessError as exc:
        error = str(exc)
        # a configuration refused before the environment was up leaves no run behind (exit 2
        # means nothing was started); a resumed run keeps its folder whatever happens
        discard = exc.exit_code == 2 and not kept
        raise
    except Exception as exc:
        error = f"internal error: {type(exc).__name__}: {exc}"
        raise
    finally:
        outcome = _finish(driver, log, attempt, status, error, discard, began)
        if discard:
            emit(Note(f"run {log.run_id} discarded: refused before any case ran, so nothing "
                      "of it is kept", "warning"))  # fmt: skip
        else:
            keep()
            if reports is not None:
                if status is Status.INTERRUPTED:
                    emit(Note("writing the reports of what finished (the second stop signal "
                              "lets them finish; the third, the first one counted, leaves at "
                              "once)"))  # fmt: skip
                outcome.reports, outcome.signalled = await _shielded(
                    reports, log, emit, outcome.status
                )
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


def _already_finished(driver: Driver, log: RunLog, emit: Emit) -> Outcome:
    """A resume of a finished run: nothing to run, nothing of it rewritten (no attempt, the
    same `finished_at`); it is named, and said to have finished."""
    counts = driver.counts(log)
    log.close()
    emit(RunKept(log.run_id, str(log.dir)))
    emit(
        Note(
            f"run {log.run_id} has already finished (at {log.manifest.finished_at}): nothing "
            f"to resume, and nothing of it was changed; its reports: {log.dir}"
        )
    )
    return Outcome(
        log.run_id, log.dir, Status.FINISHED, len(log.done), 0.0, counts, already_finished=True
    )


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


async def _shielded(
    reports: Callable[[Path], R], log: RunLog, emit: Emit, status: Status
) -> tuple[R, bool]:
    """Write the reports in a thread that a stop signal does not cut short: a signal during
    them is said and lets them finish (a third one leaves at once: see cli/common.run_async).
    The reports, and whether a signal came meanwhile."""
    mark = time.perf_counter()
    task = asyncio.ensure_future(asyncio.to_thread(reports, log.dir))
    signals = 0
    try:
        while True:
            try:
                return await asyncio.shield(task), signals > 0
            except asyncio.CancelledError:
                if task.cancelled():
                    raise
                _handled()
                signals += 1
                emit(Note(_while_reports(log.run_id, status, first=signals == 1), "warning"))
    finally:
        log.manifest.phases.add("reports", time.perf_counter() - mark)
        log.save()


def _while_reports(run_id: str, status: Status, *, first: bool) -> str:
    """What a stop signal does while the reports are written: it lets them finish."""
    if first and status is not Status.INTERRUPTED:  # the run had ended before the signal
        ended = (
            "had already finished, every case"
            if status is Status.FINISHED
            else f"had already ended ({status})"
        )
        return (
            f"stop signal: run {run_id} {ended}; its reports are being written and are kept, "
            "then the command ends (another signal lets them finish; the third leaves at once)"
        )
    return (
        f"still writing the reports of run {run_id}; signal once more to leave at once "
        f"(`harness report {run_id}` then writes them)"
    )


def _handled() -> None:
    """The cancellation a stop signal caused is handled here: the task no longer counts as
    being cancelled, so a later signal cancels it again and is answered where it lands
    (cli/common.run_async tells the two apart)."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
