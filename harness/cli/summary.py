"""What `harness run`, `harness drift` and `harness report` print when a run has ended, and
the exit code it gives: 0 no divergence, 1 divergences (a drift run: a requirement degrades
with length, or fails at the shortest length), 3 incomplete, 130 a stop signal came."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, NoReturn

from rich.markup import escape

from harness.cli.common import EXIT_INTERRUPTED, err, print_paths
from harness.core.events import Status

if TYPE_CHECKING:
    from harness.report.build import Reports
    from harness.report.view import ReportView
    from harness.session import Outcome
    from harness.session.lifecycle import Driver


def play(driver: Driver, *, no_progress: bool) -> NoReturn:
    """A session of a suite's cases (`harness run`, `harness drift`) with the console view:
    its summary printed, the command exits with its code."""
    from harness.cli.common import run_async
    from harness.cli.progress import ConsoleView
    from harness.report.build import build_reports
    from harness.session import run_session

    view = ConsoleView(err, show_progress=not no_progress)
    try:
        outcome = run_async(lambda: run_session(driver, view, reports=build_reports))
    finally:
        view.stop()
    sys.exit(end_of_run(outcome, driver.kind))


def end_of_run(outcome: Outcome, kind: str = "run") -> int:
    """The summary of a `harness run` (or `harness drift`) that has ended, and its exit code."""
    from harness.report.build import build_reports

    if outcome.already_finished:  # said by the session; its verdicts decide, as in `report`
        return summarize(build_reports(outcome.run_dir, keep=True), interrupted=False)
    interrupted = outcome.status is Status.INTERRUPTED
    code = summarize(outcome.reports, interrupted=interrupted)
    with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
        if interrupted:
            err.print(
                f"[yellow]interrupted[/]: finished cases are kept; resume with "
                f"[bold]harness {kind} --resume {outcome.run_id}[/]"
            )
        elif outcome.signalled:
            say_signalled_after_end(outcome)
    return EXIT_INTERRUPTED if interrupted or outcome.signalled else code


def say_signalled_after_end(outcome: Outcome) -> None:
    """A stop signal came after the run had ended: it changed nothing, and says so."""
    ended = "had finished (every case)" if outcome.status is Status.FINISHED else (
        f"had ended ({outcome.status})")  # fmt: skip
    with contextlib.suppress(OSError):
        err.print(
            f"[yellow]stopped[/]: run {outcome.run_id} {ended} before the signal; "
            "its reports are written (above), nothing was cut short"
        )


def summarize(reports: Reports, *, interrupted: bool) -> int:
    """Print the summary of written reports; return the exit code (0, 1 or 3)."""
    v = reports.view
    # a drift run: a requirement that degrades with length, drops where too few cases could
    # tell, or fails already at the shortest length; a failure within noise at one length not
    d = reports.drift
    bad = v.diverged if d is None else bool(d.degraded or d.failing or d.undetermined)
    # a run with --faults: every failure counts, in either phase (a double refund under a
    # reset is found, whatever the noise); a degradation beyond noise names what it breaks
    bad = bad or (reports.faults is not None and reports.faults.failing)
    code = 1 if bad else (0 if v.complete and v.cases else 3)
    with contextlib.suppress(OSError):  # a closed output never changes the verdict
        _print_summary(reports, interrupted)
    return code


def error_reasons(v: ReportView, most: int = 3) -> list[str]:
    """The first few distinct reasons checks could not be judged, each with a case and check
    where it was seen (a wrong `reply:` path errs every case the same way)."""
    seen: dict[str, str] = {}
    for d in v.divergences:
        if d.verdict == "error" and d.examples and len(seen) < most:
            example = d.examples[0]
            seen.setdefault(example.message[:300], f"{example.case_id} / {d.check_id}")
    return [f"{reason} ({where})" for reason, where in seen.items()]


def _print_summary(reports: Reports, interrupted: bool) -> None:
    from harness.cli.progress import reliability_table, summary_table

    v = reports.view
    run_dir = reports.markdown.parent
    err.print(summary_table(v))
    shaky = reliability_table(v)
    if shaky is not None and v.reliability is not None:
        err.print(shaky)
        flaky = v.reliability.flaky
        err.print(f"[yellow]{len(flaky)} flaky case(s)[/] (passed in some trials, not in others)")
        for c in flaky[:20]:
            reqs = ", ".join(v.reliability.flaky_requirements(c.case_id))
            err.print(f"  {escape(c.case_id)} {c.outcomes} ({reqs})")
        if len(flaky) > 20:
            err.print(f"  ... and {len(flaky) - 20} more in the report")
    t = v.totals
    if v.divergence_count:
        err.print(
            f"[bold red]{t['fail']} failed and {t['error'] - v.suite_errors} errored check(s)[/] "
            f"in requirement(s) {', '.join(v.failing_requirements)}"
        )
    if v.suite_errors:  # never a pass, and no divergence of the agent's either
        err.print(
            f"[bold red]{v.suite_errors} more errored check(s) could not run[/]: the suite's "
            "error, not the agent's"
        )
    if v.divergence_count or v.suite_errors:
        for reason in error_reasons(v):  # why, not only how many (summary.md has every one)
            err.print(f"  [red]error[/]: {escape(reason)}", soft_wrap=True)
    elif v.diverged:
        err.print(f"[bold red]{'; '.join(v.regression_findings)}[/]; this run's cases pass")
    elif v.complete and v.cases:
        err.print(f"[bold green]no divergence from the spec[/] ({t['pass']} checks passed)")
    elif not interrupted:
        err.print(f"[yellow]{escape(v.headline)}[/]")
    drift = reports.drift
    if drift is not None:  # a drift run: how far each requirement holds
        colour = "red" if drift.degraded or drift.failing or drift.undetermined else "green"
        err.print(f"[bold {colour}]drift[/]: {escape(drift.headline)}")
        for curve in drift.curves:
            err.print(f"  {escape(curve.requirement)}: {escape(curve.verdict)}")
    faults = reports.faults
    if faults is not None:  # R_fault (--faults), each fault's share and recovery
        never = any(f.not_recovered for f in faults.faults)
        colour = "red" if faults.failing or never or faults.warning else "green"
        if faults.warning is not None:  # the faulted phase met no fault: not to be missed
            err.print(f"[bold yellow reverse] {escape(faults.warning)} [/]")
        first, *rest = faults.lines()
        err.print(f"[bold {colour}]{escape(first)}[/]")
        for line in rest:
            err.print(escape(line))
    if v.regressions or v.unreadable_regressions:
        err.print(f"known regressions: {v.regressions_headline}")
    for r in v.regressions:
        if r.verdict != "pass" or r.others:  # each by its own file's requirement and check
            err.print(
                f"  {escape(r.case_id)} ({r.requirement} / {escape(r.check)}): {escape(r.now)}"
            )
    for problem in v.unreadable_regressions:
        err.print(f"[yellow]regression file left out, it cannot be replayed:[/] {escape(problem)}")
    resumable = v.manifest.kind in ("run", "drift")
    if resumable and not v.complete and not interrupted and v.status != "running":
        err.print(
            f"[yellow]incomplete run[/] (status {v.status}): "
            f"harness {v.manifest.kind} --resume {run_dir.name} finishes it"
        )
    print_paths(reports.paths())
