"""The external provider: attach to services that already run (a staging database), safely.

Nothing is started and nothing is stopped: `stop()` only forgets. The harness writes to a
dependency only to load its schema and seed data and to insert each case's setup rows;
it refuses every one of those writes, before any statement runs, unless the target is
marked disposable, either by a marker the harness itself created on request
(`harness mark-disposable URL`: the table `harness_disposable` in PostgreSQL, the key
`harness:disposable` in Redis) or by naming the dependency with `--disposable NAME` for one
run. Finding the marker is a read-only probe. The harness never drops anything.
"""

from __future__ import annotations

import getpass
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from harness.deps.base import DependencyInfo, Endpoint
from harness.deps.options import EXTERNAL_ENV
from harness.errors import ConfigError, DependencyError, UnsafeTargetError

MARKER_TABLE = "harness_disposable"
MARKER_KEY = "harness:disposable"
ENV_PREFIX = EXTERNAL_ENV
CONNECT_TIMEOUT = 10
_PG_SCHEMES = ("postgresql", "postgres")
_REDIS_SCHEMES = ("redis", "rediss")


@dataclass(eq=False)
class ExternalDependency:
    """An existing service (a RunningDependency); `writable` only when marked disposable."""

    name: str
    endpoint: Endpoint
    info: DependencyInfo
    writable: bool = False
    marked_by: str = ""  # "marker" | "--disposable" | ""
    _stopped: bool = field(default=False, repr=False)

    async def stop(self) -> None:
        """Nothing to stop: the service is not ours. Safe to call twice."""
        self._stopped = True

    def log_tail(self, lines: int = 30) -> str:
        return ""  # the service's logs are not the harness's to read


def parse_url(name: str, kind: str, url: str) -> Endpoint:
    """An Endpoint from a service URL; the scheme must fit the dependency's kind."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"external URL for '{name}' is not a URL: {exc}") from None
    scheme = parts.scheme.lower()
    expected = {"postgres": _PG_SCHEMES, "redis": _REDIS_SCHEMES}.get(kind)
    if expected and scheme not in expected:
        raise ConfigError(
            f"external URL for '{name}' ({kind}) must start with {expected[0]}://, "
            f"not {scheme or '(no scheme)'}://"
        )
    if not parts.hostname:
        raise ConfigError(f"external URL for '{name}' names no host: {_mask(url)}")
    default_port = {"postgres": 5432, "redis": 6379}.get(kind, 443 if scheme == "https" else 80)
    path = parts.path.lstrip("/")
    database = unquote(path) if path else None
    return Endpoint(
        kind=kind,
        host=parts.hostname,
        port=port or default_port,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        database=database or ("0" if kind == "redis" else None),
        scheme=scheme if kind != "postgres" else None,
        query=parts.query,
    )


def _mask(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


class ExternalProvider:
    """Hands over endpoints of services that already run (see the module doc)."""

    name = "external"

    def __init__(self, urls: Mapping[str, str], disposable: set[str] | None = None) -> None:
        self.urls = dict(urls)
        self.disposable = set(disposable or ())

    async def start(self, name: str, dep: Any, *, run_id: str, workdir: Path) -> ExternalDependency:
        kind = str(getattr(dep, "kind", ""))
        url = self.urls.get(name)
        if not url:
            raise ConfigError(
                f"dependency '{name}' has no external URL",
                hint=f"--external {name}=URL, {ENV_PREFIX}{name.upper()}=URL, "
                "or external: {url: ...} in suite.yaml",
            )
        endpoint = parse_url(name, kind, url)
        started = time.perf_counter()
        marked = False
        caught: tuple[type[BaseException], ...] = (OSError, *client_errors(kind))
        try:
            if kind == "postgres":
                version, marked = await _probe_postgres(endpoint)
            elif kind == "redis":
                version, marked = await _probe_redis(endpoint)
            else:
                version = await _probe_tcp(endpoint)
        except caught as exc:
            raise DependencyError(
                f"dependency '{name}': cannot reach the external {kind} at "
                f"{endpoint.safe_url}: {str(exc).strip()}",
                hint="check the URL, the network and the credentials",
            ) from exc
        by = "marker" if marked else ("--disposable" if name in self.disposable else "")
        return ExternalDependency(
            name=name,
            endpoint=endpoint,
            info=DependencyInfo(
                name=name,
                kind=kind,
                provider=self.name,
                version=version,
                source=endpoint.safe_url,
                ready_seconds=time.perf_counter() - started,
                extra={"disposable": by or "no"},
            ),
            writable=bool(by),
            marked_by=by,
        )


def client_errors(kind: str) -> tuple[type[BaseException], ...]:
    """The errors of the client library of `kind`: each imported only by a suite (or a
    command) that uses that kind, as the probes and the marking import their client."""
    if kind == "postgres":
        import psycopg

        return (psycopg.Error,)
    if kind == "redis":
        import redis.exceptions

        return (redis.exceptions.RedisError,)
    return ()


async def _probe_postgres(endpoint: Endpoint) -> tuple[str, bool]:
    """Version and marker, read-only: the session itself is set read-only first."""
    import psycopg
    from psycopg import sql

    async with await psycopg.AsyncConnection.connect(
        endpoint.url, connect_timeout=CONNECT_TIMEOUT, autocommit=True
    ) as conn:
        await conn.execute("set session characteristics as transaction read only")
        # marked: the harness's own table (its marked_by column) with at least one marker
        # row; an empty table of that name made by hand is no mark
        cur = await conn.execute(
            "select version(), exists (select 1 from information_schema.columns where "
            "table_schema = 'public' and table_name = %s and column_name = 'marked_by')",
            (MARKER_TABLE,),
        )
        row = await cur.fetchone()
        assert row is not None
        marked = bool(row[1])
        if marked:
            cur = await conn.execute(
                sql.SQL("select exists (select 1 from {})").format(
                    sql.Identifier("public", MARKER_TABLE)
                )
            )
            rows = await cur.fetchone()
            marked = bool(rows and rows[0])
    return " ".join(str(row[0]).split()[:2]), marked


async def _probe_redis(endpoint: Endpoint) -> tuple[str, bool]:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(
        endpoint.url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT
    )
    try:
        info = await client.info("server")
        marked = bool(await client.exists(MARKER_KEY))
    finally:
        await client.aclose()
    return f"Redis {info.get('redis_version', '?')}", marked


async def _probe_tcp(endpoint: Endpoint) -> str:
    import asyncio

    _, writer = await asyncio.wait_for(
        asyncio.open_connection(endpoint.host, endpoint.port), CONNECT_TIMEOUT
    )
    writer.close()
    return ""


# --------------------------------------------------------------------------- the guard


def planned_writes(suite: Any) -> dict[str, list[str]]:
    """What the harness itself would write to each dependency during a run of `suite`."""
    deps = suite.manifest.environment.dependencies
    postgres = [n for n, d in deps.items() if getattr(d, "kind", "") == "postgres"]
    redises = [n for n, d in deps.items() if getattr(d, "kind", "") == "redis"]
    writes: dict[str, list[str]] = {name: [] for name in deps}
    for name in postgres:
        dep = deps[name]
        if dep.schema_files:
            writes[name].append(f"schema files ({', '.join(dep.schema_files)})")
        if dep.seed is not None and dep.seed.tables:
            writes[name].append(f"seed data ({len(dep.seed.tables)} table(s))")
    rows: dict[str, set[str]] = {}
    for scenario in suite.scenarios:
        for row in scenario.setup.values():
            target = row.database or (postgres[0] if len(postgres) == 1 else "")
            rows.setdefault(target, set()).add(scenario.id)
        for item in scenario.redis_setup:
            target = item.database or (redises[0] if len(redises) == 1 else "")
            rows.setdefault(target, set()).add(scenario.id)
    for target, scenarios in rows.items():
        if target in writes:
            listed = sorted(scenarios)
            more = f" and {len(listed) - 3} more" if len(listed) > 3 else ""
            writes[target].append(f"setup rows (scenarios {', '.join(listed[:3])}{more})")
    return {name: what for name, what in writes.items() if what}


def guard(suite: Any, running: Mapping[str, Any]) -> None:
    """Refuse (exit 2) before any write when a suite would write to a non-disposable target."""
    writes = planned_writes(suite)
    order = list(suite.manifest.environment.dependencies)
    refused = sorted(
        ((name, dep) for name, dep in running.items() if not dep.writable and writes.get(name)),
        key=lambda item: order.index(item[0]) if item[0] in order else len(order),
    )
    if not refused:
        return
    lines = []
    for name, dep in refused:
        lines.append(
            f"refusing to write to '{name}' ({dep.endpoint.safe_url}): it is not marked "
            f"disposable, and this suite writes to it: {'; '.join(writes[name])}"
        )
    marks = []
    for _, dep in refused:
        marker = MARKER_TABLE if dep.endpoint.kind == "postgres" else f"the key {MARKER_KEY}"
        marks.append(f"`harness mark-disposable '{dep.endpoint.safe_url}'` (creates {marker})")
    raise UnsafeTargetError(
        "\n".join(lines) + "\nNothing was written.",
        hint=(
            "only if it may be written to and thrown away: mark it once with "
            + " and ".join(marks)
            + ", giving the real password, or pass "
            + " ".join(f"--disposable {n}" for n, _ in refused)
            + " for this run"
        ),
    )


# --------------------------------------------------------------------------- marking


async def mark_disposable(url: str, note: str = "") -> str:
    """Create the disposable marker in the service at `url`; return what was done."""
    scheme = urlsplit(url).scheme.lower()
    kind = "postgres" if scheme in _PG_SCHEMES else "redis" if scheme in _REDIS_SCHEMES else ""
    if not kind:
        raise ConfigError(
            f"cannot mark {_mask(url)}: only postgresql:// and redis:// URLs have a marker"
        )
    endpoint = parse_url("target", kind, url)
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    caught: tuple[type[BaseException], ...] = (OSError, *client_errors(kind))
    try:
        if kind == "postgres":
            import psycopg
            from psycopg import sql

            async with await psycopg.AsyncConnection.connect(
                endpoint.url, connect_timeout=CONNECT_TIMEOUT, autocommit=True
            ) as conn:
                cur = await conn.execute("select to_regclass(%s)", (f"public.{MARKER_TABLE}",))
                found = await cur.fetchone()
                existed = bool(found and found[0])
                await conn.execute(
                    sql.SQL(
                        "create table if not exists {} (marked_at timestamptz not null "
                        "default now(), marked_by text not null, note text)"
                    ).format(sql.Identifier("public", MARKER_TABLE))
                )
                await conn.execute(
                    sql.SQL("insert into {} (marked_by, note) values (%s, %s)").format(
                        sql.Identifier("public", MARKER_TABLE)
                    ),
                    (who, note or None),
                )
            done = "added a marker row to" if existed else "created"
            return f"{done} table public.{MARKER_TABLE} in {endpoint.safe_url}"
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(endpoint.url, socket_connect_timeout=CONNECT_TIMEOUT)
        try:
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            await client.set(MARKER_KEY, f"marked by {who} at {when} {note}".strip())
        finally:
            await client.aclose()
        return f"set key {MARKER_KEY} in {endpoint.safe_url}"
    except caught as exc:
        raise DependencyError(
            f"cannot mark {endpoint.safe_url}: {str(exc).strip()}",
            hint="check the URL, the network and the credentials",
        ) from exc
