"""PostgreSQL as an embedded server: data directory, postmaster, readiness, database.

Start-up is a data directory (copied from the template, else made by `initdb`), the
postmaster itself as a child on a free loopback port, then CREATE DATABASE. A data dir
copied from the template gets a fresh password (ALTER ROLE with a SCRAM verifier computed
client-side). The server stops on SIGINT (fast shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from harness.deps.base import Endpoint
from harness.deps.binaries import (
    PgBinaries,
    RunAs,
    access_problem,
    cache_base,
    find_postgres,
    shared_install_copy,
)
from harness.deps.embedded import core, pgtemplate, waits
from harness.deps.embedded.core import HOST, EmbeddedDependency, Scratch, Settings
from harness.errors import DependencyError

log = logging.getLogger(__name__)

SUPERUSER = "harness"
STOP_TIMEOUT = 10.0
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with its NUL
_INITDB_FLAGS = ("-E", "UTF8", "--no-locale", "--no-sync")
_SLOW_HINT = "the machine may be overloaded; raise the dependency timeout"


@dataclass
class _Start:
    """One server's start: which binaries, as whom, in which folder, until when."""

    pg: PgBinaries
    who: RunAs | None
    run_dir: Path
    scratch: Scratch
    deadline: float
    timeout: float

    @property
    def data(self) -> Path:
        return self.run_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "postgres.log"


async def start(
    name: str, database: str, workdir: Path, started: float, settings: Settings
) -> EmbeddedDependency:
    """A PostgreSQL server for dependency `name`, with `database` created, ready to use."""
    deadline = time.monotonic() + settings.ready_timeout
    async with core.starting() as scratch:
        pg, who = await core.runnable(
            scratch, "PostgreSQL", find_postgres, access_problem, shared_install_copy,
            settings.cache_dir,
        )  # fmt: skip
        run_dir = core.private_dir(core.reachable_base(workdir, who), f"pg-{name}-", who)
        scratch.paths.append(run_dir)
        s = _Start(pg, who, run_dir, scratch, deadline, settings.ready_timeout)
        sock_dir = _socket_dir(s)
        password = secrets.token_urlsafe(24)
        template: pgtemplate.Template | None = None
        if settings.template_cache:
            template = pgtemplate.template_for(pg, settings.cache_dir or cache_base())
        port, conn, template_state = await _data_and_postmaster(s, sock_dir, password, template)
        try:
            await _set_up(conn, s, name, database, password, template_state == "used")
        finally:
            await conn.close()
        return core.ready(
            scratch,
            Endpoint("postgres", HOST, port, SUPERUSER, password, database),
            name=name,
            found=(pg.version, str(pg.postgres), pg.source),
            who=who,
            started=started,
            extra={
                "data_dir": str(s.data),
                "socket_dir": str(sock_dir),
                "template": template_state,
            },
            stop=(signal.SIGINT, STOP_TIMEOUT),
            log_path=s.log_path,
        )
    raise AssertionError("unreachable")  # pragma: no cover - core.starting() re-raises


async def _data_and_postmaster(
    s: _Start, sock_dir: Path, password: str, template: pgtemplate.Template | None
) -> tuple[int, psycopg.AsyncConnection[Any], str]:
    """A data dir and the postmaster on it, up: (port, superuser connection, template state).

    A template whose copy does not come up is thrown away, and the data dir made by initdb.
    """
    while True:
        login, template_state, staging = await _make_data_dir(s, password, template)
        try:
            port, conn = await _run_postmaster(
                s, sock_dir, login, from_template=template_state == "used"
            )
            break
        except pgtemplate.Rejected as exc:
            assert template is not None
            log.warning("discarding the PostgreSQL template %s: %s", template.path, exc)
            await s.scratch.blocking(template.discard)
            await s.scratch.blocking(shutil.rmtree, s.data)
            template = None  # and make this one with initdb
    if staging is not None and template is not None:
        if await s.scratch.blocking(pgtemplate.commit, staging, template):
            log.info("cached a pristine data directory as %s", template.path)
        else:
            await s.scratch.blocking(shutil.rmtree, staging, True)
        s.scratch.paths.remove(staging)
    return port, conn, template_state


def _socket_dir(s: _Start) -> Path:
    """The Unix socket's folder: in the run dir, unless its path is too long for a socket."""
    sock_dir = s.run_dir / "sock"
    if len(str(sock_dir)) + len("/.s.PGSQL.65535") > _SOCKET_PATH_MAX:
        sock_dir = core.private_dir(Path("/tmp"), "hpg-", s.who)
        s.scratch.paths.append(sock_dir)
        return sock_dir
    sock_dir.mkdir(mode=0o700)
    if s.who is not None:
        os.chown(sock_dir, s.who.uid, s.who.gid)
    return sock_dir


async def _make_data_dir(
    s: _Start, password: str, template: pgtemplate.Template | None
) -> tuple[str, str, Path | None]:
    """A fresh data dir: copied from the template ("used"), else from initdb, staged to
    become the template ("created") once a server started from it proved it good.

    Returns (the superuser's password for now, template state, staging dir or None).
    """
    if template is not None and template.usable():
        login = await s.scratch.blocking(pgtemplate.copy_into, template, s.data, s.who)
        return login, "used", None
    await _initdb(s, password)
    if template is None:
        return password, "off", None
    try:
        staging = pgtemplate.new_staging(template.path.parent)
    except OSError as exc:
        log.info("not caching the initdb result as %s: %s", template.path, exc)
        return password, "off", None
    s.scratch.paths.append(staging)  # before the copy: a cancelled start removes it too
    try:
        await s.scratch.blocking(pgtemplate.stage, s.data, password, staging)
    except OSError as exc:
        log.info("not caching the initdb result as %s: %s", template.path, exc)
        await s.scratch.blocking(shutil.rmtree, staging, True)
        s.scratch.paths.remove(staging)
        return password, "off", None
    return password, "created", staging


async def _initdb(s: _Start, password: str) -> None:
    pwfile = s.run_dir / "pwfile"
    core.write_private(pwfile, password + "\n", s.who)
    init_log = s.run_dir / "initdb.log"
    argv = [
        str(s.pg.initdb), "-D", str(s.data), "-U", SUPERUSER, "--auth=scram-sha-256",
        f"--pwfile={pwfile}", *_INITDB_FLAGS,
    ]  # fmt: skip
    try:
        # TZ=UTC: the cluster's timezone, as in the official docker image (and initdb
        # skips probing the system's zoneinfo)
        env = core.child_env(s.who, TZ="UTC")
        proc = core.spawn_server(argv, log_path=init_log, env=env, cwd=s.run_dir, who=s.who)
        # stopped by SIGTERM to initdb alone: it exits at its next step, its backend sees
        # EOF and exits cleanly, releasing its shared memory (a signalled or SIGKILLed
        # bootstrap backend leaves its segments in /dev/shm and SysV)
        s.scratch.proc, s.scratch.stop_signal = proc, signal.SIGTERM
        while proc.poll() is None:
            if time.monotonic() > s.deadline:
                await s.scratch.blocking(s.scratch.kill_proc)
                raise DependencyError(
                    waits.with_tail(
                        f"initdb ({s.pg.initdb}) did not finish within {s.timeout:g}s", init_log
                    ),
                    hint=_SLOW_HINT,
                )
            await asyncio.sleep(0.01)
        s.scratch.proc = None
    finally:
        pwfile.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise DependencyError(
            waits.with_tail(
                f"initdb ({s.pg.initdb}, {s.pg.version}) failed with exit code "
                f"{proc.returncode} while creating {s.data}",
                init_log,
            ),
            hint="see initdb's output above; HARNESS_PG_BINDIR chooses other binaries",
        )


async def _run_postmaster(
    s: _Start, sock_dir: Path, password: str, *, from_template: bool
) -> tuple[int, psycopg.AsyncConnection[Any]]:
    """Start the postmaster on a free port (retrying if the port got taken), wait ready."""

    async def launch(port: int) -> tuple[psycopg.AsyncConnection[Any] | None, str]:
        argv = [
            str(s.pg.postgres), "-D", str(s.data), "-p", str(port), "-k", str(sock_dir),
            "-c", f"listen_addresses={HOST}",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=200",
            # dynamic shared memory in the data dir, not /dev/shm: removed with it, even
            # after the postmaster was killed
            "-c", "dynamic_shared_memory_type=mmap",
        ]  # fmt: skip
        proc = core.spawn_server(
            argv, log_path=s.log_path, env=core.child_env(s.who), cwd=s.run_dir, who=s.who
        )
        s.scratch.proc, s.scratch.stop_signal = proc, signal.SIGINT
        return await connect_when_ready(proc, port, password, s.deadline)

    port, conn, why = await waits.on_free_port(s.scratch, s.log_path, "PostgreSQL", launch)
    if conn is not None:
        return port, conn
    if from_template and why != "timeout":
        raise pgtemplate.Rejected(why)
    if why == "timeout":
        message = f"PostgreSQL ({s.pg.postgres}) was not ready within {s.timeout:g}s"
        hint = _SLOW_HINT
    else:
        message = f"PostgreSQL ({s.pg.postgres}, {s.pg.version}) {why}"
        hint = "see the server log above; HARNESS_PG_BINDIR chooses other binaries"
    raise DependencyError(waits.with_tail(message, s.log_path), hint=hint)


async def _set_up(
    conn: psycopg.AsyncConnection[Any],
    s: _Start,
    name: str,
    database: str,
    password: str,
    from_template: bool,
) -> None:
    """The run's own password (a template's was shared) and the suite's database."""
    try:
        if from_template:
            secret = conn.pgconn.encrypt_password(
                password.encode(), SUPERUSER.encode(), b"scram-sha-256"
            )
            await conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(SUPERUSER), sql.Literal(secret.decode())
                )
            )
        cur = await conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if await cur.fetchone() is None:
            # FILE_COPY (PostgreSQL 15+): copies files and checkpoints; with fsync off
            # that is ~3x faster than the default WAL_LOG, which writes it all twice
            create = "CREATE DATABASE {} STRATEGY FILE_COPY"
            if conn.info.server_version < 150000:
                create = "CREATE DATABASE {}"
            await conn.execute(sql.SQL(create).format(sql.Identifier(database)))
    except psycopg.Error as exc:
        raise DependencyError(
            waits.with_tail(
                f"PostgreSQL for dependency '{name}' started, but creating database "
                f"'{database}' failed: {exc}",
                s.log_path,
            ),
            hint="see the server log above",
        ) from exc


async def connect_when_ready(
    proc: subprocess.Popen[bytes], port: int, password: str, deadline: float
) -> tuple[psycopg.AsyncConnection[Any] | None, str]:
    """A superuser connection to `postgres` once the server takes one; else (None, why)."""
    while True:
        why = waits.gone_or_late(proc, deadline)
        if why is not None:
            return None, why
        try:
            conn = await waits.unless_exited(
                proc,
                psycopg.AsyncConnection.connect(
                    host=HOST,
                    port=port,
                    user=SUPERUSER,
                    password=password,
                    dbname="postgres",
                    connect_timeout=10,
                    autocommit=True,
                ),
                deadline,
            )
        except psycopg.OperationalError as exc:
            # refused / "the database system is starting up": not yet
            if "password authentication failed" in str(exc) and not await waits.exits_soon(proc):
                return None, f"rejected the password: {exc}"
            await asyncio.sleep(0.01)
            continue
        if conn is not None:
            return conn, ""
