"""`harness clean` and `harness mark-disposable`: the dependencies' housekeeping commands."""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from harness.cli.common import EXIT_INTERRUPTED, collect_from_here, err, out, run_async


@click.command()
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
def clean(dry_run: bool) -> None:
    """Remove containers, networks and embedded servers' data folders that killed runs
    left (their harness process is gone).

    What a running harness owns is never touched, so it is safe beside other runs.
    """
    from harness.deps import cleanup, engine
    from harness.deps.manager import scratch_root, sweep_stale_workdirs

    collect_from_here()

    verb = "would remove" if dry_run else "removed"
    for left in sweep_stale_workdirs(scratch_root(), dry_run=dry_run):
        out.print(f"{verb} data folder {escape(str(left))}")
    found = engine.probe(timeout=5)
    if not found.answers:
        err.print(
            f"[yellow]containers not checked[/]: {escape(found.describe())} (start the Docker "
            "engine, or set DOCKER_HOST, that the runs used)"
        )
        return
    client = engine.client(timeout=60)
    try:
        everything = cleanup.labelled(client)
        gone = [i for i in everything if not cleanup.owner_alive(i.labels)]
        kept = [i for i in everything if cleanup.owner_alive(i.labels)]
        for item in kept:
            out.print(f"[dim]kept[/] {escape(item.describe())} (its harness is still running)")
        if not gone:
            out.print("nothing to clean: no container or network of a killed run")
            return
        for item in gone:
            verb = "would remove" if dry_run else "removing"
            out.print(f"{verb} {escape(item.describe())}")
        if dry_run:
            return
        problems = cleanup.remove(client, gone)
    finally:
        client.close()
    if problems:
        err.print("[red]some could not be removed:[/]\n" + escape("\n".join(problems)))
        sys.exit(3)
    out.print(f"[green]removed {len(gone)} container(s) and network(s)[/]")


@click.command(name="mark-disposable")
@click.argument("url")
@click.option("--note", default="", help="Why it may be thrown away, recorded with the marker.")
def mark_disposable(url: str, note: str) -> None:
    """Mark the database or Redis at URL as disposable, so `--deps external` may write to it.

    PostgreSQL: creates the table public.harness_disposable; Redis: sets the key
    harness:disposable. Only do this for a database whose contents may be thrown away.
    """
    import asyncio  # here: --help lists this command without starting asyncio

    from harness.deps.external import mark_disposable as mark

    try:
        done = run_async(lambda: mark(url, note))
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit(EXIT_INTERRUPTED)
    out.print(f"[green]✓[/] {escape(done)}; harness run --deps external may now write to it")
