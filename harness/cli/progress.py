"""The terminal view of a run: consumes engine events, never drives the engine."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from harness.report.view import ReportView

from harness.core.events import (
    AgentReady,
    CaseFinished,
    DependencyReady,
    Event,
    Note,
    RunFinished,
    RunKept,
    RunStarted,
)


class ConsoleView:
    """Prints what was chosen and why, a progress bar while cases run, then a summary."""

    def __init__(self, console: Console, show_progress: bool = True) -> None:
        self.console = console
        self.show_progress = show_progress
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.counts = {"pass": 0, "fail": 0, "error": 0}
        self.run_dir: str | None = None
        self.quiet = False
        self._remaining: int | None = None

    def __call__(self, event: Event) -> None:
        """Show one event; a closed terminal or pipe never stops the run, it only goes quiet."""
        if self.quiet:
            return
        try:
            self._show(event)
        except OSError:  # e.g. `harness run | head`: the reader went away
            self.quiet = True
            self.progress = None

    def _show(self, event: Event) -> None:
        if isinstance(event, CaseFinished):
            self._start_bar()
            verdict = event.result.verdict.value
            self.counts[verdict] += 1
            if self.progress is not None and self.task is not None:
                self.progress.update(
                    self.task,
                    advance=1,
                    status=f"[green]{self.counts['pass']} ok[/] "
                    f"[red]{self.counts['fail']} diverged[/] "
                    f"[yellow]{self.counts['error']} error[/]",
                )
        elif isinstance(event, RunStarted):
            resumed = f", resuming: {event.already_done} already done" if event.resumed else ""
            self.console.print(
                f"[bold]harness[/] {'drift' if event.kind == 'drift' else 'run'} "
                f"[cyan]{event.run_id}[/] of suite "
                f"[bold]{event.suite}[/]: {event.total // max(event.trials, 1)} "
                + ("conversation(s)" if event.kind == "drift" else "case(s)")
                + (
                    f" ({event.regressions} known regression case(s) first, reported apart)"
                    if event.regressions
                    else ""
                )
                + (f" x {event.trials} trials" if event.trials > 1 else "")
                + resumed
            )
            self.console.print(f"  results: {event.run_dir}")
            self.run_dir = event.run_dir
            self._remaining = event.total - event.already_done
        elif isinstance(event, RunKept):
            say_run_id(event.run_id)
        elif isinstance(event, DependencyReady):
            i = event.info
            image = f" ({escape(i.source)})" if i.provider == "docker" else ""
            version = f": {escape(i.version)}" if i.version else ""
            self.console.print(
                f"  [green]✓[/] {i.name} ({i.kind}) ready in [bold]{i.ready_seconds:.2f} s[/] "
                f"via {i.provider}{image}{version}"
            )
        elif isinstance(event, AgentReady):
            self.console.print(
                f"  [green]✓[/] agent (pid {event.pid}) healthy in [bold]{event.seconds:.2f} s[/]; "
                f"log: {event.log_path}"
            )
            self._start_bar()
        elif isinstance(event, Note):
            style = {"warning": "yellow", "error": "red"}.get(event.level, "dim")
            self.console.print(f"  [{style}]{escape(event.text)}[/]")
        elif isinstance(event, RunFinished):
            self.stop()

    def _start_bar(self) -> None:
        if not self.show_progress or self.progress is not None:
            return
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("cases"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("cases", total=self._remaining, status="")

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def say_run_id(run_id: str) -> None:
    """`run id: ID` as stdout's first line, flushed at once (on a pipe or a file it must
    survive a kill -9, since `--resume` needs it), once the run's folder is sure to stay
    (`RunKept`): a run refused and removed is never named there."""
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.write(f"run id: {run_id}\n")
        sys.stdout.flush()


def reliability_table(view: ReportView) -> Table | None:
    """pass@1 and pass^k per requirement, side by side, when the cases ran more than once."""
    from harness.report.reliability import interval, percent

    rel = view.reliability
    if rel is None or rel.trials < 2:
        return None
    k = rel.k
    table = Table(
        title=f"Capability (pass@1) and reliability (pass^{k}) over {rel.trials} trials, "
        "95% intervals",
        title_justify="left",
    )
    for col in ("requirement", "cases", "pass@1", "95% interval", f"pass^{k}", "95% interval "):
        table.add_column(col, justify="left" if col == "requirement" else "right", no_wrap=True)
    table.add_column("flaky cases", justify="right")
    for r in rel.requirements:
        shaky = r.pass_hat_k.value is not None and r.pass_hat_k.value < 1
        style = "red" if shaky else ("dim" if not r.cases else "green")
        table.add_row(
            f"[{style}]{r.requirement}[/]",
            str(r.cases),
            percent(r.pass_at_1.value),
            interval(r.pass_at_1),
            f"[{style}]{percent(r.pass_hat_k.value)}[/]",
            interval(r.pass_hat_k),
            str(len(r.flaky_cases)),
        )
    return table


def summary_table(view: ReportView) -> Table:
    table = Table(title="Pass rate per requirement", title_justify="left")
    for col in ("requirement", "severity", "title", "checks", "pass", "fail", "error", "pass rate"):
        numeric = col in ("checks", "pass", "fail", "error", "pass rate")
        table.add_column(col, justify="right" if numeric else "left", no_wrap=col != "title")
    for r in view.requirements:
        bad = r["fail"] or r["error"]
        style = "red" if bad else ("dim" if r["checks"] == 0 else "green")
        rate = "—" if r["pass_rate"] is None else f"{r['pass_rate'] * 100:.1f}%"
        table.add_row(
            f"[{style}]{r['requirement']}[/]",
            r["severity"],
            escape(r["title"]),
            str(r["checks"]),
            str(r["pass"]),
            str(r["fail"]),
            str(r["error"]),
            f"[{style}]{rate}[/]",
        )
    return table
