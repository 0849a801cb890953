"""`harness drift`: play the suite's drift scenarios at every length and position and report,
per requirement, how far into a conversation the agent still honours what it was told."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import deps_options, resolve_suite, session_options


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
@session_options(
    unit="Conversations",
    select="Only drift scenarios matching this glob (repeatable).",
    trials="Play every case at every point this many times (pass^k per length).",
    resume="Finish an interrupted drift run.",
    extra=(
        click.option(
            "--lengths",
            callback=_lengths,
            metavar="N,N,...",
            help="Play every drift scenario at these lengths (filler turns before the probe) "
            "instead of its own, e.g. 0,8,64.",
        ),
    ),
)
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
    from harness.cli.summary import play
    from harness.modes.drift import DriftDriver, DriftOptions

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
    play(DriftDriver(options), no_progress=no_progress)
