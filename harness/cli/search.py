"""`harness hunt` and `harness replay`: search for divergences, and re-run one case exactly."""

from __future__ import annotations

import re
import sys
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
    out,
    print_paths,
    reports_dir_option,
    resolve_suite,
    run_async,
)
from harness.cli.evidence import print_result
from harness.cli.progress import say_run_id
from harness.core.events import (
    AgentReady,
    DependencyReady,
    Event,
    HuntFound,
    HuntProgress,
    Note,
    RunKept,
    RunStarted,
)
from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.core import CaseResult
    from harness.runlog.models import Finding

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")


def parse_duration(text: str) -> float:
    """'90', '90s', '5m', '1.5h' -> seconds."""
    m = _DURATION.match(text)
    if not m:
        raise click.BadParameter(f"{text!r} is not a duration; use e.g. 90s, 5m or 1h")
    value = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    if value <= 0:
        raise click.BadParameter("the budget must be more than zero")
    return value


class HuntView:
    """Cases tried, failures found and time left, while the hunt runs."""

    def __init__(self, budget: float, show: bool) -> None:
        self.budget = budget
        self.show = show
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.run_dir: str | None = None
        self.run_id: str | None = None  # once the run's folder is sure to stay (RunKept)
        self.saved: list[tuple[str, str]] = []  # (regression id, path) as the hunt saves them
        self.found = 0  # divergences reported so far (HuntFound): the bar never shows fewer

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            err.print(
                f"[bold]harness[/] hunt [cyan]{event.run_id}[/] in suite [bold]{event.suite}[/]: "
                f"{event.total} scenario(s) with inputs to vary, budget {self.budget:g} s"
            )
        elif isinstance(event, RunKept):
            self.run_dir, self.run_id = event.run_dir, event.run_id
            say_run_id(event.run_id)
        elif isinstance(event, DependencyReady):
            i = event.info
            err.print(
                f"  [green]✓[/] {i.name} ({i.kind}) ready in [bold]{i.ready_seconds:.2f} s[/] "
                f"via {i.provider}: {escape(i.version)}"
            )
        elif isinstance(event, AgentReady):
            err.print(f"  [green]✓[/] agent (pid {event.pid}) healthy in {event.seconds:.2f} s")
        elif isinstance(event, Note):
            err.print(f"  [yellow]{escape(event.text)}[/]")
        elif isinstance(event, HuntProgress):
            self._bar(event)
        elif isinstance(event, HuntFound):
            d = event.details
            self.found += 1
            if self.progress is not None and self.task is not None:
                # a finding is saved after its last case: no HuntProgress may follow it
                self.progress.update(self.task, found=self.found)
            if d.get("regression_id"):
                self.saved.append((str(d["regression_id"]), str(d.get("path"))))
            line = (
                f"  [red]found[/] {d['requirement']} "
                + escape(f"(check {d['check']}, after {cases(d['tried'])} of its scenario)")
                + (f" -> {escape(d['regression_id'])}" if d.get("regression_id") else "")
            )
            if self.progress is not None:
                self.progress.console.print(line)
            else:
                err.print(line)

    def _bar(self, event: HuntProgress) -> None:
        if not self.show:
            return
        if self.progress is None:
            self.progress = Progress(
                TextColumn("hunting"),
                BarColumn(),
                TextColumn(
                    "{task.fields[tried]} cases · {task.fields[found]} found · "
                    "{task.fields[left]} left · {task.fields[scenario]}"
                ),
                TimeElapsedColumn(),
                console=err,
            )
            self.task = self.progress.add_task(  # before start: no frame without its fields
                "hunt", total=self.budget, tried=event.tried, found=max(event.found, self.found),
                left=f"{event.seconds_left:.0f} s", scenario=event.scenario,
            )  # fmt: skip
            self.progress.start()
        assert self.task is not None
        self.progress.update(
            self.task,
            completed=self.budget - event.seconds_left,
            tried=event.tried,
            found=max(event.found, self.found),
            left=f"{event.seconds_left:.0f} s",
            scenario=event.scenario,
        )

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


@click.command()
@click.argument("suite", required=False, type=click.Path(path_type=Path))
@click.option("--budget", default="5m", show_default=True, help="Time to search: 90s, 5m, 1h.")
@click.option("-k", "--select", multiple=True, metavar="PATTERN", help="Only scenarios matching.")
@click.option(
    "--seed",
    type=int,
    help="Seed of the search; the same seed repeats a hunt exactly (default: a new one each "
    "hunt, recorded in the run's manifest).",
)
@click.option(
    "--plain",
    is_flag=True,
    help="Baseline: plain random values, no boundaries, formats, traps or shrinking; "
    "saves nothing.",
)
@click.option(
    "--max-length",
    type=click.IntRange(0, 400),  # spec/models/drift.py's MAX_LENGTH, not imported at start-up
    help="Drift scenarios: the longest conversation searched, in filler turns before the "
    "probe (default: each scenario's longest drift length).",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@deps_option
@group_option
@reports_dir_option
def hunt(
    suite: Path | None,
    budget: str,
    select: tuple[str, ...],
    seed: int | None,
    plain: bool,
    max_length: int | None,
    no_progress: bool,
    group: str | None,
    reports_dir: Path | None,
) -> None:
    """Search the suite's generated inputs (and drift scenarios' lengths) for divergences,
    shrink each to a minimal case (a drift failure to its shortest failing length) and save
    it as a regression case under the suite's regressions/ folder."""
    from harness.core.events import Status
    from harness.modes.hunt import HuntDriver, HuntOptions
    from harness.report.build import build_reports
    from harness.session import run_session

    seconds = parse_duration(budget)
    options = HuntOptions(
        suite=resolve_suite(suite),
        budget=seconds,
        select=select,
        deps=deps_options(),
        reports_dir=reports_dir,
        plain=plain,
        seed=seed,
        group=group,
        max_length=max_length,
    )
    view = HuntView(seconds, show=not no_progress)
    driver = HuntDriver(options, emit=view)
    try:
        outcome = run_async(lambda: run_session(driver, view, reports=build_reports))
    except HarnessError:
        view.stop()
        _print_saved(view)  # what it saved before the failure is kept: say where
        raise
    view.stop()
    found = driver.hunter.found if driver.hunter is not None else []
    if outcome.status is Status.INTERRUPTED:
        err.print("[yellow]interrupted[/]: regression cases saved so far are kept")
        _print_saved(view)
        sys.exit(EXIT_INTERRUPTED)
    tried = driver.hunter.tried if driver.hunter is not None else 0
    known = len(driver.hunter.findings.covered) if driver.hunter is not None else 0
    again = f"; {known} known root cause(s) failed again, covered by saved regression cases"
    err.print(
        f"hunt [bold]{outcome.run_id}[/]: {cases(tried)} in {outcome.seconds:.0f} s, "
        f"{len(found)} new divergence(s) (one per root cause){again if known else ''}"
    )
    for f in found:
        err.print(
            f"  {f.requirement} · check {escape(f.check)} · found after {cases(f.tried)} of "
            f"its scenario{'' if f.shrunk else ' (not shrunk)'}"
            + (
                f" · flaky: failed {f.failures} of {f.replays} runs, replayed {f.trials} "
                "times by every run"
                if f.trials is not None
                else ""
            )
            + _length_words(f)
        )
        if f.members:
            shown = ", ".join(escape(x) for x in f.members[:5])
            more = f" and {len(f.members) - 5} more" if len(f.members) > 5 else ""
            err.print(f"    same root cause in {len(f.members)} other scenario(s): {shown}{more}")
    _print_saved(view)
    if outcome.reports is not None:  # summary.md, report.html, ... of what it found
        print_paths(outcome.reports.paths())
    sys.exit(1 if found else 0)


def _print_saved(view: HuntView) -> None:
    """What a script needs goes to stdout: the run (its id came first), then each saved
    regression case."""
    if view.run_id is None:
        return  # nothing started, or the run was refused and its folder removed
    out.print(f"  results  {view.run_dir}")
    for rid, path in view.saved:
        out.print(f"  saved    {rid}  {path}")


def _length_words(f: Finding) -> str:
    """A drift finding's point: the shortest failing length it was shrunk to, and from where."""
    if f.length is None:
        return ""
    at = f"{f.length}" + ("" if f.position in (None, "start") else f" ({f.position})")
    if f.found_length is None:
        return f" · at length {at}"
    below = f", passed at {f.passing_length}" if f.passing_length is not None else ""
    return f" · shortest failing length {at} (found at {f.found_length}{below})"


def cases(n: int) -> str:
    return f"{n} case" if n == 1 else f"{n} cases"


@click.command()
@click.argument("case_id")
@click.argument("suite", required=False, type=click.Path(path_type=Path))
@click.option("--seed", type=int, help="Seed the case was planned with (default: the suite's).")
@click.option(
    "--times",
    type=click.IntRange(1, 100),
    default=1,
    show_default=True,
    help="Replay it this many times and compare the verdicts.",
)
@deps_option
@reports_dir_option
def replay(
    case_id: str,
    suite: Path | None,
    seed: int | None,
    times: int,
    reports_dir: Path | None,
) -> None:
    """Re-run one case exactly (same seed, inputs and setup data) and print the evidence.

    CASE_ID is a case of a scenario (e.g. small-refund#2) or a saved regression case
    (regression:<id>)."""
    from harness.core.events import Status
    from harness.modes.replay import ReplayDriver, ReplayOptions
    from harness.session import run_session

    options = ReplayOptions(
        suite=resolve_suite(suite),
        case_id=case_id,
        seed=seed,
        times=times,
        deps=deps_options(),
        reports_dir=reports_dir,
    )
    driver = ReplayDriver(options, emit=_replay_view)
    outcome = run_async(lambda: run_session(driver, _replay_view))
    for result in driver.results:
        print_result(result)
    if outcome.status is Status.INTERRUPTED:
        err.print(f"[yellow]interrupted[/] after {len(driver.results)} of {times} replay(s)")
        out.print(f"  results  {outcome.run_dir}")
        sys.exit(EXIT_INTERRUPTED)
    if len(driver.results) > 1:
        for line in compare_replays(driver.results):
            err.print(line)
    out.print(f"  results  {outcome.run_dir}")
    sys.exit(1 if any(r.verdict.value != "pass" for r in driver.results) else 0)


def compare_replays(results: list[CaseResult]) -> list[str]:
    """Two lines on N replays: were the case's verdicts the same, and were the same checks
    failing? ("fail, fail, fail" with different failing checks is the same verdict.)"""
    n = len(results)
    verdicts = [r.verdict.value for r in results]
    counts = ", ".join(
        f"{verdicts.count(v)} {v}" for v in ("pass", "fail", "error") if v in verdicts
    )
    if len(set(verdicts)) == 1:
        first = f"[green]same verdict[/] in {n} replays: {verdicts[0]}"
    else:
        first = (
            f"[red]different verdicts[/] in {n} replays: {counts}: the agent is not reliable here"
        )
    failing = [
        tuple(
            sorted(f"{c.check_id}={c.verdict.value}" for c in r.checks if c.verdict.value != "pass")
        )
        for r in results
    ]
    if not any(failing):
        return [first]
    if len(set(failing)) == 1:
        return [
            first,
            f"[green]same failing checks[/] in {n} replays: {escape(', '.join(failing[0]))}",
        ]
    lines = [first, f"[red]different failing checks[/] in {n} replays:"]
    for i, checks in enumerate(failing, 1):
        lines.append(f"  replay {i}: " + (escape(", ".join(checks)) if checks else "none"))
    return lines


def _replay_view(event: Event) -> None:
    if isinstance(event, RunKept):
        say_run_id(event.run_id)
    elif isinstance(event, DependencyReady):
        i = event.info
        err.print(f"  {i.name} ready in {i.ready_seconds:.2f} s via {i.provider}")
    elif isinstance(event, Note):
        err.print(escape(event.text), soft_wrap=True)
