"""A suite's dependencies brought up together, loaded with fixtures, and always torn down."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from harness.check.state import Targets
from harness.core.events import DependencyReady, Emit, Note
from harness.deps import stubbed
from harness.deps.aio import finish
from harness.deps.base import DependencyInfo, Endpoint, Provider, RunningDependency
from harness.errors import ConfigError, DependencyError, HarnessError
from harness.redact import Redactor
from harness.runlog.owner import Owner
from harness.spec.models import PostgresDependency
from harness.spec.suite import Suite

if TYPE_CHECKING:
    from harness.core.watch import Watcher
    from harness.deps.clients import Postgres
    from harness.deps.kvclient import Redis
    from harness.generate.identity import UniqueKey


def scratch_root() -> str | None:
    """Where servers keep their data: HARNESS_WORKDIR, else RAM-backed /dev/shm when it has
    room (a data directory is ~1,000 small files; measured 4x faster to be ready there),
    else the system temp directory."""
    chosen = os.environ.get("HARNESS_WORKDIR")
    if chosen:
        if not Path(chosen).is_dir() or not _can_create_in(chosen):
            raise ConfigError(
                f"HARNESS_WORKDIR={chosen} is not a writable folder",
                hint="point it at an existing folder, or unset it to use /dev/shm or the temp dir",
            )
        return chosen
    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 1 << 30:
            return str(shm)
    except OSError:
        pass
    return None


def _can_create_in(folder: str) -> bool:
    """Really try: root passes os.access everywhere, /proc included."""
    try:
        Path(tempfile.mkdtemp(prefix="harness-probe-", dir=folder)).rmdir()
    except OSError:
        return False
    return True


OWNER_FILE = "harness-owner"
PREFIX = "harness-"
#: a data folder is made under this name, its owner written, and only then renamed to
#: harness-*: no harness-* folder ever lacks its owner, so none is judged before it has one
STAGING = ".harness-new-"
#: seconds a staging folder may stand (it stands for microseconds): older, it is abandoned
STAGING_GRACE = 600.0


def make_workdir(root: str | None, run_id: str) -> Path:
    """This run's new data folder under root, owned by this process from the moment it is
    there: made under a staging name with its owner file, then renamed (atomic)."""
    parent = Path(root or tempfile.gettempdir())
    owner = Owner.current().line()
    while True:
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING}{run_id}-", dir=parent))
        try:
            os.chmod(staging, 0o755)  # unprivileged server users must reach their data dirs
            (staging / OWNER_FILE).write_text(owner)
            # onto an existing folder, the rename fails: every harness-* folder holds a file
            folder = parent / (PREFIX + staging.name.removeprefix(STAGING))
            os.rename(staging, folder)
            return folder
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            # the name was taken meanwhile, or the staging folder swept (we stood still for
            # minutes): another name
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOENT):
                raise


@dataclass(frozen=True)
class Leftover:
    """A data folder whose run is gone, and the process that owned it (None: a staging
    folder, abandoned by its age)."""

    path: Path
    owner: Owner | None

    def __str__(self) -> str:
        if self.owner is None:
            return f"{self.path}, abandoned while it was made"
        return f"{self.path}, left behind by harness process {self.owner.pid}, killed"


def sweep_stale_workdirs(root: str | None, *, dry_run: bool = False) -> list[Leftover]:
    """Remove the data folders of runs whose harness process is gone (killed with -9: its
    servers died with it, their files did not). A folder of a live run is never touched:
    each has its owner from the moment it has its name (make_workdir); one without a
    readable owner is not judged, one whose owner cannot be told (another host or PID
    namespace) is kept."""
    removed: list[Leftover] = []
    parent = Path(root or tempfile.gettempdir())
    for folder in [*parent.glob(f"{PREFIX}*"), *parent.glob(f"{STAGING}*")]:
        left = _abandoned(folder)
        if left is None:
            continue
        if not dry_run:
            shutil.rmtree(folder, ignore_errors=True)
        removed.append(left)
    return removed


def _abandoned(folder: Path) -> Leftover | None:
    if folder.name.startswith(STAGING):
        # it stands for microseconds, its owner perhaps half written: judged by its age
        try:
            age = time.time() - folder.lstat().st_mtime
        except OSError:
            return None  # renamed or removed meanwhile
        return Leftover(folder, None) if age > STAGING_GRACE else None
    try:
        owner = Owner.parse((folder / OWNER_FILE).read_text())
    except (OSError, UnicodeDecodeError):
        return None  # not ours, or being removed by its own run
    if owner is None or owner.alive() is not False:
        return None  # not ours, or its run still goes on, or it cannot be told here
    return Leftover(folder, owner)


def get_provider(mode: str, **settings: Any) -> Provider:
    """The provider for --deps MODE (auto is resolved before, by deps/select.py).

    docker takes `images`, `engine_info`, `suite_root`; external takes `urls`, `disposable`.
    """
    if mode == "embedded":
        from harness.deps.embedded import EmbeddedProvider

        return EmbeddedProvider()
    if mode == "docker":
        from harness.deps.docker import DockerProvider
        from harness.deps.engine import probe

        engine_info = settings.get("engine_info") or probe()
        return DockerProvider(
            settings.get("images") or {},
            engine_info=engine_info,
            suite_root=settings.get("suite_root"),
        )
    if mode == "external":
        from harness.deps.external import ExternalProvider

        return ExternalProvider(settings.get("urls") or {}, settings.get("disposable"))
    raise HarnessError(
        f"unknown dependency provider {mode!r}",
        hint="use --deps auto, docker, embedded or external",
    )


class DependencySet:
    """`async with DependencySet(...) as deps:` every dependency up, fixtures loaded;
    on exit (normal, exception, Ctrl-C) every one of them stopped and its files removed."""

    def __init__(
        self,
        suite: Suite,
        provider: Provider,
        *,
        run_id: str,
        emit: Emit,
        redactor: Redactor,
        pool_size: int = 8,
    ) -> None:
        self.suite = suite
        self.provider = provider
        self.run_id = run_id
        self.emit = emit
        self.redact = redactor
        self.pool_size = pool_size
        self.running: dict[str, RunningDependency] = {}
        self.targets = Targets()
        #: database -> table -> what must be unique there (the schema's and the suite's)
        self.uniques: dict[str, dict[str, list[UniqueKey]]] = {}
        self._clients: list[Postgres | Redis] = []
        self.workdir: Path | None = None

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        return {name: dep.endpoint for name, dep in self.running.items()}

    @property
    def infos(self) -> list[DependencyInfo]:
        return [dep.info for dep in self.running.values()]

    def context(self) -> dict[str, Any]:
        return {name: ep.context() for name, ep in self.endpoints.items()}

    def watchers(self, concurrency: int) -> list[Watcher]:
        """What watches each conversation from the dependencies' side: the stubbed services'
        `StubWatcher` when the suite has any (`concurrency` 1 lets a stub without `match:`
        give a request to the only case in flight)."""
        return stubbed.watchers(self.running, concurrency)

    async def __aenter__(self) -> DependencySet:
        deps = self.suite.manifest.environment.dependencies
        if not deps:
            return self
        root = scratch_root()
        for stale in sweep_stale_workdirs(root):
            self.emit(Note(f"removed {stale}"))
        self.workdir = make_workdir(root, self.run_id)
        from harness.deps.external import guard  # the database clients load with real deps only

        try:
            await self._start_all(deps)
            guard(self.suite, self.running)  # before any write: external targets stay untouched
            await self._connect_and_load()
        except BaseException:
            await self._stop_all()
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop_all()

    async def _start_all(self, deps: dict[str, Any]) -> None:
        async def start(name: str, dep: Any) -> None:
            assert self.workdir is not None
            running: RunningDependency
            if stubbed.is_stub(dep):  # the harness's own double, under every provider
                running = await stubbed.start(name, dep, self.suite.params)
            else:
                running = await self.provider.start(
                    name, dep, run_id=self.run_id, workdir=self.workdir
                )
            self.running[name] = running
            self.redact.add(running.endpoint.password)
            self.emit(DependencyReady(running.info))

        tasks = [asyncio.create_task(start(n, d)) for n, d in deps.items()]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            # each start removes what it made before it ends: wait for all of them
            await finish(asyncio.gather(*tasks, return_exceptions=True))
            raise

    async def _connect_and_load(self) -> None:
        from harness.deps.catalog import declared_keys, merged, unique_keys

        deps = self.suite.manifest.environment.dependencies
        for name, running in self.running.items():
            dep = deps[name]
            # each client library imported by a suite that has its kind only
            if isinstance(dep, PostgresDependency):
                from harness.deps.clients import Postgres
                from harness.deps.fixtures import load_postgres

                db = Postgres(running.endpoint, self.pool_size)
                self._clients.append(db)
                await db.open()
                self.targets.databases[name] = db
                if dep.schema_files or dep.seed:
                    if not running.writable:
                        raise DependencyError(f"{name} is not writable; cannot load fixtures")
                    fresh = running.info.provider != "external"
                    seconds = await load_postgres(
                        db, dep, self.suite.root, self.suite.params, name, fresh=fresh
                    )
                    running.info.fixtures_seconds = seconds
                    self.emit(Note(f"{name}: schema and seed data loaded in {seconds:.2f} s"))
                self.uniques[name] = merged(await unique_keys(db), declared_keys(dep))
            elif running.endpoint.kind == "redis":
                from harness.deps.kvclient import Redis

                kv = Redis(running.endpoint)
                self._clients.append(kv)
                await kv.open()
                self.targets.kv[name] = kv

    async def _stop_all(self) -> None:
        """Stop everything; a second Ctrl-C or SIGTERM meanwhile does not cut it short."""
        await finish(self._stop_each())

    async def _stop_each(self) -> None:
        for client in reversed(self._clients):
            with contextlib.suppress(Exception):
                await client.close()
        self._clients.clear()
        errors: list[str] = []
        for name, running in reversed(list(self.running.items())):
            try:
                await running.stop()
            except Exception as exc:
                errors.append(f"{name}: {exc}")
            if isinstance(running, stubbed.StubDependency) and (note := running.note()):
                self.emit(note)
        self.running.clear()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        if errors:
            self.emit(
                Note("some dependencies did not stop cleanly: " + "; ".join(errors), "warning")
            )
