"""Provider selection, image overrides, external URLs and the write guard: no servers needed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.deps import cleanup
from harness.deps.base import DependencyInfo, Endpoint
from harness.deps.external import guard, parse_url, planned_writes
from harness.deps.images import check_names, parse_assignments, resolve_image
from harness.deps.select import (
    DepsOptions,
    Selection,
    requested_mode,
    resumed_options,
    select_provider,
)
from harness.errors import ConfigError, DependencyError, UnsafeTargetError
from harness.spec.models import ContainerDependency, PostgresDependency, RedisDependency
from harness.spec.suite import load_suite
from tests.helpers import DEMO, copy_demo, environ, harness, python_agent

NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def pg(**extra: object) -> PostgresDependency:
    return PostgresDependency.model_validate({"kind": "postgres", **extra})


# --------------------------------------------------------------------------- images


def test_image_precedence_cli_then_env_then_suite_then_default() -> None:
    dep = pg(image="suite/pg:1")
    assert resolve_image("db", pg(), {}, {}).ref == "postgres:16"  # type: ignore[union-attr]
    assert resolve_image("db", dep, {}, {}).source == "suite.yaml"  # type: ignore[union-attr]
    env = {"HARNESS_IMAGE_POSTGRES": "env/pg:kind", "HARNESS_IMAGE_DB": "env/pg:name"}
    chosen = resolve_image("db", dep, {}, env)
    assert chosen is not None and (chosen.ref, chosen.source) == ("env/pg:name", "HARNESS_IMAGE_DB")
    cli = {"postgres": "cli/pg:kind", "db": "cli/pg:name"}
    chosen = resolve_image("db", dep, cli, env)
    assert chosen is not None and (chosen.ref, chosen.source) == ("cli/pg:name", "--image db")
    chosen = resolve_image("db", dep, {"postgres": "cli/pg:kind"}, env)
    assert chosen is not None and chosen.ref == "cli/pg:kind"  # CLI by kind beats env by name


def test_bad_image_options_are_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="expected NAME=IMAGE"):
        parse_assignments(["postgres"], "--image", "IMAGE")
    deps = {"db": pg(), "cache": RedisDependency(kind="redis")}
    with pytest.raises(ConfigError, match="names pg, which this suite does not have"):
        check_names({"pg": "x"}, deps, "--image")
    check_names({"postgres": "x", "cache": "y"}, deps, "--image")  # kinds are fine for images
    with pytest.raises(ConfigError, match="not an image reference"):
        resolve_image("db", pg(), {"db": "has space"}, {})


# --------------------------------------------------------------------------- selection


def test_mode_precedence_cli_env_over_suite_over_auto() -> None:
    suite = load_suite(DEMO)
    assert requested_mode(suite, DepsOptions()) == ("auto", "default")
    assert requested_mode(suite, DepsOptions(mode="embedded", mode_source="HARNESS_DEPS")) == (
        "embedded",
        "HARNESS_DEPS",
    )
    with pytest.raises(ConfigError, match="unknown dependency provider 'podman'"):
        requested_mode(suite, DepsOptions(mode="podman"))


def test_suite_provider_setting(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    text = (root / "suite.yaml").read_text()
    (root / "suite.yaml").write_text(
        text.replace("  dependencies:", "  provider: embedded\n  dependencies:", 1)
    )
    suite = load_suite(root)
    assert requested_mode(suite, DepsOptions())[0] == "embedded"
    assert requested_mode(suite, DepsOptions(mode="docker"))[0] == "docker"


def test_auto_without_an_engine_falls_back_to_embedded_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE["DOCKER_HOST"])
    selection = asyncio.run(select_provider(load_suite(DEMO), DepsOptions()))
    assert selection.mode == "embedded" and selection.requested == "auto"
    (note,) = selection.notes
    assert "dependencies via embedded (auto: no Docker engine answers at" in note.text
    assert "/nonexistent/docker.sock" in note.text


def test_docker_without_an_engine_is_an_environment_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE["DOCKER_HOST"])
    with pytest.raises(DependencyError, match="asked for docker, but no Docker engine answers"):
        asyncio.run(select_provider(load_suite(DEMO), DepsOptions(mode="docker")))


def test_external_needs_a_url_for_every_dependency() -> None:
    suite = load_suite(DEMO)
    with pytest.raises(ConfigError, match="no URL for db, cache") as caught:
        asyncio.run(select_provider(suite, DepsOptions(mode="external"), env={}))
    assert "--external db=URL" in str(caught.value)
    with pytest.raises(ConfigError, match="apply to the external provider only"):
        asyncio.run(select_provider(suite, DepsOptions(mode="embedded", externals=("db=x",))))
    options = DepsOptions(mode="external", externals=("db=postgresql://h/x",))
    env = {"HARNESS_EXTERNAL_CACHE": "redis://h:6380/1"}
    selection = asyncio.run(select_provider(suite, options, env=env))
    assert selection.provider.urls == {  # type: ignore[attr-defined]
        "db": "postgresql://h/x",
        "cache": "redis://h:6380/1",
    }


# --------------------------------------------------------------------------- suite format


def test_container_dependency_model() -> None:
    dep = ContainerDependency.model_validate(
        {"kind": "container", "image": "svc:1", "ports": [8080, "9000/udp"],
         "wait": {"http": {"path": "/health"}, "timeout": 5}}
    )  # fmt: skip
    assert dep.wait is not None and dep.wait.http is not None and dep.scheme == "http"
    for bad, message in [
        ({"wait": {"log": "x", "port": 8080}}, "exactly one of log, port, http, command"),
        ({"wait": {"port": 81}}, "wait uses port 81, which is not listed"),
        ({"wait": {"log": "("}}, "not a valid regular expression"),
        ({"ports": [8080, "8080/udp"]}, "listed once"),
    ]:
        with pytest.raises(ValueError, match=message):
            ContainerDependency.model_validate(
                {"kind": "container", "image": "svc:1", "ports": [8080], **bad}
            )
    with pytest.raises(ValueError, match="image"):
        ContainerDependency.model_validate({"kind": "container"})


def test_templates_reach_published_ports(tmp_path: Path) -> None:
    from harness.spec.references import Scope

    scope = Scope({}, deps={"svc": ("8080",), "db": ()})
    assert scope.check(("deps", "svc", "ports", "8080")) is None
    assert "does not publish port 9090 (its ports: 8080)" in (
        scope.check(("deps", "svc", "ports", "9090")) or ""
    )
    assert "name the container port" in (scope.check(("deps", "svc", "ports")) or "")
    endpoint = Endpoint("container", "127.0.0.1", 32001, scheme="http", ports={"8080": 32001})
    assert endpoint.url == "http://127.0.0.1:32001"
    assert endpoint.context()["ports"] == {"8080": 32001}


# --------------------------------------------------------------------------- external


def test_external_urls_become_endpoints() -> None:
    e = parse_url(
        "db", "postgres", "postgresql://app:s%40cret@staging:6543/refunds?sslmode=require"
    )
    assert (e.host, e.port, e.user, e.password, e.database) == (
        "staging", 6543, "app", "s@cret", "refunds"
    )  # fmt: skip
    assert e.url == "postgresql://app:s%40cret@staging:6543/refunds?sslmode=require"
    assert e.safe_url == "postgresql://app:***@staging:6543/refunds?sslmode=require"
    r = parse_url("cache", "redis", "redis://:pw@cache.internal/2")
    assert (r.port, r.database, r.url) == (6379, "2", "redis://:pw@cache.internal:6379/2")
    with pytest.raises(ConfigError, match="must start with postgresql://"):
        parse_url("db", "postgres", "mysql://h/x")
    with pytest.raises(ConfigError, match="names no host"):
        parse_url("db", "postgres", "postgresql:///x")


@dataclass
class Target:
    """A stand-in RunningDependency for the guard, which reads only these fields."""

    endpoint: Endpoint
    writable: bool
    info: DependencyInfo | None = None


def test_guard_refuses_every_write_to_a_target_not_marked_disposable() -> None:
    suite = load_suite(DEMO)
    writes = planned_writes(suite)
    assert any(w.startswith("schema files") for w in writes["db"])
    assert any(w.startswith("setup rows (scenarios") for w in writes["db"])
    assert any(w.startswith("setup rows") for w in writes["cache"])  # redis_setup
    db = Target(Endpoint("postgres", "staging", 5432, "app", "pw", "refunds"), writable=False)
    cache = Target(Endpoint("redis", "cache", 6379, database="0"), writable=True)
    with pytest.raises(UnsafeTargetError) as caught:
        guard(suite, {"db": db, "cache": cache})
    text = str(caught.value)
    assert caught.value.exit_code == 2
    assert "refusing to write to 'db' (postgresql://app:***@staging:5432/refunds)" in text
    assert "harness mark-disposable 'postgresql://app:***@staging:5432/refunds'" in text
    assert "harness_disposable" in text and "--disposable db" in text
    assert "pw" not in text.replace("pwd", "")
    guard(suite, {"db": Target(db.endpoint, writable=True), "cache": cache})


# --------------------------------------------------------------------------- cleanup ownership


def test_owner_is_alive_only_while_the_same_process_runs() -> None:
    mine = cleanup.owner_labels("r1")
    assert cleanup.owner_alive(mine)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = {**mine, cleanup.PID: str(dead.pid), cleanup.STARTED: "1"}
    assert not cleanup.owner_alive(gone)
    recycled = {**mine, cleanup.STARTED: "1"}  # our pid, but another process's start time
    assert not cleanup.owner_alive(recycled)
    elsewhere = {**gone, cleanup.HOST: "another-host"}
    assert cleanup.owner_alive(elsewhere), "another host's runs are never ours to remove"
    assert mine[cleanup.PID_NS].startswith("pid:[")
    contained = {**gone, cleanup.PID_NS: "pid:[1]"}  # a container sharing the engine and host
    assert cleanup.owner_alive(contained), "a pid of another PID namespace says nothing here"
    assert os.getpid() == int(mine[cleanup.PID])


def container_suite(make_suite: Callable[..., Path]) -> Path:
    root = make_suite(python_agent("echo"))
    text = (
        (root / "suite.yaml")
        .read_text()
        .replace(
            "environment:\n",
            "environment:\n  dependencies:\n    svc: {kind: container, image: 'acme/compliance:2', "
            "ports: [8080]}\n",
        )
    )
    (root / "suite.yaml").write_text(text)
    return root


def test_embedded_cannot_run_a_generic_container(
    make_suite: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = load_suite(container_suite(make_suite))
    with pytest.raises(ConfigError) as caught:  # asked for: a configuration error, exit 2
        asyncio.run(select_provider(suite, DepsOptions(mode="embedded")))
    text = str(caught.value)
    assert caught.value.exit_code == 2
    assert "dependency 'svc' is a container (image acme/compliance:2)" in text
    assert "--deps docker" in text and "--external svc=URL" in text
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE["DOCKER_HOST"])
    with pytest.raises(DependencyError, match=r"'svc' is a container .* needs a Docker engine"):
        asyncio.run(select_provider(suite, DepsOptions()))


def test_a_resumed_run_keeps_its_provider_and_images_or_refuses_a_change() -> None:
    stored = {
        "requested": "docker",
        "chosen": "docker",
        "images": {"db": {"ref": "harness-local/postgres:15", "from": "--image"}},
    }
    kept = resumed_options(DepsOptions(), stored)  # nothing said: the run's own
    assert kept.mode == "docker" and kept.images == ("db=harness-local/postgres:15",)
    assert resumed_options(DepsOptions(mode="auto"), stored).mode == "docker"
    with pytest.raises(ConfigError, match="judged on docker; a resumed run keeps") as exc:
        resumed_options(DepsOptions(mode="embedded", mode_source="HARNESS_DEPS"), stored)
    assert exc.value.exit_code == 2 and "HARNESS_DEPS embedded" in str(exc.value)
    with pytest.raises(ConfigError, match="a resumed run keeps its images") as exc:
        resumed_options(DepsOptions(images=("db=postgres:16",)), stored)
    assert "HARNESS_IMAGE_<NAME>" in str(exc.value.hint)  # the variables that set --image
    # an auto run that fell back to embedded resumes on embedded, engine or not
    fell_back = {"requested": "auto", "chosen": "embedded", "images": {}}
    assert resumed_options(DepsOptions(), fell_back).mode == "embedded"


def _stored_deps(*images: str) -> dict[str, object]:
    """The manifest's `deps` of a docker run of db (postgres) and cache (redis) started with
    these --image options, made by the code that records it."""
    given = parse_assignments(images, "--image", "IMAGE")
    deps = {"db": pg(), "cache": RedisDependency(kind="redis")}
    chosen = {name: resolve_image(name, dep, given, {}) for name, dep in deps.items()}
    resolved = {name: c for name, c in chosen.items() if c is not None}
    return Selection(None, "docker", "docker", "asked", resolved).manifest()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("started", "resumed"),
    [
        ("db=harness-local/postgres:15", "postgres=harness-local/postgres:15"),
        ("postgres=harness-local/postgres:15", "db=harness-local/postgres:15"),
        ("postgres=harness-local/postgres:15", "postgres=harness-local/postgres:15"),
        ("db=harness-local/postgres:15", "db=harness-local/postgres:15"),
    ],
)
def test_a_resume_accepts_the_same_image_by_dependency_name_or_kind(
    started: str, resumed: str
) -> None:
    stored = _stored_deps(started)
    kept = resumed_options(DepsOptions(images=(resumed,)), stored)
    # the resume runs every dependency on the image it ran on, by dependency name
    assert set(kept.images) == {"db=harness-local/postgres:15", "cache=redis:7"}


@pytest.mark.parametrize(
    "resumed",
    [
        "postgres=postgres:16",  # another image, by kind
        "db=postgres:16",  # another image, by name
        "redis=harness-local/postgres:15",  # the image, but for another kind
        "queue=harness-local/postgres:15",  # a name the run does not have
    ],
)
def test_a_resume_still_refuses_another_image_however_named(resumed: str) -> None:
    stored = _stored_deps("db=harness-local/postgres:15")
    with pytest.raises(ConfigError, match="a resumed run keeps its images") as exc:
        resumed_options(DepsOptions(images=(resumed,)), stored)
    assert exc.value.exit_code == 2


def test_a_run_recorded_without_kinds_resumes_by_the_kind_it_was_given_by() -> None:
    """Manifests written before kinds were recorded: `from` still says which kind was named."""
    stored = {
        "requested": "docker",
        "chosen": "docker",
        "images": {"db": {"ref": "harness-local/postgres:15", "from": "--image postgres"}},
    }
    kept = resumed_options(DepsOptions(images=("postgres=harness-local/postgres:15",)), stored)
    assert kept.images == ("db=harness-local/postgres:15",)
    with pytest.raises(ConfigError, match="a resumed run keeps its images"):
        resumed_options(DepsOptions(images=("postgres=postgres:16",)), stored)


def test_validate_finds_a_container_volume_that_does_not_exist(
    make_suite: Callable[..., Path],
) -> None:
    root = container_suite(make_suite)
    text = (root / "suite.yaml").read_text()
    volume = "volumes: [{host: nosuchdir, container: /d}]"
    (root / "suite.yaml").write_text(text.replace("ports: [8080]}", f"ports: [8080], {volume}}}"))
    where = r"suite\.yaml:\d+:\d+: .*volume nosuchdir does not exist"
    with pytest.raises(ConfigError, match=where):
        load_suite(root)


def test_clean_removes_a_killed_runs_embedded_data_folder_without_an_engine(
    tmp_path: Path,
) -> None:
    import socket

    stale = tmp_path / "harness-killedrun-db"
    stale.mkdir()
    (stale / "harness-owner").write_text(f"999999999 {socket.gethostname()}")
    live = tmp_path / "harness-liverun-db"
    live.mkdir()
    (live / "harness-owner").write_text(f"{os.getpid()} {socket.gethostname()}")
    env = environ(**NO_ENGINE, HARNESS_WORKDIR=str(tmp_path))

    def clean(*args: str) -> subprocess.CompletedProcess[str]:
        return harness("clean", *args, env=env, timeout=60)

    dry = clean("--dry-run")
    assert dry.returncode == 0 and f"would remove data folder {stale}" in dry.stdout, dry.stderr
    assert stale.is_dir()
    done = clean()
    assert done.returncode == 0 and "containers not checked" in done.stderr
    assert not stale.exists() and live.is_dir(), "a live run's folder is never touched"
