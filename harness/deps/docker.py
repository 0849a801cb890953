"""The docker provider: each dependency a real image in a container, through testcontainers.

PostgreSQL and Redis come from testcontainers' own modules (their environment conventions
and readiness checks); any other service is a generic container (`kind: container`) with
its ports, environment, command, volumes and wait strategy. Ports are published on
127.0.0.1 when the engine is local. Every container joins the run's network under its
dependency name and is labelled with the run and its owner (deps/cleanup.py), so it is
removed on every way out, and by `harness clean` after a `kill -9`.

The time to ready runs from creating the container until the harness itself got an answer
through the published port (`select version()`, `INFO server`); a pull is timed apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import psycopg
import redis.asyncio
import redis.exceptions

from harness.deps import cleanup, engine, waits
from harness.deps.aio import finish, in_thread
from harness.deps.base import DependencyInfo, Endpoint
from harness.deps.containers import (
    AbortableContainer,
    DockerDependency,
    GenericContainer,
    HarnessPostgres,
    HarnessRedis,
    RunNetwork,
    publish_on,
    start_container,
)
from harness.deps.images import ImageChoice, ImageFacts, ensure_image
from harness.errors import ConfigError, DependencyError
from harness.spec.models import ContainerDependency, PostgresDependency, RedisDependency

log = logging.getLogger(__name__)

PG_USER = "harness"
PG_DATA = "/var/lib/postgresql/data"
#: the same throwaway-data settings as the embedded provider (and the same connection limit)
PG_ARGS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"


class DockerProvider:
    """Starts each dependency in its own container (see the module doc)."""

    name = "docker"

    def __init__(
        self,
        images: dict[str, ImageChoice],
        *,
        engine_info: engine.Engine,
        suite_root: Path | None = None,
    ) -> None:
        self.images = images
        self.engine = engine_info
        self.suite_root = suite_root or Path.cwd()
        self._network: RunNetwork | None = None
        self._network_lock = asyncio.Lock()
        engine.configure(engine_info)

    async def start(self, name: str, dep: Any, *, run_id: str, workdir: Path) -> DockerDependency:
        choice = self.images.get(name)
        if choice is None:
            raise ConfigError(f"dependency '{name}' has no image for the docker provider")
        labels = {**cleanup.owner_labels(run_id), cleanup.DEP: name}
        selector = {cleanup.RUN: run_id, cleanup.DEP: name, cleanup.PID: labels[cleanup.PID]}
        cleanup.sweep_at_exit()
        client = engine.client(timeout=engine.API_TIMEOUT)
        try:
            facts = await in_thread(lambda: ensure_image(client, choice.ref, name), f"pull-{name}")
        finally:
            client.close()
        network = await self._run_network(run_id)
        try:
            return await self._start(name, dep, choice, facts, labels, selector, network)
        except BaseException:
            await finish(in_thread(network.release, f"release-{name}"))
            raise

    async def _run_network(self, run_id: str) -> RunNetwork:
        async with self._network_lock:
            if self._network is None:
                await finish(in_thread(lambda: _remove_killed_attempts(run_id), "earlier"))
                self._network = RunNetwork(run_id, cleanup.owner_labels(run_id))
            network = self._network
        acquiring = in_thread(network.acquire, "network")
        try:
            await asyncio.shield(acquiring)
        except asyncio.CancelledError:
            # it is quick: let it finish, then give the network back, so nothing is left
            with contextlib.suppress(Exception):
                await finish(_give_back(acquiring, network))
            raise
        return network

    async def _start(
        self,
        name: str,
        dep: Any,
        choice: ImageChoice,
        facts: ImageFacts,
        labels: dict[str, str],
        selector: dict[str, str],
        network: RunNetwork,
    ) -> DockerDependency:
        timeout, hint = waits.deadline(name, dep)
        password = secrets.token_urlsafe(24)
        container: AbortableContainer
        if isinstance(dep, PostgresDependency):
            container = HarnessPostgres(
                choice.ref, username=PG_USER, password=password, dbname=dep.database, driver=None
            )
            # the official image's conventions: initdb flags and server arguments; data in RAM.
            # PGDATA names the tmpfs: from 18 on the official image keeps its data elsewhere by
            # default (/var/lib/postgresql/18/docker) and refuses to start when something is
            # mounted at the old path while PGDATA is left at that default.
            container.with_env("POSTGRES_INITDB_ARGS", "--no-sync").with_command(PG_ARGS)
            container.with_env("PGDATA", PG_DATA).with_tmpfs_mount(PG_DATA)
            ports = ["5432"]
        elif isinstance(dep, RedisDependency):
            container = HarnessRedis(choice.ref, password=password)
            wait = container._wait_strategy  # the module's PING check, with our timeout
            if wait is not None:
                wait.with_startup_timeout(int(timeout)).with_poll_interval(engine.POLL_INTERVAL)
            ports = ["6379"]
        elif isinstance(dep, ContainerDependency):
            container, ports = self._generic(name, dep, choice.ref, timeout)
        else:  # pragma: no cover - the models allow nothing else
            raise ConfigError(f"dependency '{name}': unknown kind {getattr(dep, 'kind', None)!r}")
        publish_on(container, ports, engine.LOOPBACK if self.engine.local else None)
        assert network.network is not None  # acquired above
        container.with_network(network.network)
        container.with_network_aliases(name)
        container.with_kwargs(labels=labels)
        container.with_name(f"harness-{labels[cleanup.RUN]}-{name}")

        started = time.perf_counter()
        await start_container(
            container, selector, name=name, image=choice.ref, timeout=timeout, hint=hint
        )
        running = DockerDependency(
            name=name,
            endpoint=Endpoint(kind="container", host=engine.LOOPBACK, port=0),
            info=DependencyInfo(name=name, kind=str(dep.kind), provider=self.name),
            _container=container,
            _selector=selector,
            _network=network,
        )
        try:
            host = engine.LOOPBACK if self.engine.local else container.get_container_host_ip()
            mapped = await in_thread(
                lambda: {p.split("/")[0]: int(container.get_exposed_port(int(p.split("/")[0])))
                         for p in ports},
                f"ports-{name}",
            )  # fmt: skip
            running.endpoint = _endpoint(dep, host, mapped, ports, password)
            deadline = time.monotonic() + timeout
            version = (
                await _server_version(dep, running.endpoint, deadline)
                or facts.version
                or _tag(choice.ref)
            )
        except BaseException:
            await running.stop()
            raise
        wrapped = container.get_wrapped_container()
        running.info = DependencyInfo(
            name=name,
            kind=str(dep.kind),
            provider=self.name,
            version=version,
            source=choice.ref,
            digest=facts.digest,
            ready_seconds=time.perf_counter() - started,
            extra={
                "container": (wrapped.id or "")[:12],
                "container_name": wrapped.name or "",
                "image_from": choice.source,
                "ports": dict(mapped),
                "network": network.name,
                "pull_seconds": round(facts.pull_seconds, 3),
                "engine": self.engine.describe(),
            },
        )
        return running

    def _generic(
        self, name: str, dep: ContainerDependency, image: str, timeout: float
    ) -> tuple[GenericContainer, list[str]]:
        container = GenericContainer(image)
        for key, value in dep.env.items():
            container.with_env(key, value)
        if dep.command is not None:
            container.with_command(dep.command)
        for volume in dep.volumes:
            host = (self.suite_root / volume.host).resolve()
            if not host.exists():
                raise ConfigError(
                    f"dependency '{name}': volume {volume.host} does not exist ({host})",
                    hint="host paths are relative to the suite folder",
                )
            container.with_volume_mapping(str(host), volume.container, volume.mode)
        ports = [str(p) for p in dep.ports]
        strategy = waits.strategy_for(dep, timeout)
        if strategy is not None:
            container.waiting_for(strategy)
        return container, ports


def _remove_killed_attempts(run_id: str) -> None:
    """Before a run makes its network and containers: remove those an earlier attempt of the
    same run left when it was killed (a resume after `kill -9`), since the new ones take the
    same names. Only objects whose owner process is gone: a live attempt is never touched
    (and a resume is refused while one runs)."""
    client = engine.client(timeout=engine.API_TIMEOUT)
    try:
        left, problems = cleanup.remove_killed_attempts(client, run_id)
    finally:
        client.close()
    if left:
        log.info("removed what a killed attempt of run %s left: %s", run_id,
                 ", ".join(item.describe() for item in left))  # fmt: skip
    if problems:
        raise DependencyError(
            f"run {run_id} was killed before, and what it left on the Docker engine could not "
            f"be removed: {'; '.join(problems)}",
            hint="run `harness clean`, then resume again",
        )


async def _give_back(acquiring: asyncio.Future[Any], network: RunNetwork) -> None:
    await acquiring  # if creating it failed, there is nothing to give back
    await in_thread(network.release, "release")


def _endpoint(
    dep: Any, host: str, mapped: dict[str, int], ports: list[str], password: str
) -> Endpoint:
    if isinstance(dep, PostgresDependency):
        return Endpoint("postgres", host, mapped["5432"], PG_USER, password, dep.database)
    if isinstance(dep, RedisDependency):
        return Endpoint("redis", host, mapped["6379"], password=password, database="0")
    first = mapped[ports[0].split("/")[0]] if ports else 0
    scheme = dep.scheme if isinstance(dep, ContainerDependency) else None
    return Endpoint("container", host, first, scheme=scheme, ports=mapped)


async def _server_version(dep: Any, endpoint: Endpoint, deadline: float) -> str:
    """Ask the server itself through the published port; retry until it answers there too."""
    last = ""
    while True:
        try:
            if isinstance(dep, PostgresDependency):
                return await _postgres_version(endpoint)
            if isinstance(dep, RedisDependency):
                return await _redis_version(endpoint)
            return ""
        except (psycopg.OperationalError, redis.exceptions.RedisError, OSError) as exc:
            last = str(exc).strip()
        if time.monotonic() > deadline:
            raise DependencyError(
                f"{endpoint.kind} container was ready inside, but the harness could not reach "
                f"it at {endpoint.host}:{endpoint.port}: {last}",
                hint="is the engine on this machine? DOCKER_HOST points elsewhere?",
            )
        await asyncio.sleep(0.05)


async def _postgres_version(endpoint: Endpoint) -> str:
    async with await psycopg.AsyncConnection.connect(endpoint.url, connect_timeout=5) as conn:
        cur = await conn.execute("select version()")
        row = await cur.fetchone()
    text = str(row[0]) if row else ""
    return " ".join(text.split()[:2])  # "PostgreSQL 15.18"


async def _redis_version(endpoint: Endpoint) -> str:
    client = redis.asyncio.Redis.from_url(endpoint.url, socket_connect_timeout=5, socket_timeout=5)
    try:
        info = await client.info("server")
    finally:
        await client.aclose()
    return f"Redis {info.get('redis_version', '?')}"


def _tag(ref: str) -> str:
    """What a reference says of the version when nothing else does: its tag."""
    last = ref.rsplit("/", 1)[-1].split("@", 1)[0]
    return f"tag {last.split(':', 1)[1]}" if ":" in last else "tag latest"
