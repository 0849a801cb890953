"""`harness load` and `harness load-worker`: a suite's cases under a load profile, judged.

Heavy modules (the engine, locust's side) load inside the commands, so `harness
--help` stays fast; locust itself is only ever imported by the load generator's
own processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from harness.cli.common import (
    EXIT_INTERRUPTED,
    deps_option,
    deps_options,
    err,
    group_option,
    print_paths,
    reports_dir_option,
    resolve_suite,
    run_async,
)
from harness.cli.progress import ConsoleView
from harness.core.events import Event, LoadProgress, RunStarted

if TYPE_CHECKING:
    from harness.report.build import Reports


RECENT_S = 5.0  # the progress line's recent pass rate: over the last this many seconds


class RecentRate:
    """The pass rate over the last `span` seconds of the load's clock, from the cumulative
    counts each `LoadProgress` carries: the judged and passed since the newest progress at or
    before `span` seconds ago. A cumulative rate hides a fault window's dip; this shows it."""

    def __init__(self, span: float = RECENT_S) -> None:
        self.span = span
        self._seen: deque[tuple[float, int, int]] = deque()

    def add(self, p: LoadProgress) -> float | None:
        """The rate over the last `span` seconds up to `p`; None when none was judged."""
        self._seen.append((p.seconds, p.judged, p.passed))
        while len(self._seen) > 1 and self._seen[1][0] <= p.seconds - self.span:
            self._seen.popleft()  # the newest at or before the span's start stays the base
        base_s, judged, passed = self._seen[0]
        if base_s > p.seconds - self.span:  # the load is younger than the span
            judged = passed = 0
        n = p.judged - judged
        return (p.passed - passed) / n if n > 0 else None


def progress_line(p: LoadProgress, recent: float | None, span: float = RECENT_S) -> str:
    """One progress line: the cumulative pass rate and, labelled, the last `span` seconds'."""
    rate = f"{p.passed / p.judged:.1%}" if p.judged else "—"
    last = "—" if recent is None else f"{recent:.1%}"
    bad = f"[red]{p.violations} violation(s)[/]" if p.violations else "0 violations"
    return (
        f"{p.users} users · {p.requests} req · {p.judged} judged · pass {rate} overall, "
        f"{last} last {span:g} s · {bad}"
    )


class LoadView(ConsoleView):
    """The run's notes as `harness run` shows them, then the load's progress: a live bar on
    a terminal, a line every few seconds in logs."""

    def __init__(self, show_progress: bool) -> None:
        super().__init__(err, show_progress=False)
        self.live = show_progress and err.is_terminal
        self._last = 0.0
        self._task: TaskID | None = None
        self._recent = RecentRate()

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.run_dir = event.run_dir
            err.print(
                f"[bold]harness[/] load [cyan]{event.run_id}[/] of suite [bold]{event.suite}[/]"
            )
            err.print(f"  results: {event.run_dir}")
            return
        if isinstance(event, LoadProgress):
            self._progress(event)
            return
        super().__call__(event)

    def _progress(self, p: LoadProgress) -> None:
        line = progress_line(p, self._recent.add(p))
        with contextlib.suppress(OSError):
            if self.live:
                if self.progress is None:
                    self.progress = Progress(
                        TextColumn("load"), BarColumn(), TextColumn("{task.fields[line]}"),
                        TimeElapsedColumn(), console=err,
                    )  # fmt: skip
                    self.progress.start()
                    self._task = self.progress.add_task("load", total=p.length, line="")
                assert self._task is not None
                self.progress.update(self._task, completed=p.seconds, line=line)
                return
            now = time.monotonic()
            if now - self._last >= 5.0:  # in logs, a line every few seconds
                self._last = now
                err.print(f"  {p.seconds:5.1f}/{p.length:g} s · {line}")


def _duration(_: click.Context, __: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    from harness.spec.load import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if seconds <= 0:
        raise click.BadParameter("the limit must be more than zero")
    return seconds


@click.command()
@click.argument("suite", required=False, type=click.Path(path_type=Path))
@click.option("--profile", "-p", required=True, help="A profile under load.profiles in suite.yaml.")
@click.option(
    "--workers",
    type=click.IntRange(0, 256),
    default=0,
    show_default=True,
    envvar="HARNESS_LOAD_WORKERS",
    help="Local locust worker processes under a master (0: one process, no master).",
)
@click.option(
    "--expect-workers",
    type=click.IntRange(1, 4096),
    help="Workers to wait for before the profile starts, remote ones (harness load-worker) "
    "included; default: --workers.",
)
@click.option(
    "--bind",
    default="127.0.0.1",
    show_default=True,
    help="Interface of the case server and the locust master; 0.0.0.0 lets workers on other "
    "machines connect (trusted networks only).",
)
@click.option("--advertise", metavar="HOST", help="The name remote workers reach this machine by.")
@click.option("--master-port", type=click.IntRange(1, 65535), help="The locust master's port.")
@click.option("--case-port", type=click.IntRange(1, 65535), help="The case server's port.")
@click.option("--limit", callback=_duration, help="Stop after this long (e.g. 30s), if sooner.")
@click.option("--seed", type=int, envvar="HARNESS_SEED", help="Seed for case generation.")
@click.option("--no-progress", is_flag=True, help="No live progress line.")
@deps_option
@group_option
@reports_dir_option
def load(
    suite: Path | None,
    profile: str,
    workers: int,
    expect_workers: int | None,
    bind: str,
    advertise: str | None,
    master_port: int | None,
    case_port: int | None,
    limit: float | None,
    seed: int | None,
    no_progress: bool,
    group: str | None,
    reports_dir: Path | None,
) -> None:
    """Drive the suite's scenarios through a load profile with locust and judge every
    conversation as `harness run` does; report pass rate, latency and errors per time window
    and per number of users, and the invariants of the real database under load."""
    from harness.cli.summary import say_signalled_after_end
    from harness.core.events import Status
    from harness.modes.load import LoadDriver, LoadOptions
    from harness.report.build import build_reports
    from harness.session import run_session

    if expect_workers is not None and expect_workers < workers:
        raise click.BadParameter(
            f"{expect_workers} is fewer than --workers {workers}", param_hint="--expect-workers"
        )
    options = LoadOptions(
        suite=resolve_suite(suite),
        profile=profile,
        workers=workers,
        expect_workers=expect_workers,
        bind=bind,
        advertise=advertise,
        master_port=master_port,
        case_port=case_port,
        limit=limit,
        seed=seed,
        deps=deps_options(),
        reports_dir=reports_dir,
        group=group,
    )
    view = LoadView(show_progress=not no_progress)
    try:
        outcome = run_async(lambda: run_session(LoadDriver(options), view, reports=build_reports))
    finally:
        view.stop()
    interrupted = outcome.status is Status.INTERRUPTED
    code = _finish(outcome.reports, interrupted)
    if interrupted:
        err.print("[yellow]interrupted[/]: every judged conversation is kept in the report")
        sys.exit(EXIT_INTERRUPTED)
    if outcome.signalled:
        say_signalled_after_end(outcome)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code)


def _finish(reports: Reports, interrupted: bool) -> int:
    """Print the load summary; 0 none, 1 divergences or violations, 3 the load was cut
    short (the agent process died)."""
    v = reports.view
    summary = reports.load
    code = 1 if v.diverged or (summary is not None and summary.sampled_violations) else 0
    if (not v.complete and code == 0) or v.manifest.status == "failed":
        code = 3
    with contextlib.suppress(OSError):
        if summary is not None:
            for line in summary.lines():
                err.print(escape(line))
        for problem in v.unreadable_regressions:
            err.print(
                f"[yellow]regression file left out, it cannot be replayed:[/] {escape(problem)}"
            )
        reasons = _exit_reasons(reports)
        if not interrupted and code == 1:
            err.print(f"[bold red]exit 1[/]: {escape('; '.join(reasons))}")
        print_paths(reports.paths())
    return code


def _exit_reasons(reports: Reports) -> list[str]:
    """Why a load exits 1: the checks that failed or errored, invariant violations a sample
    saw, known regressions that cannot be counted as passing (files that cannot be replayed)."""
    v, summary = reports.view, reports.load
    reasons = []
    if v.divergence_count:
        reasons.append(
            f"{v.totals['fail']} failed and {v.totals['error'] - v.suite_errors} errored "
            f"check(s) in requirement(s) {', '.join(v.failing_requirements)}"
        )
    if v.suite_errors:
        reasons.append(f"{v.suite_errors} more errored check(s) could not run (the suite's error)")
    if summary is not None and summary.sampled_violations:
        reasons.append(f"samples saw up to {summary.sampled_violations} violating row(s)")
    return reasons + v.regression_findings


@click.command(name="load-worker")
@click.option("--master-host", required=True, help="The machine running harness load.")
@click.option("--master-port", type=click.IntRange(1, 65535), default=5557, show_default=True)
@click.option(
    "--processes",
    "-n",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Worker processes to start on this machine (about one per core).",
)
@click.option(
    "--connect-timeout",
    callback=_duration,
    default="60s",
    show_default=True,
    help="How long to wait for the master to answer before giving up (exit 3).",
)
def load_worker(master_host: str, master_port: int, processes: int, connect_timeout: float) -> None:
    """Run locust workers for a `harness load --expect-workers N` on another machine; they
    fetch cases from the harness and report back until its master says quit. Ctrl-C,
    SIGTERM or SIGHUP stops them within seconds (exit 130)."""
    import asyncio  # here: --help lists this command without starting asyncio

    try:
        code = run_async(lambda: _workers(master_host, master_port, processes, connect_timeout))
    except (KeyboardInterrupt, asyncio.CancelledError):
        with contextlib.suppress(OSError):
            err.print("[yellow]interrupted[/]: the workers on this machine are stopped")
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code)


async def _workers(host: str, port: int, processes: int, connect_timeout: float) -> int:
    """Wait (bounded) for the master to listen, then run the workers until they end; on a
    cancel (any stop signal), stop them: SIGTERM, then SIGKILL what is left."""
    import asyncio

    from harness.errors import EnvironmentFault
    from harness.procs import die_with_parent, port_open

    err.print(f"waiting for the locust master at {host}:{port} (up to {connect_timeout:g} s)")
    deadline = time.monotonic() + connect_timeout
    while not await asyncio.to_thread(port_open, host, port, 1.0):
        if time.monotonic() >= deadline:
            raise EnvironmentFault(
                f"no locust master answered at {host}:{port} within {connect_timeout:g} s",
                hint="start harness load with --expect-workers there first (it prints the "
                "load-worker command to run, with its --master-host and --master-port; its "
                "--bind must reach this machine), or wait longer with --connect-timeout",
            )
        await asyncio.sleep(0.5)
    argv = [
        sys.executable, "-m", "harness.load.roles", "worker",
        "--master-host", host, "--master-port", str(port),
        "--connect-timeout", f"{max(0.0, deadline - time.monotonic()) + 10.0:g}",
    ]  # fmt: skip
    children = [
        subprocess.Popen(argv, start_new_session=True, preexec_fn=die_with_parent(signal.SIGTERM))
        for _ in range(processes)
    ]
    err.print(
        f"the master at {host}:{port} answers; {processes} worker(s) joining, Ctrl-C stops them"
    )
    try:
        while any(c.poll() is None for c in children):
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            for c in children:
                if c.poll() is None:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(c.pid, sig)
            until = time.monotonic() + wait
            while any(c.poll() is None for c in children) and time.monotonic() < until:
                await asyncio.sleep(0.05)
        raise
    return max(int(c.returncode or 0) for c in children)
