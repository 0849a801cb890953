"""The embedded provider: real PostgreSQL and Redis servers as child processes of the harness.

Each dependency gets its own temporary directory under the run's workdir, a free loopback
port and a random password; the server is a direct child (the postmaster itself, not
pg_ctl) with a parent-death signal, so it cannot outlive the harness. `stop()` shuts it
down (PostgreSQL: SIGINT = fast shutdown; Redis: SIGTERM), SIGKILLs what is left, and
removes the directory. A start that fails or is cancelled half-way undoes itself the same way.

PostgreSQL start-up is `initdb` + postmaster start + CREATE DATABASE. initdb writes ~40 MB
and costs 0.45 s on an idle disk (1.2 s and more under I/O load), so a pristine initdb'd
data directory is kept per binary install as a template (`<cache>/harness-pgtemplate-*`,
owned by the harness user, mode 700); later starts copy it (a sparse copy, 0.1-0.5 s), start
the server, and replace the template's password with a fresh one (ALTER ROLE with a SCRAM
verifier computed client-side). HARNESS_PG_TEMPLATE=0 turns the cache off.

When the harness runs as root, both servers run as an unprivileged account (see
binaries.pg_run_as), with its own uid, gid and groups.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import redis.asyncio
import redis.exceptions
from psycopg import sql

from harness import procs
from harness.deps.base import DependencyInfo, Endpoint
from harness.deps.binaries import (
    SEARCH,
    PgBinaries,
    RunAs,
    access_problem,
    cache_base,
    find_postgres,
    find_redis,
    install_fingerprint,
    path_problem,
    pg_run_as,
    shared_install_copy,
    shared_redis_copy,
    trusted_dir,
)
from harness.errors import DependencyError

log = logging.getLogger(__name__)

T = TypeVar("T")

HOST = "127.0.0.1"
PG_SUPERUSER = "harness"
READY_TIMEOUT = 30.0
PG_STOP_TIMEOUT = 10.0
REDIS_STOP_TIMEOUT = 5.0
PORT_ATTEMPTS = 5
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with its NUL
_PORT_TAKEN = "Address already in use"
_INITDB_FLAGS = ("-E", "UTF8", "--no-locale", "--no-sync")
_TEMPLATE_FORMAT = "1"  # bump when the initdb flags or the template layout change

#: Blocking work (binary probes, copies, stops) runs here, never on the event loop.
#: Servers are spawned on the loop's own thread instead: a parent-death signal fires when
#: the *thread* that forked the child exits, and pool threads come and go.
_BLOCKING = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="embedded")


# --------------------------------------------------------------------------- the running server


@dataclass(eq=False)
class EmbeddedDependency:
    """A server started by the embedded provider (a RunningDependency)."""

    name: str
    endpoint: Endpoint
    info: DependencyInfo
    writable: bool = True
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _stop_signal: int = field(default=signal.SIGTERM, repr=False)
    _stop_timeout: float = field(default=5.0, repr=False)
    _log_path: Path | None = field(default=None, repr=False)
    _paths: list[Path] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stopped: bool = field(default=False, repr=False)
    _final_log: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _LIVE.add(self)

    async def stop(self) -> None:
        """Shut the server down and remove its directory; safe to call twice or concurrently.

        The work runs in a thread that finishes even if this coroutine is cancelled.
        """
        if self._stopped:
            return
        await asyncio.shield(asyncio.wrap_future(_BLOCKING.submit(self.stop_sync)))

    def stop_sync(self) -> None:
        """The blocking stop (also used at interpreter exit)."""
        with self._lock:
            if self._stopped:
                return
            if self._proc is not None:
                _stop_server(self._proc, self._stop_signal, self._stop_timeout)
            if self._log_path is not None:
                self._final_log = procs.tail(self._log_path, lines=200)
            _remove_paths(self._paths)
            self._stopped = True
            _LIVE.discard(self)
            log.debug("stopped %s (%s)", self.name, self.info.kind)

    def log_tail(self, lines: int = 30) -> str:
        if self._final_log is not None:
            return "\n".join(self._final_log.splitlines()[-lines:])
        return procs.tail(self._log_path, lines=lines) if self._log_path else ""

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid


#: Started and not yet stopped (strong references: a dropped handle is still stopped at exit).
_LIVE: set[EmbeddedDependency] = set()


@atexit.register
def _stop_all_at_exit() -> None:
    """Servers still running when the interpreter exits (a forgotten stop) go down with it."""
    for dep in list(_LIVE):
        with contextlib.suppress(Exception):
            dep.stop_sync()


def _stop_server(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    """Signal the server itself, not its group (PostgreSQL's children take orders from the
    postmaster, initdb's backend from initdb), wait, then SIGKILL the whole process group
    so no child is left behind."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    procs.stop_process(proc, sig=signal.SIGKILL, timeout=5.0)


def _remove_paths(paths: Sequence[Path]) -> None:
    for path in paths:
        if path.exists():
            shutil.rmtree(path, onerror=_warn_not_removed)


def _warn_not_removed(func: Callable[..., Any], path: str, exc_info: Any) -> None:
    log.warning("could not remove %s: %s", path, exc_info[1])


# --------------------------------------------------------------------------- a start in progress


class _Scratch:
    """What a start has created so far, so that a failure or cancellation can undo it."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.stop_signal = signal.SIGTERM
        self.paths: list[Path] = []
        self.pending: set[concurrent.futures.Future[Any]] = set()

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn in a thread; a cancelled start waits for it before it removes anything."""
        fut = _BLOCKING.submit(fn, *args)
        self.pending.add(fut)
        try:
            return await asyncio.wrap_future(fut)
        finally:
            if fut.done():
                self.pending.discard(fut)

    def kill_proc(self) -> None:
        if self.proc is not None:
            _stop_server(self.proc, self.stop_signal, 5.0)
            self.proc = None

    def undo_sync(self) -> None:
        concurrent.futures.wait(list(self.pending), timeout=120)
        self.kill_proc()
        _remove_paths(list(reversed(self.paths)))

    async def undo(self) -> None:
        """Undo in a thread that completes even if we are cancelled again meanwhile."""
        with contextlib.suppress(BaseException):
            await asyncio.shield(asyncio.wrap_future(_BLOCKING.submit(self.undo_sync)))


def _log_since(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(256_000).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _with_tail(message: str, log_path: Path, lines: int = 30) -> str:
    tail = procs.tail(log_path, lines=lines).strip()
    return f"{message}\n--- last lines of the server log ---\n{tail or '(empty)'}"


def _child_env(who: RunAs | None, **extra: str) -> dict[str, str]:
    """The server's environment: ours without PG* variables (PGDATA, PGPORT... would steer it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    if who is not None:
        env.update(HOME=who.home, USER=who.name, LOGNAME=who.name)
    env.update(extra)
    return env


def _spawn(
    argv: Sequence[str], *, log_path: Path, env: dict[str, str], cwd: Path, who: RunAs | None
) -> subprocess.Popen[bytes]:
    """procs.spawn, or as `who` with its own gid and groups (Popen's user= alone keeps root's)."""
    if who is None:
        return procs.spawn(argv, log_path=log_path, env=env, cwd=cwd)
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            user=who.uid,
            group=who.gid,
            extra_groups=sorted(who.groups),
            start_new_session=True,
            # runs after the uid switch, which would otherwise clear the parent-death signal
            preexec_fn=procs.die_with_parent(signal.SIGKILL),
        )


def _reachable_base(workdir: Path, who: RunAs | None) -> Path:
    """Where the server's directory goes: the workdir, unless `who` cannot enter it."""
    problem = None if who is None else path_problem(workdir, who, SEARCH)
    if who is None or problem is None:
        return workdir
    base = Path(tempfile.gettempdir())
    log.info(
        "%s cannot enter %s (%s); the server's files go to %s", who.name, workdir, problem, base
    )
    return base


def _chown_tree(root: Path, who: RunAs | None) -> None:
    if who is None:
        return
    os.chown(root, who.uid, who.gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            os.chown(os.path.join(dirpath, name), who.uid, who.gid, follow_symlinks=False)


def _private_dir(parent: Path, prefix: str, who: RunAs | None) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    if who is not None:
        os.chown(path, who.uid, who.gid)
    return path


def _write_private(path: Path, text: str, who: RunAs | None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    if who is not None:
        os.chown(path, who.uid, who.gid)


# --------------------------------------------------------------------------- template cache


@dataclass(frozen=True)
class _Template:
    path: Path  # <cache>/harness-pgtemplate-<version>-<hash>/ holding data/ and password

    @property
    def data(self) -> Path:
        return self.path / "data"

    def usable(self) -> bool:
        return (
            trusted_dir(self.path, os.geteuid())
            and self.path.stat().st_mode & 0o077 == 0
            and (self.data / "PG_VERSION").is_file()
            and (self.path / "password").is_file()
            and not (self.data / "postmaster.pid").exists()
        )

    def password(self) -> str:
        return (self.path / "password").read_text().strip()

    def discard(self) -> None:
        trash = self.path.with_name(f".trash-{self.path.name}-{secrets.token_hex(4)}")
        with contextlib.suppress(OSError):
            os.rename(self.path, trash)
            shutil.rmtree(trash, ignore_errors=True)


def _template_for(pg: PgBinaries, base: Path) -> _Template:
    version = pg.version.split()[-1]
    key = f"{install_fingerprint(pg)}-v{_TEMPLATE_FORMAT}"  # install + layout version
    return _Template(base / f"harness-pgtemplate-{version}-{key}-u{os.geteuid()}")


def _new_staging(base: Path) -> Path:
    """An empty private dir next to the template, to be filled and renamed into place."""
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".harness-pgtemplate-", dir=base))


def _stage_template(data: Path, password: str, staging: Path) -> None:
    """Copy a fresh (never started) data dir and its password into the staging dir."""
    shutil.copytree(data, staging / "data", symlinks=True, copy_function=_copy_sparse)
    _write_private(staging / "password", password, None)


def _commit_template(staging: Path, template: _Template) -> bool:
    try:
        os.rename(staging, template.path)
    except OSError:
        return False  # another run got there first (or the cache is read-only): keep theirs
    return True


_ZEROS = bytes(1 << 16)


def _copy_sparse(src: str, dst: str, *, follow_symlinks: bool = True) -> str:
    """shutil.copy2 that leaves holes for all-zero 64 KiB runs (most of the fresh WAL
    segment): ~25% fewer bytes to write for a fresh data directory."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        size = os.fstat(fin.fileno()).st_size
        while chunk := fin.read(len(_ZEROS)):
            if chunk == _ZEROS[: len(chunk)]:
                fout.seek(len(chunk), os.SEEK_CUR)
            else:
                fout.write(chunk)
        fout.truncate(size)
    shutil.copystat(src, dst)
    return dst


def _copy_template(template: _Template, data: Path, who: RunAs | None) -> str:
    shutil.copytree(template.data, data, symlinks=True, copy_function=_copy_sparse)
    _chown_tree(data, who)
    return template.password()


# --------------------------------------------------------------------------- the provider


class _TemplateRejected(Exception):
    """A data dir copied from the template did not come up: throw the template away."""


class EmbeddedProvider:
    """Runs PostgreSQL and Redis as local child processes (see the module doc)."""

    name = "embedded"

    def __init__(
        self,
        *,
        ready_timeout: float = READY_TIMEOUT,
        template_cache: bool | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.ready_timeout = ready_timeout
        if template_cache is None:
            template_cache = os.environ.get("HARNESS_PG_TEMPLATE", "1") not in ("0", "false", "no")
        self.template_cache = template_cache
        self.cache_dir = cache_dir

    async def start(self, name: str, dep: Any, *, run_id: str, workdir: Path) -> EmbeddedDependency:
        kind = getattr(dep, "kind", None)
        started = time.perf_counter()
        workdir = Path(workdir).absolute()  # servers run with their own cwd
        workdir.mkdir(parents=True, exist_ok=True)
        if kind == "postgres":
            database = str(getattr(dep, "database", None) or "postgres")
            return await self._start_postgres(name, database, workdir, started)
        if kind == "redis":
            return await self._start_redis(name, workdir, started)
        raise DependencyError(
            f"dependency '{name}': the embedded provider cannot run kind {kind!r}",
            hint="use kind postgres or redis, or another provider (docker, external)",
        )

    # ------------------------------------------------------------------ PostgreSQL

    async def _start_postgres(
        self, name: str, database: str, workdir: Path, started: float
    ) -> EmbeddedDependency:
        deadline = time.monotonic() + self.ready_timeout
        scratch = _Scratch()
        try:
            pg = await scratch.blocking(find_postgres)
            who = pg_run_as()
            if who is not None:
                problem = await scratch.blocking(access_problem, pg, who)
                if problem:
                    log.info("PostgreSQL must run as %s, who cannot use it: %s", who.name, problem)
                    pg = await scratch.blocking(shared_install_copy, pg, who, self.cache_dir)
            run_dir = _private_dir(_reachable_base(workdir, who), f"pg-{name}-", who)
            scratch.paths.append(run_dir)
            sock_dir = run_dir / "sock"
            if len(str(sock_dir)) + len("/.s.PGSQL.65535") > _SOCKET_PATH_MAX:
                sock_dir = _private_dir(Path("/tmp"), "hpg-", who)
                scratch.paths.append(sock_dir)
            else:
                sock_dir.mkdir(mode=0o700)
                if who is not None:
                    os.chown(sock_dir, who.uid, who.gid)
            log_path = run_dir / "postgres.log"
            data = run_dir / "data"
            password = secrets.token_urlsafe(24)

            template: _Template | None = None
            if self.template_cache:
                template = _template_for(pg, self.cache_dir or cache_base())
            while True:
                login, template_state, staging = await self._make_data_dir(
                    pg, who, run_dir, data, password, template, scratch, deadline
                )
                try:
                    port, conn = await self._run_postmaster(
                        pg, who, data, sock_dir, run_dir, log_path, login, scratch, deadline,
                        from_template=template_state == "used",
                    )  # fmt: skip
                    break
                except _TemplateRejected as exc:
                    assert template is not None
                    log.warning("discarding the PostgreSQL template %s: %s", template.path, exc)
                    await scratch.blocking(template.discard)
                    await scratch.blocking(shutil.rmtree, data)
                    template = None  # and make this one with initdb
            if staging is not None and template is not None:
                if await scratch.blocking(_commit_template, staging, template):
                    log.info("cached a pristine data directory as %s", template.path)
                else:
                    await scratch.blocking(shutil.rmtree, staging, True)
                scratch.paths.remove(staging)
            try:
                if template_state == "used":
                    secret = conn.pgconn.encrypt_password(
                        password.encode(), PG_SUPERUSER.encode(), b"scram-sha-256"
                    )
                    await conn.execute(
                        sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                            sql.Identifier(PG_SUPERUSER), sql.Literal(secret.decode())
                        )
                    )
                cur = await conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
                )
                if await cur.fetchone() is None:
                    # FILE_COPY (PostgreSQL 15+): copies files and checkpoints; with fsync off
                    # that is ~3x faster than the default WAL_LOG, which writes it all twice
                    create = "CREATE DATABASE {} STRATEGY FILE_COPY"
                    if conn.info.server_version < 150000:
                        create = "CREATE DATABASE {}"
                    await conn.execute(sql.SQL(create).format(sql.Identifier(database)))
            except psycopg.Error as exc:
                raise DependencyError(
                    _with_tail(
                        f"PostgreSQL for dependency '{name}' started, but creating database "
                        f"'{database}' failed: {exc}",
                        log_path,
                    ),
                    hint="see the server log above",
                ) from exc
            finally:
                await conn.close()
            ready = time.perf_counter() - started
            assert scratch.proc is not None
            running = EmbeddedDependency(
                name=name,
                endpoint=Endpoint(
                    kind="postgres",
                    host=HOST,
                    port=port,
                    user=PG_SUPERUSER,
                    password=password,
                    database=database,
                ),
                info=DependencyInfo(
                    name=name,
                    kind="postgres",
                    provider=self.name,
                    version=pg.version,
                    source=str(pg.postgres),
                    ready_seconds=ready,
                    extra={
                        "pid": scratch.proc.pid,
                        "data_dir": str(data),
                        "socket_dir": str(sock_dir),
                        "run_as": (who or RunAs.current()).name,
                        "found_by": pg.source,
                        "template": template_state,
                    },
                ),
                _proc=scratch.proc,
                _stop_signal=signal.SIGINT,
                _stop_timeout=PG_STOP_TIMEOUT,
                _log_path=log_path,
                _paths=list(reversed(scratch.paths)),
            )
            log.info(
                "%s for '%s' ready on %s:%d in %.2fs (pid %d, template %s)",
                pg.version,
                name,
                HOST,
                port,
                ready,
                scratch.proc.pid,
                template_state,
            )
            return running
        except BaseException:
            await scratch.undo()
            raise

    async def _make_data_dir(
        self,
        pg: PgBinaries,
        who: RunAs | None,
        run_dir: Path,
        data: Path,
        password: str,
        template: _Template | None,
        scratch: _Scratch,
        deadline: float,
    ) -> tuple[str, str, Path | None]:
        """A fresh data dir: copied from the template ("used"), else from initdb, staged to
        become the template ("created") once a server started from it proved it good.

        Returns (the superuser's password for now, template state, staging dir or None).
        """
        if template is not None and template.usable():
            login = await scratch.blocking(_copy_template, template, data, who)
            return login, "used", None
        await self._initdb(pg, who, run_dir, data, password, scratch, deadline)
        if template is None:
            return password, "off", None
        try:
            staging = _new_staging(template.path.parent)
        except OSError as exc:
            log.info("not caching the initdb result as %s: %s", template.path, exc)
            return password, "off", None
        scratch.paths.append(staging)  # before the copy: a cancelled start removes it too
        try:
            await scratch.blocking(_stage_template, data, password, staging)
        except OSError as exc:
            log.info("not caching the initdb result as %s: %s", template.path, exc)
            await scratch.blocking(shutil.rmtree, staging, True)
            scratch.paths.remove(staging)
            return password, "off", None
        return password, "created", staging

    async def _initdb(
        self,
        pg: PgBinaries,
        who: RunAs | None,
        run_dir: Path,
        data: Path,
        password: str,
        scratch: _Scratch,
        deadline: float,
    ) -> None:
        pwfile = run_dir / "pwfile"
        _write_private(pwfile, password + "\n", who)
        init_log = run_dir / "initdb.log"
        argv = [
            str(pg.initdb), "-D", str(data), "-U", PG_SUPERUSER, "--auth=scram-sha-256",
            f"--pwfile={pwfile}", *_INITDB_FLAGS,
        ]  # fmt: skip
        try:
            # TZ=UTC: the cluster's timezone, as in the official docker image (and initdb
            # skips probing the system's zoneinfo)
            proc = _spawn(
                argv, log_path=init_log, env=_child_env(who, TZ="UTC"), cwd=run_dir, who=who
            )
            # stopped by SIGTERM to initdb alone: it exits at its next step, its backend sees
            # EOF and exits cleanly, releasing its shared memory (a signalled or SIGKILLed
            # bootstrap backend leaves its segments in /dev/shm and SysV)
            scratch.proc, scratch.stop_signal = proc, signal.SIGTERM
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    await scratch.blocking(scratch.kill_proc)
                    raise DependencyError(
                        _with_tail(
                            f"initdb ({pg.initdb}) did not finish within {self.ready_timeout:g}s",
                            init_log,
                        ),
                        hint="the machine may be overloaded; raise the dependency timeout",
                    )
                await asyncio.sleep(0.01)
            scratch.proc = None
        finally:
            pwfile.unlink(missing_ok=True)
        if proc.returncode != 0:
            raise DependencyError(
                _with_tail(
                    f"initdb ({pg.initdb}, {pg.version}) failed with exit code "
                    f"{proc.returncode} while creating {data}",
                    init_log,
                ),
                hint="see initdb's output above; HARNESS_PG_BINDIR chooses other binaries",
            )

    async def _run_postmaster(
        self,
        pg: PgBinaries,
        who: RunAs | None,
        data: Path,
        sock_dir: Path,
        run_dir: Path,
        log_path: Path,
        password: str,
        scratch: _Scratch,
        deadline: float,
        *,
        from_template: bool,
    ) -> tuple[int, psycopg.AsyncConnection[Any]]:
        """Start the postmaster on a free port (retrying if the port got taken), wait ready."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            port = procs.free_port(HOST)
            offset = _log_size(log_path)
            argv = [
                str(pg.postgres), "-D", str(data), "-p", str(port), "-k", str(sock_dir),
                "-c", f"listen_addresses={HOST}",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=200",
                # dynamic shared memory in the data dir, not /dev/shm: removed with it, even
                # after the postmaster was killed
                "-c", "dynamic_shared_memory_type=mmap",
            ]  # fmt: skip
            proc = _spawn(argv, log_path=log_path, env=_child_env(who), cwd=run_dir, who=who)
            scratch.proc, scratch.stop_signal = proc, signal.SIGINT
            conn, why = await _pg_connect_when_ready(proc, port, password, deadline)
            if conn is not None:
                return port, conn
            await scratch.blocking(scratch.kill_proc)
            if _PORT_TAKEN in _log_since(log_path, offset) and attempt < PORT_ATTEMPTS:
                log.info("port %d was taken before PostgreSQL bound it; retrying", port)
                continue
            if from_template and why != "timeout":
                raise _TemplateRejected(why)
            if why == "timeout":
                message = f"PostgreSQL ({pg.postgres}) was not ready within {self.ready_timeout:g}s"
                hint = "the machine may be overloaded; raise the dependency timeout"
            else:
                message = f"PostgreSQL ({pg.postgres}, {pg.version}) {why}"
                hint = "see the server log above; HARNESS_PG_BINDIR chooses other binaries"
            raise DependencyError(_with_tail(message, log_path), hint=hint)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ Redis

    async def _start_redis(self, name: str, workdir: Path, started: float) -> EmbeddedDependency:
        deadline = time.monotonic() + self.ready_timeout
        scratch = _Scratch()
        try:
            rb = await scratch.blocking(find_redis)
            who = pg_run_as()
            if who is not None:
                problem = path_problem(rb.path, who)
                if problem:
                    log.info(
                        "redis-server must run as %s, who cannot use it: %s", who.name, problem
                    )
                    rb = await scratch.blocking(shared_redis_copy, rb, who, self.cache_dir)
            run_dir = _private_dir(_reachable_base(workdir, who), f"redis-{name}-", who)
            scratch.paths.append(run_dir)
            log_path = run_dir / "redis.log"
            conf = run_dir / "redis.conf"
            password = secrets.token_urlsafe(24)
            for attempt in range(1, PORT_ATTEMPTS + 1):
                port = procs.free_port(HOST)
                conf.unlink(missing_ok=True)
                # a config file, not argv: the password stays out of `ps`
                _write_private(conf, _redis_conf(port, run_dir, password), who)
                offset = _log_size(log_path)
                proc = _spawn(
                    [str(rb.path), str(conf)],
                    log_path=log_path,
                    env=_child_env(who),
                    cwd=run_dir,
                    who=who,
                )
                scratch.proc, scratch.stop_signal = proc, signal.SIGTERM
                why = await _redis_wait_ready(proc, port, password, deadline)
                if why is None:
                    break
                await scratch.blocking(scratch.kill_proc)
                if _PORT_TAKEN in _log_since(log_path, offset) and attempt < PORT_ATTEMPTS:
                    log.info("port %d was taken before redis-server bound it; retrying", port)
                    continue
                if why == "timeout":
                    message = (
                        f"redis-server ({rb.path}) was not ready within {self.ready_timeout:g}s"
                    )
                else:
                    message = f"redis-server ({rb.path}, {rb.version}) {why}"
                raise DependencyError(
                    _with_tail(message, log_path),
                    hint="see the server log above; HARNESS_REDIS_SERVER chooses another binary",
                )
            ready = time.perf_counter() - started
            assert scratch.proc is not None
            running = EmbeddedDependency(
                name=name,
                endpoint=Endpoint(
                    kind="redis", host=HOST, port=port, password=password, database="0"
                ),
                info=DependencyInfo(
                    name=name,
                    kind="redis",
                    provider=self.name,
                    version=rb.version,
                    source=str(rb.path),
                    ready_seconds=ready,
                    extra={
                        "pid": scratch.proc.pid,
                        "data_dir": str(run_dir),
                        "run_as": (who or RunAs.current()).name,
                        "found_by": rb.source,
                    },
                ),
                _proc=scratch.proc,
                _stop_signal=signal.SIGTERM,
                _stop_timeout=REDIS_STOP_TIMEOUT,
                _log_path=log_path,
                _paths=[run_dir],
            )
            log.info(
                "%s for '%s' ready on %s:%d in %.2fs (pid %d)",
                rb.version,
                name,
                HOST,
                port,
                ready,
                scratch.proc.pid,
            )
            return running
        except BaseException:
            await scratch.undo()
            raise


# --------------------------------------------------------------------------- readiness


async def _unless_exited(
    proc: subprocess.Popen[bytes], attempt: Awaitable[T], deadline: float
) -> T | None:
    """Await one connection attempt, abandoning it (None) when the server exits or time is up.

    A port taken by a foreign listener that never answers would otherwise hold us for the
    whole connect timeout after our server already died of "address already in use".
    """
    task = asyncio.ensure_future(attempt)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.02)
            if done:
                return task.result()
            if proc.poll() is not None or time.monotonic() > deadline:
                return None
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def _exits_soon(proc: subprocess.Popen[bytes], within: float = 0.5) -> bool:
    """After a rejection: was that our dying server's port owner, not our server?"""
    end = time.monotonic() + within
    while proc.poll() is None and time.monotonic() < end:
        await asyncio.sleep(0.01)
    return proc.poll() is not None


async def _pg_connect_when_ready(
    proc: subprocess.Popen[bytes], port: int, password: str, deadline: float
) -> tuple[psycopg.AsyncConnection[Any] | None, str]:
    """A superuser connection to `postgres` once the server takes one; else (None, why)."""
    while True:
        if proc.poll() is not None:
            return None, f"exited during start-up with exit code {proc.returncode}"
        if time.monotonic() > deadline:
            return None, "timeout"
        try:
            conn = await _unless_exited(
                proc,
                psycopg.AsyncConnection.connect(
                    host=HOST,
                    port=port,
                    user=PG_SUPERUSER,
                    password=password,
                    dbname="postgres",
                    connect_timeout=10,
                    autocommit=True,
                ),
                deadline,
            )
        except psycopg.OperationalError as exc:
            # refused / "the database system is starting up": not yet
            if "password authentication failed" in str(exc) and not await _exits_soon(proc):
                return None, f"rejected the password: {exc}"
            await asyncio.sleep(0.01)
            continue
        if conn is not None:
            return conn, ""


async def _redis_ping(port: int, password: str) -> bool:
    client = redis.asyncio.Redis(
        host=HOST, port=port, password=password, socket_connect_timeout=5, socket_timeout=5
    )
    try:
        return bool(await client.ping())
    finally:
        await client.aclose()


async def _redis_wait_ready(
    proc: subprocess.Popen[bytes], port: int, password: str, deadline: float
) -> str | None:
    """None once PING (authenticated) answers; else why not."""
    while True:
        if proc.poll() is not None:
            return f"exited during start-up with exit code {proc.returncode}"
        if time.monotonic() > deadline:
            return "timeout"
        try:
            if await _unless_exited(proc, _redis_ping(port, password), deadline):
                return None
        except (
            redis.exceptions.BusyLoadingError,
            redis.exceptions.TimeoutError,
            OSError,
        ):
            pass
        except redis.exceptions.ConnectionError as exc:
            if isinstance(exc, redis.exceptions.AuthenticationError) and not await _exits_soon(
                proc
            ):
                return f"rejected the password: {exc}"
        except redis.exceptions.RedisError as exc:
            if not await _exits_soon(proc):
                return f"answered PING with an error: {exc}"
        await asyncio.sleep(0.01)


def _redis_conf(port: int, directory: Path, password: str) -> str:
    quoted_dir = str(directory).replace("\\", "\\\\").replace('"', '\\"')
    return "\n".join(
        [
            f"port {port}",
            f"bind {HOST}",
            "protected-mode yes",
            'save ""',
            "appendonly no",
            "daemonize no",
            f'dir "{quoted_dir}"',
            f"requirepass {password}",
            'logfile ""',
            "",
        ]
    )


__all__ = ["EmbeddedDependency", "EmbeddedProvider"]
