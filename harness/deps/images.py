"""Which image each dependency runs: command line, then environment, then suite, then default.

Private registries and air-gapped sites replace images without editing a suite:
`--image postgres=registry.example/pg:16` (NAME is a dependency name or a kind; a name
wins over a kind at the same level) or `HARNESS_IMAGE_POSTGRES=...` / `HARNESS_IMAGE_DB=...`.
`ensure_image` then makes sure the engine has it, pulling it if need be, and says what to
do when it cannot.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError, DependencyError

if TYPE_CHECKING:
    import docker

#: what the docker provider runs when nothing else is said (official images)
DEFAULT_IMAGES = {"postgres": "postgres:16", "redis": "redis:7"}
ENV_PREFIX = "HARNESS_IMAGE_"
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$")


@dataclass(frozen=True)
class ImageChoice:
    ref: str
    source: str  # "--image db", "HARNESS_IMAGE_POSTGRES", "suite.yaml", "default"
    kind: str = ""  # the dependency's kind: a resume may name the image by it


def parse_assignments(values: Iterable[str], option: str, what: str) -> dict[str, str]:
    """`NAME=VALUE` pairs from a repeatable option; a malformed one is a ConfigError."""
    out: dict[str, str] = {}
    for raw in values:
        name, sep, value = raw.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ConfigError(
                f"{option} {raw!r}: expected NAME={what}",
                hint=f"e.g. {option} db={'postgres:16' if what == 'IMAGE' else 'postgresql://...'}",
            )
        out[name] = value
    return out


def check_names(given: Mapping[str, str], deps: Mapping[str, Any], option: str) -> None:
    """Every NAME must be a dependency name (or, for images, a kind the suite uses)."""
    kinds = {getattr(d, "kind", "") for d in deps.values()}
    allowed = set(deps) | (kinds if option == "--image" else set())
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ConfigError(
            f"{option} names {', '.join(unknown)}, which this suite does not have",
            hint=f"use one of: {', '.join(sorted(allowed)) or '(the suite has no dependencies)'}",
        )


def resolve_image(
    name: str,
    dep: Any,
    cli: Mapping[str, str],
    env: Mapping[str, str] | None = None,
) -> ImageChoice | None:
    """The image for dependency `name`, or None when its kind has no default and none is set."""
    environ = os.environ if env is None else env
    kind = str(getattr(dep, "kind", ""))
    for key in (name, kind):
        if key in cli:
            return _checked(ImageChoice(cli[key], f"--image {key}", kind))
    for key in (name, kind):
        var = ENV_PREFIX + key.upper()
        if environ.get(var):
            return _checked(ImageChoice(environ[var].strip(), var, kind))
    suite_image = getattr(dep, "image", None)
    if suite_image:
        return _checked(ImageChoice(suite_image, "suite.yaml", kind))
    if kind in DEFAULT_IMAGES:
        return ImageChoice(DEFAULT_IMAGES[kind], "default", kind)
    return None


def _checked(choice: ImageChoice) -> ImageChoice:
    if not _REF.match(choice.ref):
        raise ConfigError(
            f"{choice.source}: {choice.ref!r} is not an image reference",
            hint="e.g. postgres:16, registry.example/team/pg:16 or name@sha256:...",
        )
    return choice


@dataclass(frozen=True)
class ImageFacts:
    ref: str
    digest: str  # the registry digest when known, else the local image id
    version: str  # the image's org.opencontainers.image.version label, if any
    pull_seconds: float


def ensure_image(client: docker.DockerClient, ref: str, name: str) -> ImageFacts:
    """The image, pulled if this engine does not have it (blocking; run it in a thread)."""
    import docker.errors  # only where an engine is used: a run without one never loads it
    import requests.exceptions

    api_errors = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)
    started = time.perf_counter()
    pulled = 0.0
    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        try:
            image = client.images.pull(ref)
        except api_errors as exc:
            raise DependencyError(
                f"dependency '{name}': image {ref} is not on this Docker engine and pulling it "
                f"failed: {str(exc).strip()[:300]}",
                hint=f"choose a reachable image (--image {name}=REF, HARNESS_IMAGE_"
                f"{name.upper()}=REF or image: in suite.yaml), build one locally "
                "(images/build.sh builds PostgreSQL and Redis from Debian packages), "
                "or use --deps embedded",
            ) from exc
        pulled = time.perf_counter() - started
    attrs = image.attrs or {}
    digests = attrs.get("RepoDigests") or []
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    return ImageFacts(
        ref=ref,
        # a registry digest pins the image anywhere; a local image has only its id, said so
        digest=str(digests[0]) if digests else (f"image id {image.id}" if image.id else ""),
        version=str(labels.get("org.opencontainers.image.version", "")),
        pull_seconds=pulled,
    )
