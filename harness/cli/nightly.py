"""`harness signoff`, `harness compare` and `harness trend`: the release and nightly jobs.

All three read stored runs only (reports/<run-id>/); none starts anything. Heavy
modules load inside the commands, so `harness --help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from harness.cli.common import (
    collect_from_here,
    err,
    out,
    print_paths,
    reports_dir_option,
    reports_root,
)
from harness.errors import ConfigError
from harness.numeric import load_numpy

if TYPE_CHECKING:
    from harness.runlog.read import RunFolder


def _run(root: Path, ref: str) -> RunFolder:
    """A run by id under the reports folder, or by the path of its folder."""
    from harness.runlog.history import find_run

    path = Path(ref)
    if (path / "manifest.json").is_file():
        return find_run(path.parent, path.name)
    return find_run(root, ref)


@click.command()
@click.argument("run_id")
@click.option(
    "--policy",
    "policy_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The gates the run must pass (e.g. scenarios/refund_desk/policy.yaml).",
)
@click.option(
    "--with",
    "also",
    multiple=True,
    metavar="RUN_ID",
    help="A hunt, load or drift run, or a run with --faults, to include besides those of the "
    "run's --group (repeatable).",
)
@click.option("--pdf", is_flag=True, help="Also print the report to PDF (needs harness[pdf]).")
@reports_dir_option
def signoff(
    run_id: str, policy_path: Path, also: tuple[str, ...], pdf: bool, reports_dir: Path | None
) -> None:
    """Judge a stored run against a release policy: GO (exit 0) or NO-GO (exit 1), with the
    gates, a traceability matrix, the environment and the evidence."""
    from harness.report.signoff import evaluate
    from harness.report.signoff_render import write_signoff
    from harness.runlog.history import group_runs
    from harness.spec.policy import load_policy

    collect_from_here()

    root = reports_root(reports_dir)
    policy = load_policy(policy_path)
    run = _run(root, run_id)
    if run.kind != "run":
        raise ConfigError(
            f"{run.run_id} is a {run.kind} run; a sign-off judges a suite run",
            hint="pass the id of a harness run (hunt, load and drift runs join it with --group "
            "or --with)",
        )
    result = evaluate(run, policy, policy_path, group_runs(root, run, also))
    paths = write_signoff(result, run.dir, pdf=pdf)
    style = "bold green" if result.go else "bold red"
    err.print(f"[{style}]{result.verdict}[/]: {escape(policy.title)} (run {run.run_id})")
    for gate in result.gates:
        mark = {"pass": "[green]pass[/]", "fail": "[red]FAIL[/]"}.get(
            gate.status, "[yellow]not measured[/]"
        )
        note = "" if gate.blocking or gate.status == "pass" else " (optional: does not block)"
        err.print(f"  {mark} {gate.name}: {escape(gate.title)}{note}")
        for finding in gate.findings[:8]:
            err.print(f"      {escape(finding)}")
        if len(gate.findings) > 8:
            err.print(f"      ... and {len(gate.findings) - 8} more in the report")
    out.print(f"verdict: {result.verdict}")
    print_paths(paths)
    sys.exit(0 if result.go else 1)


@click.command()
@click.argument("base")
@click.argument("head")
@click.option(
    "--k",
    "k",
    type=click.IntRange(1, 1000),
    help="pass^k at this k (default: the fewer trials of the two runs).",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the comparison (Markdown) to this file, e.g. $GITHUB_STEP_SUMMARY.",
)
@click.option("--force", is_flag=True, help="Compare runs of two different suites anyway.")
@click.option(
    "--all",
    "list_all",
    is_flag=True,
    help="List every entry of each section (by default the first 100, and how many more).",
)
@reports_dir_option
def compare(
    base: str,
    head: str,
    k: int | None,
    out_file: Path | None,
    force: bool,
    list_all: bool,
    reports_dir: Path | None,
) -> None:
    """Compare two stored runs of a suite (ids, or run folders): new failures first, then
    fixed, newly flaky, known regressions, then each requirement's pass@1 and pass^k change
    and whether it is beyond noise. Exit 1 when HEAD has new failures, checks newly flaky in
    a requirement reliable in BASE, a known regression failing anew or a requirement worse
    beyond noise."""
    load_numpy()  # pandas': OpenBLAS on one thread (harness/numeric.py)
    from harness.report.compare import comparable, compare_runs
    from harness.report.compare_render import LISTED, render_comparison

    collect_from_here()

    root = reports_root(reports_dir)
    runs = _run(root, base), _run(root, head)
    comparable(*runs, force=force)
    comparison = compare_runs(*runs, k)
    text = render_comparison(comparison, limit=None if list_all else LISTED)
    out.print(text, markup=False, highlight=False)
    if out_file is not None:
        try:
            out_file.parent.mkdir(parents=True, exist_ok=True)
            with out_file.open("a", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise ConfigError(f"--out {out_file}: cannot write it: {exc.strerror or exc}") from exc
    red = comparison.red
    if red:
        err.print(f"[bold red]{escape('; '.join(red))}[/] in {comparison.head.run_id}")
    sys.exit(1 if red else 0)


@click.command()
@click.argument("suite", required=False)
@click.option(
    "--last",
    type=click.IntRange(1, 10_000),
    default=30,
    show_default=True,
    help="How many of the suite's latest finished runs to plot.",
)
@click.option(
    "--k",
    "k",
    type=click.IntRange(1, 1000),
    default=5,
    show_default=True,
    help="pass^k at this k; runs with fewer trials per case show pass^k as not measured.",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the HTML (default: <reports-dir>/trend-<suite>.html).",
)
@reports_dir_option
def trend(
    suite: str | None, last: int, k: int, out_file: Path | None, reports_dir: Path | None
) -> None:
    """Plot pass@1 and pass^k per requirement over a suite's last runs (self-contained HTML)."""
    load_numpy()  # pandas': OpenBLAS on one thread (harness/numeric.py)
    from harness.cli.common import resolve_suite
    from harness.report.trend import build_trend, write_trend
    from harness.spec.suite import load_suite

    collect_from_here()

    name = suite or ""
    folder = resolve_suite(Path(suite) if suite else None)
    if (folder / "suite.yaml").is_file():
        name = load_suite(folder).name
    root = reports_root(reports_dir)
    result = build_trend(root, name, last, k)
    path = write_trend(result, out_file or root / f"trend-{name}.html")
    err.print(
        f"trend of {escape(name)}: {len(result.runs)} run(s), {len(result.series)} "
        f"requirement(s), k = {result.k}"
        + (f"; {len(result.drift)} drift run(s)" if result.drift else "")
        + (f"; {len(result.faults)} faulted run(s)" if result.faults else "")
    )
    if result.short_runs:
        err.print(
            f"  pass^{result.k} not measured in {len(result.short_runs)} run(s) with fewer "
            f"than {result.k} trials per case"
        )
    for x in result.left_out:
        err.print(f"  left out: {escape(x.run_id + ': ' if x.run_id else '')}{escape(x.why)}")
    out.print(str(path))
