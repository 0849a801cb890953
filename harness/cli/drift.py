"""`harness drift`: play the suite's drift scenarios at every length and position and report,
per requirement, how far into a conversation the agent still honours what it was told."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli.common import (
    deps_option,
    deps_options,
    err,
    group_option,
    reports_dir_option,
    resolve_suite,
    run_async,
)


def _lengths(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...]:
    if value is None:
        return ()
    try:
        lengths = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r}: lengths are whole numbers, e.g. 0,4,16") from None
    if not lengths or any(n < 0 or n > 400 for n in lengths):
        raise click.BadParameter(f"{value!r}: lengths are from 0 to 400, e.g. 0,4,16")
    if len(set(lengths)) != len(lengths):
        raise click.BadParameter(f"{value!r}: each length once, e.g. 0,4,16")
    if len(lengths) < 2:
        raise click.BadParameter(
            f"{value!r}: a curve needs two lengths or more (the shortest is the baseline)"
        )
    return lengths


@click.command()
@click.argument("suite", required=False, type=click.Path(path_type=Path))
@click.option("--seed", type=int, envvar="HARNESS_SEED", help="Seed for case generation.")
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(1, 1024),
    envvar="HARNESS_CONCURRENCY",
    help="Conversations at once (default: the suite's).",
)
@click.option(
    "-k",
    "--select",
    multiple=True,
    metavar="PATTERN",
    help="Only drift scenarios matching this glob.",
)
@click.option(
    "--repeat", type=click.IntRange(1, 100_000), help="Cases per scenario, overriding the suite."
)
@click.option(
    "--trials",
    type=click.IntRange(1, 1000),
    envvar="HARNESS_TRIALS",
    help="Play every case at every point this many times (pass^k per length).",
)
@click.option(
    "--lengths",
    callback=_lengths,
    metavar="N,N,...",
    help="Play every drift scenario at these lengths (filler turns before the probe) "
    "instead of its own, e.g. 0,8,64.",
)
@group_option
@click.option(
    "--case-timeout",
    type=click.FloatRange(min=0, min_open=True),
    envvar="HARNESS_CASE_TIMEOUT",
    help="Seconds before a conversation is an error.",
)
@deps_option
@click.option("--resume", metavar="RUN_ID", help="Finish an interrupted drift run.")
@click.option("--no-progress", is_flag=True, help="No progress bar (e.g. in CI logs).")
@reports_dir_option
def drift(
    suite: Path | None,
    seed: int | None,
    concurrency: int | None,
    select: tuple[str, ...],
    repeat: int | None,
    trials: int | None,
    lengths: tuple[int, ...],
    group: str | None,
    case_timeout: float | None,
    resume: str | None,
    no_progress: bool,
    reports_dir: Path | None,
) -> None:
    """Measure long-task drift: each drift scenario at every length and position (default:
    the bundled demo); exit 1 when a requirement degrades within the lengths run."""
    from harness.cli.progress import ConsoleView
    from harness.cli.summary import end_of_run
    from harness.modes.drift import DriftDriver, DriftOptions
    from harness.report.build import build_reports
    from harness.session import run_session

    if not resume or suite is not None:
        suite = resolve_suite(suite)
    options = DriftOptions(
        suite=suite,
        reports_dir=reports_dir,
        seed=seed,
        concurrency=concurrency,
        case_timeout=case_timeout,
        select=select,
        repeat=repeat,
        deps=deps_options(),
        resume=resume,
        trials=trials,
        group=group,
        lengths=lengths,
    )
    view = ConsoleView(err, show_progress=not no_progress)
    try:
        driver = DriftDriver(options)
        outcome = run_async(lambda: run_session(driver, view, reports=build_reports))
    finally:
        view.stop()
    sys.exit(end_of_run(outcome, "drift"))
