"""Which provider brings the dependencies up, and why: checked before anything starts.

`--deps` (or HARNESS_DEPS, or [tool.harness] deps) wins over the suite's
`environment.provider`, which wins over the default `auto`: docker when a Docker engine
answers a quick ping, else embedded. Everything a provider will need (images, external
URLs, volumes, the engine itself) is resolved here, so a mistake is an error before the
first container or server starts, and the run says which provider it chose and why.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from harness.core.events import Note
from harness.deps.base import Provider
from harness.deps.images import (
    ImageChoice,
    check_names,
    ensure_image,
    parse_assignments,
    resolve_image,
)
from harness.deps.manager import get_provider
from harness.deps.options import EXTERNAL_ENV, DepsOptions
from harness.deps.stubbed import provided
from harness.empty import empty_dict, empty_list
from harness.errors import ConfigError, DependencyError
from harness.spec.models import PROVIDERS, ContainerDependency
from harness.spec.suite import Suite

if TYPE_CHECKING:
    from harness.deps import engine


def resumed_options(options: DepsOptions, stored: Mapping[str, Any] | None) -> DepsOptions:
    """A resumed run keeps the provider and images its finished cases were judged on, as it
    keeps its seed and trials: asking for another is refused, not followed silently."""
    if not stored or not stored.get("chosen") or stored.get("chosen") == "none":
        return options
    chosen = str(stored["chosen"])
    if options.mode and options.mode not in (chosen, stored.get("requested"), "auto"):
        raise ConfigError(
            f"{options.mode_source} {options.mode}: the run's finished cases were judged on "
            f"{chosen}; a resumed run keeps its dependencies' provider and images so its cases "
            "stay comparable",
            hint=f"drop {options.mode_source} (the resume uses {chosen}), or start a new run",
        )
    used = {
        str(name): choice
        for name, choice in (stored.get("images") or {}).items()
        if isinstance(choice, Mapping) and choice.get("ref")
    }
    kept = tuple(f"{name}={choice['ref']}" for name, choice in used.items())
    if options.images and not _same_images(options.images, used):
        raise ConfigError(
            f"--image {' '.join(options.images)}: the run started with "
            f"{' '.join(kept) or 'no image override'}; a resumed run keeps its images",
            hint="drop --image (and the HARNESS_IMAGE_<NAME> variables), or start a new run",
        )
    images = kept or options.images
    return replace(options, mode=chosen, mode_source="the resumed run's provider", images=images)


def _same_images(given: tuple[str, ...], used: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether each --image NAME=REF picks, for every dependency it applies to, the image the
    run used: NAME is a dependency name, or a kind for its dependencies not named themselves
    (as when the run started). A NAME that applies to no dependency is a change too."""
    wanted = parse_assignments(given, "--image", "IMAGE")
    for name, ref in wanted.items():
        if name in used:
            if used[name]["ref"] != ref:
                return False
            continue
        of_kind = [dep for dep, choice in used.items() if _kind(choice, used) == name]
        if not of_kind or any(used[dep]["ref"] != ref for dep in of_kind if dep not in wanted):
            return False
    return True


def _kind(choice: Mapping[str, Any], used: Mapping[str, Any]) -> str:
    """A dependency's kind as the run recorded it; a run recorded before kinds were kept
    tells it only when its image was given by kind (`"from": "--image postgres"`)."""
    if choice.get("kind"):
        return str(choice["kind"])
    key = str(choice.get("from", "")).removeprefix("--image ")
    return key if key != choice.get("from") and key not in used else ""


@dataclass
class Selection:
    provider: Provider
    mode: str  # the provider chosen: docker | embedded | external | none (no dependencies)
    requested: str  # what was asked for: auto | docker | embedded | external
    why: str
    images: dict[str, ImageChoice] = field(default_factory=empty_dict)
    notes: list[Note] = field(default_factory=empty_list)

    def manifest(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "chosen": self.mode,
            "why": self.why,
            "images": {
                n: {"ref": c.ref, "from": c.source, "kind": c.kind} for n, c in self.images.items()
            },
        }


def requested_mode(suite: Suite, options: DepsOptions) -> tuple[str, str]:
    """(mode, where it came from): command line / environment, then suite, then auto."""
    if options.mode:
        mode, source = options.mode, options.mode_source
    elif suite.manifest.environment.provider:
        mode, source = suite.manifest.environment.provider, "suite.yaml environment.provider"
    else:
        mode, source = "auto", "default"
    if mode not in PROVIDERS:
        raise ConfigError(
            f"{source}: unknown dependency provider {mode!r}", hint=f"use one of {PROVIDERS}"
        )
    return mode, source


async def select_provider(
    suite: Suite,
    options: DepsOptions,
    env: Mapping[str, str] | None = None,
    *,
    resuming: str | None = None,
) -> Selection:
    """Choose and build the provider; raise ConfigError (2) or DependencyError (3) early.
    `resuming`: the run being resumed, whose killed attempts' leftovers the docker provider
    removes itself (so they are not reported as left for `harness clean`)."""
    environ = os.environ if env is None else env
    declared = suite.manifest.environment.dependencies
    # stubbed services run in the harness whatever the provider (deps/stubbed.py)
    deps = provided(declared)
    requested, source = requested_mode(suite, options)
    images = parse_assignments(options.images, "--image", "IMAGE")
    check_names(images, deps, "--image")
    externals = parse_assignments(options.externals, "--external", "URL")
    check_names(externals, deps, "--external")
    check_names(dict.fromkeys(options.disposable, ""), deps, "--disposable")
    if (externals or options.disposable) and requested != "external":
        raise ConfigError(
            "--external and --disposable apply to the external provider only "
            f"(this run uses {requested}, from {source})",
            hint="add --deps external",
        )

    if not deps:  # nothing to start, so nothing to choose between (and no client to load)
        why = "the suite declares no dependencies"
        if declared:
            why = "the suite declares only stubbed services, which run in the harness"
        return Selection(
            NoDependencies(), "none", requested, why, notes=[Note(f"{why}: nothing to start")]
        )

    if requested == "external":
        urls = _external_urls(deps, externals, environ)
        provider = get_provider("external", urls=urls, disposable=set(options.disposable))
        why = f"{source} asked for external"
        return Selection(provider, "external", requested, why, notes=[_chosen("external", why)])

    probe = None
    if requested in ("auto", "docker") and deps:
        from harness.deps import engine  # only a run that may use containers asks for one

        probe = await asyncio.to_thread(engine.probe)
    if requested == "auto":
        if probe is None or probe.answers:
            mode = "docker" if probe is not None else "embedded"
            why = f"auto: {probe.describe()} answers" if probe else "auto: no dependencies"
        else:
            mode, why = "embedded", f"auto: {probe.describe()}"
            _no_engine_for_containers(deps, probe)
    else:
        mode, why = requested, f"{source} asked for {requested}"
    if mode == "embedded":
        _embedded_can_run(deps, asked=requested == "embedded")
        notes = [_chosen(mode, why)]
        if images:  # said on the command line, so say that it had no effect
            notes.append(
                Note(
                    f"--image {', '.join(f'{n}={r}' for n, r in images.items())} is not used: "
                    "the embedded provider runs no image (use --deps docker for it)",
                    "warning",
                )
            )
        return Selection(get_provider("embedded"), mode, requested, why, notes=notes)

    assert probe is not None or not deps
    if probe is not None and not probe.answers:
        raise DependencyError(
            f"{source} asked for docker, but {probe.describe()}",
            hint="start the Docker engine (dockerd) or point DOCKER_HOST at one; "
            "or use --deps embedded (PostgreSQL and Redis only)",
        )
    chosen = {name: resolve_image(name, dep, images, environ) for name, dep in deps.items()}
    resolved = {name: c for name, c in chosen.items() if c is not None}
    if requested == "auto" and not _containers(deps):
        problem = await asyncio.to_thread(_unavailable, resolved)
        if problem:  # e.g. no registry reachable: PostgreSQL and Redis still run embedded
            why = f"auto: {probe.describe() if probe else 'the engine'} answers, but {problem}"
            notes = [_chosen("embedded", why)]
            notes.append(
                Note(
                    "to use containers here, build local images (images/build.sh) and pass "
                    "--image NAME=IMAGE, or pass --deps docker to make this an error",
                    "info",
                )
            )
            # the engine answers: say what killed runs left on it
            notes += await asyncio.to_thread(_leftovers, resuming)
            return Selection(get_provider("embedded"), "embedded", requested, why, notes=notes)
    _volumes_exist(suite, deps)
    from harness.deps import engine

    info = probe or engine.Engine(True, engine.address(), engine.is_local(engine.address()))
    provider = get_provider("docker", images=resolved, engine_info=info, suite_root=suite.root)
    notes = [_chosen(mode, why)]
    if probe is not None and not probe.local:
        notes.append(
            Note(f"the Docker engine at {probe.where} is remote: ports are not on 127.0.0.1")
        )
    notes += await asyncio.to_thread(_leftovers, resuming)
    return Selection(provider, mode, requested, why, resolved, notes)


def _unavailable(images: Mapping[str, ImageChoice]) -> str | None:
    from harness.deps import engine

    """Why the engine cannot have every image (neither present nor pullable), or None."""
    try:
        client = engine.client(timeout=60)
    except Exception as exc:
        return f"the engine cannot be used ({exc})"
    try:
        for name, choice in images.items():
            try:
                ensure_image(client, choice.ref, name)
            except DependencyError:
                return f"image {choice.ref} is not on it and cannot be pulled"
    finally:
        client.close()
    return None


class NoDependencies:
    """The provider of a suite that declares no dependency: it is never asked to start one."""

    name = "none"

    async def start(self, name: str, dep: Any, *, run_id: str, workdir: Any) -> Any:
        raise AssertionError(f"a suite without dependencies was asked to start {name!r}")


def _chosen(mode: str, why: str) -> Note:
    return Note(f"dependencies via {mode} ({why})")


def _external_urls(
    deps: Mapping[str, Any], cli: Mapping[str, str], environ: Mapping[str, str]
) -> dict[str, str]:
    urls: dict[str, str] = {}
    missing = []
    for name, dep in deps.items():
        suite_url = dep.external.url if getattr(dep, "external", None) is not None else ""
        url = cli.get(name) or environ.get(EXTERNAL_ENV + name.upper(), "").strip() or suite_url
        if url:
            urls[name] = url
        else:
            missing.append(name)
    if missing:
        raise ConfigError(
            f"--deps external: no URL for {', '.join(missing)}",
            hint=" or ".join(
                [f"--external {missing[0]}=URL", f"{EXTERNAL_ENV}{missing[0].upper()}=URL",
                 f"external: {{url: ...}} under dependencies.{missing[0]} in suite.yaml"]
            ),
        )  # fmt: skip
    return urls


def _containers(deps: Mapping[str, Any]) -> list[tuple[str, ContainerDependency]]:
    return [(n, d) for n, d in deps.items() if isinstance(d, ContainerDependency)]


def _no_engine_for_containers(deps: Mapping[str, Any], probe: engine.Engine) -> None:
    for name, dep in _containers(deps):
        raise DependencyError(
            f"dependency '{name}' is a container (image {dep.image}) and needs a Docker "
            f"engine, but {probe.describe()}",
            hint="start the Docker engine (dockerd) or point DOCKER_HOST at one, "
            f"or attach to a running service: --deps external --external {name}=URL",
        )


def _embedded_can_run(deps: Mapping[str, Any], asked: bool) -> None:
    """Embedded runs PostgreSQL and Redis only: asking for it with a generic container is a
    configuration error (2); falling back to it for want of an engine is one of the
    environment (3)."""
    error = ConfigError if asked else DependencyError
    for name, dep in _containers(deps):
        raise error(
            f"dependency '{name}' is a container (image {dep.image}); the embedded provider "
            "runs only PostgreSQL and Redis",
            hint=f"use --deps docker (needs a Docker engine), or --deps external "
            f"--external {name}=URL to attach to a running service",
        )


def _volumes_exist(suite: Suite, deps: Mapping[str, Any]) -> None:
    for name, dep in _containers(deps):
        for volume in dep.volumes:
            if not (suite.root / volume.host).exists():
                raise ConfigError(
                    f"dependency '{name}': volume {volume.host} does not exist "
                    f"({(suite.root / volume.host).resolve()})",
                    hint="host paths are relative to the suite folder",
                )


def _leftovers(resuming: str | None = None) -> list[Note]:
    """A warning about containers and networks that killed runs left on this engine; not
    about those of the run being resumed, which it removes before it starts its own."""
    from harness.deps import cleanup, engine

    try:
        client = engine.client(timeout=10)
        try:
            found = [item for item in cleanup.abandoned(client) if item.run_id != resuming]
        finally:
            client.close()
    except Exception:  # a listing problem must not stop a run; clean will say more
        return []
    if not found:
        return []
    runs = sorted({item.run_id for item in found})
    containers = sum(1 for item in found if item.kind == "container")
    networks = len(found) - containers
    return [
        Note(
            f"{containers} container(s) and {networks} network(s) left by killed run(s) "
            f"{', '.join(runs[:3])}{' …' if len(runs) > 3 else ''}: run `harness clean` to "
            "remove them",
            "warning",
        )
    ]
