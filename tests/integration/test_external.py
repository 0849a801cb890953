"""`--deps external` against real PostgreSQL and Redis servers that the harness did not start.

A target without the disposable marker is refused before any statement that writes (the
server logs every statement, so the test reads what really ran); marked, or named with
--disposable, the run goes ahead; nothing the harness did not create is ever dropped.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from harness.deps.embedded import EmbeddedDependency, EmbeddedProvider
from harness.spec.models import PostgresDependency, RedisDependency
from tests.helpers import environ, harness

WRITES = ("create table", "insert into", "copy ", "create index", "alter table", "drop ")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, EmbeddedDependency]]:
    """A PostgreSQL and a Redis of their own, as a staging environment would be."""
    workdir = tmp_path_factory.mktemp("staging")
    provider = EmbeddedProvider()

    async def start() -> dict[str, EmbeddedDependency]:
        db = await provider.start(
            "db", PostgresDependency(kind="postgres", database="staging"), run_id="ext",
            workdir=workdir,
        )  # fmt: skip
        cache = await provider.start(
            "cache", RedisDependency(kind="redis"), run_id="ext", workdir=workdir
        )
        return {"db": db, "cache": cache}

    running = asyncio.run(start())
    with psycopg.connect(running["db"].endpoint.url, autocommit=True) as conn:
        # every statement of every later session is logged: the test reads what really ran
        conn.execute("alter database staging set log_statement = 'all'")
        conn.execute("create database fresh")
    try:
        yield running
    finally:
        for dep in running.values():
            dep.stop_sync()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """harness ARGS, deaf to any HARNESS_EXTERNAL_* of the shell running the tests."""
    return harness(*args, env=environ(drop=["HARNESS_EXTERNAL_*"]), timeout=300)


def run_external(
    reports: Path, db_url: str, cache_url: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    return cli(
        "run", "--deps", "external", "--external", f"db={db_url}", "--external",
        f"cache={cache_url}", "--reports-dir", str(reports), "--no-progress",
        "-k", "express-refund", *extra,
    )  # fmt: skip


def tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select tablename from pg_tables where schemaname = 'public' order by 1"
        ).fetchall()
    return [r[0] for r in rows]


def test_unmarked_target_is_refused_before_any_write(
    servers: dict[str, EmbeddedDependency], tmp_path: Path
) -> None:
    db, cache = servers["db"].endpoint, servers["cache"].endpoint
    before = len(servers["db"].log_tail(100_000).splitlines())
    proc = run_external(tmp_path, db.url, cache.url)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr
    assert "refusing to write to 'db'" in err and "it is not marked disposable" in err
    assert "schema files" in err and "seed data" in err and "setup rows" in err
    assert f"harness mark-disposable '{db.safe_url}'" in err and "harness_disposable" in err
    assert "--disposable db" in err and "Nothing was written." in err
    assert db.password is not None and db.password not in err
    assert tables(db.url) == []
    assert not any(tmp_path.iterdir()), "a refused configuration leaves no run folder"
    ran = "\n".join(servers["db"].log_tail(100_000).splitlines()[before:]).lower()
    assert "select version(), exists" in ran, "the read-only probe should have run"
    assert not [w for w in WRITES if w in ran], ran
    # a table of the marker's name made by hand, empty, is no mark: still refused
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("create table harness_disposable ()")
    try:
        again = run_external(tmp_path / "again", db.url, cache.url)
        assert again.returncode == 2 and "it is not marked disposable" in again.stderr
        assert tables(db.url) == ["harness_disposable"]
    finally:
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute("drop table harness_disposable")


def test_marked_target_runs_and_keeps_what_it_did_not_create(
    servers: dict[str, EmbeddedDependency], tmp_path: Path
) -> None:
    db, cache = servers["db"].endpoint, servers["cache"].endpoint
    marked = cli("mark-disposable", db.url, "--note", "test staging")
    assert marked.returncode == 0, marked.stderr
    assert "created table public.harness_disposable" in marked.stdout
    twice = cli("mark-disposable", db.url)
    assert "added a marker row to table public.harness_disposable" in twice.stdout
    assert cli("mark-disposable", cache.url).returncode == 0
    proc = run_external(tmp_path, db.url, cache.url)
    assert proc.returncode in (0, 1), proc.stderr
    assert "dependencies via external (--deps asked for external)" in proc.stderr
    assert "✓ db (postgres) ready in " in proc.stderr and "via external" in proc.stderr
    assert {"customers", "orders", "refunds", "harness_disposable"} <= set(tables(db.url))
    with psycopg.connect(db.url) as conn:
        row = conn.execute("select marked_by, note from harness_disposable").fetchone()
    assert row is not None and row[1] == "test staging"


def test_disposable_flag_names_the_target_for_one_run(
    servers: dict[str, EmbeddedDependency], tmp_path: Path
) -> None:
    fresh = servers["db"].endpoint.url.replace("/staging", "/fresh")
    cache = servers["cache"].endpoint.url
    refused = run_external(tmp_path / "a", fresh, cache)
    assert refused.returncode == 2 and "refusing to write to 'db'" in refused.stderr
    proc = run_external(tmp_path / "b", fresh, cache, "--disposable", "db")
    assert proc.returncode in (0, 1), proc.stderr
    assert "orders" in tables(fresh) and "harness_disposable" not in tables(fresh)


def test_an_external_database_loaded_before_is_an_environment_fault_not_the_suites(
    servers: dict[str, EmbeddedDependency], tmp_path: Path
) -> None:
    """The schema file's "already exists" on an external target means the database is not
    fresh (exit 3, with a run folder), while a schema file a fresh database refuses is the
    suite's mistake (exit 2, tests/integration/test_suite_mistakes.py)."""
    with psycopg.connect(servers["db"].endpoint.url, autocommit=True) as conn:
        conn.execute("create database loaded")
    loaded = servers["db"].endpoint.url.replace("/staging", "/loaded")
    cache = servers["cache"].endpoint.url
    marks = ("--disposable", "db", "--disposable", "cache")
    first = run_external(tmp_path / "a", loaded, cache, *marks)
    assert first.returncode in (0, 1), first.stderr
    again = run_external(tmp_path / "b", loaded, cache, *marks)
    assert again.returncode == 3, again.stderr
    assert "db is not a fresh database" in again.stderr


def test_external_configuration_mistakes_are_exit_2(tmp_path: Path) -> None:
    missing = cli("run", "--deps", "external", "--reports-dir", str(tmp_path), "--no-progress")
    assert missing.returncode == 2 and "no URL for db, cache" in missing.stderr
    wrong = cli(
        "run", "--deps", "external", "--external", "db=mysql://h/x", "--external",
        "cache=redis://h", "--reports-dir", str(tmp_path), "--no-progress",
    )  # fmt: skip
    assert wrong.returncode == 2 and "must start with postgresql://" in wrong.stderr
    unreachable = cli(
        "run", "--deps", "external", "--external", "db=postgresql://u:p@127.0.0.1:9/x",
        "--external", "cache=redis://127.0.0.1:9", "--reports-dir", str(tmp_path),
        "--no-progress",
    )  # fmt: skip
    assert unreachable.returncode == 3, unreachable.stderr
    assert "cannot reach the external postgres at postgresql://u:***@127.0.0.1:9/x" in (
        unreachable.stderr
    )
