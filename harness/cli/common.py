"""What every command shares: consoles, the demo suite, async running, common options."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import tomllib
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape

import harness
from harness.deps.options import DepsOptions
from harness.errors import ConfigError, HarnessError

DEMO_SUITE = Path("scenarios") / "refund_desk"
EXIT_INTERRUPTED = 130
T = TypeVar("T")

# soft_wrap: paths and ids are never broken across lines, whatever the terminal width
# In CI logs (no terminal) tables get room instead of rich's 80 columns; COLUMNS still wins.
# emoji=False: rich would turn `:100:` into an emoji, in a place (`suite.yaml:100:7`) as in
# an agent's text
_LOG_WIDTH = None if os.environ.get("COLUMNS") else 140
err = Console(
    stderr=True,
    highlight=False,
    soft_wrap=True,
    emoji=False,
    width=None if sys.stderr.isatty() else _LOG_WIDTH,
)
out = Console(
    highlight=False,
    soft_wrap=True,
    emoji=False,
    width=None if sys.stdout.isatty() else _LOG_WIDTH,
)


def reports_root(cli_value: str | Path | None = None) -> Path:
    """--reports-dir, else HARNESS_REPORTS_DIR, else ./reports (as runlog/store.py)."""
    from harness.runlog.store import reports_root as root

    return root(cli_value)


def print_paths(paths: dict[str, Path]) -> None:
    """The files a command wrote, one per line on stdout, their paths in one column."""
    width = max((len(kind) for kind in paths), default=0)
    for kind, path in paths.items():
        out.print(f"  {kind:{width}}  {path}", markup=False)


def pyproject_defaults() -> dict[str, Any]:
    path = Path("pyproject.toml")
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"pyproject.toml: {exc}", hint="fix the TOML syntax") from None
    section = data.get("tool", {}).get("harness", {})
    return {k.replace("-", "_"): v for k, v in section.items()} if isinstance(section, dict) else {}


BUNDLED = Path(harness.__file__).resolve().parent.parent / "scenarios"


def suite_folders() -> list[Path]:
    """The suites under ./scenarios, else the ones bundled beside the package."""
    for base in (Path("scenarios"), BUNDLED):
        found = sorted(p.parent for p in base.glob("*/suite.yaml"))
        if found:
            return found
    return []


def resolve_suite(given: Path | None) -> Path:
    """A suite folder, or a suite's name under ./scenarios (or the bundled ones); no argument:
    the demo suite."""
    if given is None:
        candidates = [Path.cwd() / DEMO_SUITE, BUNDLED.parent / DEMO_SUITE]
    elif given.exists() or given.is_absolute() or len(given.parts) > 1:
        return given
    else:
        candidates = [Path("scenarios") / given, BUNDLED / given, given]
    for path in candidates:
        if path.is_dir():
            return path
    if given is None:
        raise ConfigError(
            "no suite given and the demo suite scenarios/refund_desk is not here",
            hint="pass a suite folder: harness run path/to/suite (harness list shows suites)",
        )
    return given


def default_suite() -> Path:
    return resolve_suite(None)


def fail(exc: HarnessError) -> None:
    kind = "configuration error" if exc.exit_code == 2 else "error"
    err.print(f"[bold red]harness: {kind}[/]")
    err.print(escape(str(exc)), soft_wrap=True)
    sys.exit(exc.exit_code)


#: signals that stop a command the way Ctrl-C does: SIGHUP comes when the terminal closes
#: or an ssh session drops, SIGTERM from kill, systemd, docker stop or CI timeouts
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def collect_from_here() -> None:
    """The command's modules are loaded: the garbage collector, off while they were imported
    (`main`: a tenth of a second of start-up went to collections finding nothing), runs from
    here on, with what start-up made frozen out of every collection. Only after `main`
    turned it off: a command invoked in-process (tests, CliRunner) leaves it as it is."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run, with Ctrl-C, SIGTERM and SIGHUP alike: the first cancels the command, which
    unwinds and removes everything it started. A second one while that goes on says so and
    lets the cleanup finish (breaking it would leave containers behind); a third leaves at
    once. A command that has taken a cancellation in hand (`Task.uncancel`: e.g. the session
    writing its reports after the environment is down) gets the next signal as a cancellation
    again, and says itself what that signal does there."""
    import asyncio  # here: validate, list and --help never run a loop

    collect_from_here()

    async def main() -> T:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        received = 0

        def stop() -> None:
            nonlocal received
            received += 1
            if received >= 3:
                _say("[red]leaving now[/]; run `harness clean` to remove what is left")
                os._exit(EXIT_INTERRUPTED)
            elif task is not None and (received == 1 or not task.cancelling()):
                # the first always cancels (a timeout of the command's own may be cancelling
                # it at this instant); a later one only once the first was taken in hand
                task.cancel()
            else:  # the first signal's cancellation is still unwinding: the cleanup
                _say(
                    "[yellow]stopping[/]: removing the containers and servers this run "
                    "started; signal once more to leave now (`harness clean` then removes "
                    "what is left)"
                )

        for sig in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop)
        return await make()

    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    try:
        return asyncio.run(main())
    finally:  # the loop's close resets them to the defaults; keep what the CLI had set
        for sig, handler in before.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, handler)


def _say(text: str) -> None:
    with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
        err.print(text)


group_option = click.option(
    "--group",
    envvar="HARNESS_GROUP",
    metavar="NAME",
    help="Name the runs that belong together (e.g. one release); harness signoff reports "
    "the hunt, load and drift runs of its run's group.",
)

reports_dir_option = click.option(
    "--reports-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="HARNESS_REPORTS_DIR",
    help="Where runs are stored (default ./reports).",
)


_DEPS = "harness.deps"


def _keep(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta.setdefault(_DEPS, {})[param.name or ""] = value
    return value


def deps_options() -> DepsOptions:
    """What --deps, --image, --external and --disposable said (and where --deps came from),
    for the command being run; passed explicitly to its session."""
    ctx = click.get_current_context()
    got = ctx.meta.get(_DEPS, {})
    source = ctx.get_parameter_source("deps")
    where = {
        click.core.ParameterSource.ENVIRONMENT: "HARNESS_DEPS",
        click.core.ParameterSource.DEFAULT_MAP: "[tool.harness] in pyproject.toml",
    }.get(source, "--deps") if source is not None else "--deps"  # fmt: skip
    return DepsOptions(
        mode=got.get("deps") or None,
        mode_source=where,
        images=tuple(got.get("image") or ()),
        externals=tuple(got.get("external") or ()),
        disposable=tuple(got.get("disposable") or ()),
    )


def deps_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--deps and its companions: which provider, which images, which external services
    (read by the command with `deps_options()`)."""
    options = [
        click.option(
            "--deps",
            type=click.Choice(["auto", "docker", "embedded", "external"]),
            default=None,
            envvar="HARNESS_DEPS",
            expose_value=False,
            callback=_keep,
            help="How dependencies come up (default: the suite's environment.provider, else "
            "auto: docker when a Docker engine answers, else embedded).",
        ),
        click.option(
            "--image",
            multiple=True,
            metavar="NAME=IMAGE",
            expose_value=False,
            callback=_keep,
            help="Run dependency (or kind) NAME from IMAGE; repeatable. Also HARNESS_IMAGE_NAME.",
        ),
        click.option(
            "--external",
            multiple=True,
            metavar="NAME=URL",
            expose_value=False,
            callback=_keep,
            help="With --deps external: where dependency NAME runs; repeatable. "
            "Also HARNESS_EXTERNAL_NAME.",
        ),
        click.option(
            "--disposable",
            multiple=True,
            metavar="NAME",
            expose_value=False,
            callback=_keep,
            help="With --deps external: external dependency NAME may be written to (schema, "
            "seed, setup rows) although it carries no disposable marker.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def session_options(
    *, unit: str, select: str, trials: str, resume: str, extra: tuple[Any, ...] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options of a command that runs a suite's cases as a resumable session (`harness
    run`, `harness drift`), in their order on --help; `extra` goes after --trials."""
    options = [
        click.argument("suite", required=False, type=click.Path(path_type=Path)),
        click.option(
            "--seed",
            type=int,
            envvar="HARNESS_SEED",
            help="Seed for case generation (default: the suite's).",
        ),
        click.option(
            "-c",
            "--concurrency",
            type=click.IntRange(1, 1024),
            envvar="HARNESS_CONCURRENCY",
            help=f"{unit} run at once (default: the suite's).",
        ),
        click.option("-k", "--select", multiple=True, metavar="PATTERN", help=select),
        click.option(
            "--repeat",
            type=click.IntRange(1, 100_000),
            help="Cases per scenario, overriding the suite.",
        ),
        click.option(
            "--trials", type=click.IntRange(1, 1000), envvar="HARNESS_TRIALS", help=trials
        ),
        *extra,
        group_option,
        click.option(
            "--case-timeout",
            type=click.FloatRange(min=0, min_open=True),
            envvar="HARNESS_CASE_TIMEOUT",
            help=f"Seconds before a {unit.lower().rstrip('s')} is an error.",
        ),
        deps_option,
        click.option("--resume", metavar="RUN_ID", help=resume),
        click.option("--no-progress", is_flag=True, help="No progress bar (e.g. in CI logs)."),
        reports_dir_option,
    ]

    def apply(f: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            f = option(f)
        return f

    return apply
