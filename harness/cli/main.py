"""`harness`: run, validate, list, report, schema.

Exit codes: 0 no divergence, 1 divergences found, 2 usage or configuration
error, 3 harness or environment failure, 130 interrupted (finished cases kept).
Options come from the command line, then HARNESS_* variables, then
[tool.harness] in ./pyproject.toml, then the suite's defaults.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import traceback
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

import harness
from harness.cli.common import (
    EXIT_INTERRUPTED,
    collect_from_here,
    deps_options,
    err,
    fail,
    out,
    pyproject_defaults,
    reports_dir_option,
    resolve_suite,
    session_options,
    suite_folders,
)
from harness.errors import ConfigError, HarnessError
from harness.numeric import own_process

if TYPE_CHECKING:
    from harness.spec.suite import Suite


#: the commands whose modules load only when one of them runs (or --help lists them): a
#: `harness run` or `validate` never imports the hunt, load, drift or sign-off machinery
LAZY = {
    "hunt": "harness.cli.search:hunt",
    "replay": "harness.cli.search:replay",
    "signoff": "harness.cli.nightly:signoff",
    "compare": "harness.cli.nightly:compare",
    "trend": "harness.cli.nightly:trend",
    "drift": "harness.cli.drift:drift",
    "load": "harness.cli.load:load",
    "load-worker": "harness.cli.load:load_worker",
    "clean": "harness.cli.deps:clean",
    "mark-disposable": "harness.cli.deps:mark_disposable",
}


class Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY:
            module, _, name = LAZY[cmd_name].partition(":")
            self.add_command(getattr(import_module(module), name), cmd_name)
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HarnessError as exc:
            fail(exc)
        except KeyboardInterrupt:  # before a command's event loop took over: nothing started
            sys.exit(EXIT_INTERRUPTED)
        except click.BadParameter as exc:
            _name_the_source(exc)
            raise
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception:
            err.print("[bold red]harness: internal error[/] (please report it with this trace)")
            err.print(escape(traceback.format_exc()))
            sys.exit(3)


def _version(ctx: click.Context) -> None:
    """--version, as click's version_option says it, the version looked up only here."""
    click.echo(f"harness, version {harness.__version__}")
    ctx.exit()


def _name_the_source(exc: click.BadParameter) -> None:
    """A bad value that came from HARNESS_* or pyproject.toml is blamed there, not on the
    option the user never typed."""
    param, ctx = exc.param, exc.ctx
    if not isinstance(param, click.Option) or ctx is None or not param.name:
        return
    source = ctx.get_parameter_source(param.name)
    if source is click.core.ParameterSource.ENVIRONMENT:
        names = param.envvar if isinstance(param.envvar, str) else param.envvar or ()
        set_vars = [n for n in ([names] if isinstance(names, str) else names) if n in os.environ]
        exc.param_hint = f"{', '.join(set_vars) or 'the environment'} (environment variable)"
    elif source is click.core.ParameterSource.DEFAULT_MAP:
        key = next((o.lstrip("-") for o in param.opts if o.startswith("--")), param.name)
        exc.param_hint = f"{key} in [tool.harness] of pyproject.toml"


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=lambda ctx, param, value: _version(ctx) if value else None,
    help="Show the version and exit.",
)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Find where an AI agent diverges from its written spec, on its real dependencies."""
    defaults = pyproject_defaults()
    if not defaults:
        return
    commands = {name: cli.get_command(ctx, name) for name in cli.list_commands(ctx)}
    options = {
        name: {p.name for p in command.params if isinstance(p, click.Option) and p.name}
        for name, command in commands.items()
        if command is not None
    }
    known = set().union(*options.values())
    unknown = sorted(set(defaults) - known)
    if unknown:
        from harness.spec.loader import did_you_mean

        raise ConfigError(
            f"pyproject.toml [tool.harness]: unknown key(s) {', '.join(unknown)}"
            + "".join(did_you_mean(k, known) for k in unknown[:1]),
            hint="keys are the long options of the commands, e.g. concurrency = 8, "
            'reports-dir = "out"',
        )
    ctx.default_map = {
        name: {k: v for k, v in defaults.items() if k in names} for name, names in options.items()
    }


@cli.command()
@session_options(
    unit="Cases",
    select="Run only scenarios or cases matching this glob (repeatable).",
    trials="Run every case this many times (fresh rows each time) for pass@1, pass^k and "
    "flaky cases (default: the suite's, else 1).",
    resume="Finish an interrupted run without repeating finished cases.",
)
@click.option(
    "--faults",
    "faults",
    metavar="NAME",
    envvar="HARNESS_FAULTS",
    help="Play every case of this fault profile (suite.yaml faults: profiles:) clean and "
    "faulted (its id ~NAME), in alternating phases, for R_fault.",
)
def run(
    suite: Path | None,
    seed: int | None,
    concurrency: int | None,
    select: tuple[str, ...],
    repeat: int | None,
    trials: int | None,
    group: str | None,
    case_timeout: float | None,
    resume: str | None,
    no_progress: bool,
    reports_dir: Path | None,
    faults: str | None,
) -> None:
    """Run a suite (default: the bundled demo) and report every divergence from its spec."""
    from harness.cli.summary import play
    from harness.modes.run import RunDriver, RunOptions

    if not resume or suite is not None:
        suite = resolve_suite(suite)
    options = RunOptions(
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
        faults=faults,
    )
    play(RunDriver(options), no_progress=no_progress)


@cli.command()
@click.argument("suites", nargs=-1, type=click.Path(path_type=Path))
def validate(suites: tuple[Path, ...]) -> None:
    """Check suites (folders or names) or sign-off policy files without starting anything;
    exit 2 when any is broken."""
    from harness.check.scopes import pair_warnings
    from harness.spec.suite import load_suite

    problems: list[str] = []
    for path in suites or (None,):
        if path is not None and path.is_file() and path.name not in ("suite.yaml", "suite.yml"):
            from harness.spec.policy import load_policy

            try:
                policy = load_policy(path)
            except ConfigError as exc:
                problems.append(str(exc))
                continue
            out.print(f"[green]✓[/] policy {path}: k = {policy.k}")
            continue
        try:
            suite = load_suite(resolve_suite(path))
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        deps = len(suite.manifest.environment.dependencies)
        out.print(
            f"[green]✓[/] {suite.name}: {len(suite.spec.requirements)} requirements, "
            f"{len(suite.scenarios)} scenarios, {len(suite.invariants)} invariants, "
            + (f"{deps} dependencies" if deps else "no dependencies (nothing to start)")
        )
        _say_unreadable_regressions(suite)
        _say_unattributable(suite)
        for warning in pair_warnings(suite):  # a load profile's pairs nothing can judge
            err.print(f"[yellow]warning[/]: {escape(warning)}", soft_wrap=True)
    if problems:
        err.print(escape("\n".join(problems)), soft_wrap=True)
        sys.exit(2)


def _say_unattributable(suite: Suite) -> None:
    """Call checks and scenario routes on a stub without `match:` are refused by a run of
    concurrency above 1; validate cannot know a run's concurrency, so it warns at the suite's
    default (a run refuses, at its own)."""
    from harness.stubs.attribution import FIX, unattributable

    concurrency = suite.manifest.defaults.concurrency
    run = (
        f"a run of concurrency {concurrency} (the suite's default)"
        if concurrency > 1
        else "a run with --concurrency above 1"
    )
    found = list(unattributable(suite, max(concurrency, 2), run))
    for problem in found:
        err.print(
            f"[yellow]warning[/]: {escape(str(problem))} (a run refuses it unless its "
            f"concurrency is 1; the suite's default is {concurrency})",
            soft_wrap=True,
        )
    if found:
        err.print(f"  fix: {escape(FIX)}", soft_wrap=True)


def _say_unreadable_regressions(suite: Suite) -> None:
    """Regression files that cannot be replayed do not make a suite invalid (runs leave them
    out and report them), but are said here, where someone can fix or delete them."""
    if not (suite.regressions or suite.broken_regressions):
        return
    from harness.run.regressions import known

    saved = known(suite)
    if saved.cases:
        out.print(f"  {len(saved.cases)} regression case(s) replayable")
    for problem in saved.unreadable:
        err.print(
            f"[yellow]warning[/]: regression file cannot be replayed (runs leave it out and "
            f"report it): {escape(str(problem))}",
            soft_wrap=True,
        )


@cli.command(name="list")
@click.argument("suite", required=False, type=click.Path(path_type=Path))
def list_(suite: Path | None) -> None:
    """List the suites under ./scenarios, or one suite's requirements and scenarios."""
    from harness.spec.suite import load_suite

    if suite is None:
        roots = suite_folders()
        if not roots:
            out.print("no suites under ./scenarios")
        for root in roots:
            try:
                s = load_suite(root)
                out.print(
                    f"{root}  [bold]{s.name}[/]: {len(s.spec.requirements)} requirements, "
                    f"{len(s.scenarios)} scenarios, {sum(sc.repeat for sc in s.scenarios)} cases"
                )
            except ConfigError as exc:
                out.print(
                    f"{root}  [red]invalid[/] ({len(exc.problems) or 1} problem(s); "
                    f"harness validate {root})"
                )
        return
    from harness.check.inventory import check_inventory, judged_by

    s = load_suite(resolve_suite(suite))
    out.print(f"[bold]{s.name}[/]: {escape(s.spec.title)}")
    kinds = judged_by(check_inventory(s))
    for r in s.spec.requirements:
        mine = kinds.get(r.id, [])
        step = ""
        if r.mandatory_step:  # a step of the real chain: is the step itself seen?
            seen = "call" in mine or "trace" in mine
            step = " · mandatory step" + ("" if seen else " [yellow](no trace or call check)[/]")
        judged = f"judged by {', '.join(mine)}" if mine else "[red]no check[/]"
        out.print(
            f"  {r.id} {escape(f'[{r.severity}]')} {escape(r.title)} [dim]({judged})[/]{step}"
        )
    for sc in s.scenarios:
        reqs = sorted({rid for c in sc.checks for rid in c.requirements})
        drift = ""
        if sc.drift is not None:  # where harness drift plays it
            drift = f" [drift: lengths {','.join(map(str, sc.drift.lengths))}"
            if any(not isinstance(t, str) and t.remember for t in sc.turns):
                drift += f"; positions {','.join(sc.drift.positions)} at {sc.drift.at}"
            drift += "]"
        out.print(
            f"  scenario {sc.id} x{sc.repeat}: {escape(sc.title)} ({', '.join(reqs)})"
            + escape(drift)
        )


@cli.command()
@click.argument("run_id")
@reports_dir_option
def report(run_id: str, reports_dir: Path | None) -> None:
    """Rebuild the reports of a stored run (also a killed or partial one)."""
    from harness.cli.progress import say_run_id
    from harness.cli.summary import summarize
    from harness.report.build import build_reports
    from harness.runlog.store import reports_root

    collect_from_here()
    run_dir = reports_root(reports_dir) / run_id
    if not (run_dir / "manifest.json").is_file():
        raise ConfigError(
            f"no run {run_id!r} under {reports_root(reports_dir)}",
            hint="run ids are the folder names under the reports directory",
        )
    say_run_id(run_id)
    sys.exit(summarize(build_reports(run_dir), interrupted=False))


@cli.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one JSON Schema per suite file here instead of printing them.",
)
def schema(out_dir: Path | None) -> None:
    """The JSON Schema of each suite file and of the run log (manifest.json, cases.jsonl),
    for editor completion, validation and users' own tools."""
    import json

    from harness.runlog.schema import log_schemas
    from harness.spec.schema import schemas

    every = {**schemas(), **log_schemas()}
    if out_dir is None:
        out.print_json(json.dumps(every))
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, document in every.items():
        path = out_dir / f"{name}.schema.json"
        path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        out.print(str(path))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # no garbage collection while the command's modules load (objects by the million, no
    # garbage); a command that goes on to work turns it on (common.collect_from_here)
    gc.disable()
    own_process()  # numpy, if a command loads it, without OpenBLAS's threads (numeric.py)
    # until a command's event loop takes them over (common.run_async), SIGTERM and SIGHUP
    # stop the harness as Ctrl-C does: exit 130, never a half-done state
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    try:
        cli()
    except KeyboardInterrupt:  # Ctrl-C before any run started (e.g. while importing)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        # the reader of our output went away; say nothing more, and let no flush complain
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
