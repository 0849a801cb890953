"""Which image each dependency runs: command line, then environment, then suite, then default.

Private registries and air-gapped sites replace images without editing a suite:
`--image postgres=registry.example/pg:16` (NAME is a dependency name or a kind; a name
wins over a kind at the same level) or `HARNESS_IMAGE_POSTGRES=...` / `HARNESS_IMAGE_DB=...`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError

#: what the docker provider runs when nothing else is said (official images)
DEFAULT_IMAGES = {"postgres": "postgres:16", "redis": "redis:7"}
ENV_PREFIX = "HARNESS_IMAGE_"
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$")


@dataclass(frozen=True)
class ImageChoice:
    ref: str
    source: str  # "--image db", "HARNESS_IMAGE_POSTGRES", "suite.yaml", "default"


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
            return _checked(ImageChoice(cli[key], f"--image {key}"))
    for key in (name, kind):
        var = ENV_PREFIX + key.upper()
        if environ.get(var):
            return _checked(ImageChoice(environ[var].strip(), var))
    suite_image = getattr(dep, "image", None)
    if suite_image:
        return _checked(ImageChoice(suite_image, "suite.yaml"))
    if kind in DEFAULT_IMAGES:
        return ImageChoice(DEFAULT_IMAGES[kind], "default")
    return None


def _checked(choice: ImageChoice) -> ImageChoice:
    if not _REF.match(choice.ref):
        raise ConfigError(
            f"{choice.source}: {choice.ref!r} is not an image reference",
            hint="e.g. postgres:16, registry.example/team/pg:16 or name@sha256:...",
        )
    return choice
