"""How the docker provider decides a container is ready, on the real engine: each wait strategy of
a generic container (log, port, http with its exact status, command as a list or a string),
and PostgreSQL images that keep their data where the 18+ official images do."""

from __future__ import annotations

import asyncio
import base64
import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.deps import engine
from harness.deps.docker import DockerProvider
from harness.deps.images import ImageChoice
from harness.errors import DependencyError
from harness.spec.models import ContainerDependency, PostgresDependency
from tests.containers.conftest import BASE_IMAGE, LOCAL_IMAGES, labelled

#: a server that comes up one second after the container starts
LATE_HTTPD = "sleep 1; echo ready; exec busybox httpd -f -p 8080 -h /www"


def start(tmp_path: Path, dep: Any, image: str = BASE_IMAGE) -> tuple[str, float]:
    """Start `dep` as dependency 'svc', stop it again; its run id and time to ready."""
    run_id = f"waits-{uuid.uuid4().hex[:8]}"
    provider = DockerProvider(
        {"svc": ImageChoice(image, "test")}, engine_info=engine.probe(), suite_root=tmp_path
    )

    async def up_and_down() -> float:
        running = await provider.start("svc", dep, run_id=run_id, workdir=tmp_path)
        try:
            return running.info.ready_seconds
        finally:
            await running.stop()

    try:
        return run_id, asyncio.run(up_and_down())
    finally:
        assert not labelled(run_id), "the test's container outlived it"


def service(wait: dict[str, Any] | None, command: str = LATE_HTTPD, **extra: Any) -> Any:
    return ContainerDependency.model_validate(
        {"kind": "container", "image": BASE_IMAGE, "command": ["sh", "-c", command],
         "ports": [8080], "volumes": [{"host": "www", "container": "/www"}],
         **({"wait": wait} if wait is not None else {}), **extra}
    )  # fmt: skip


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "answer.txt").write_text("approved\n")
    return tmp_path


@pytest.mark.parametrize(
    "wait",
    [
        {"log": "^ready$"},
        {"port": 8080},
        {"http": {"path": "/answer.txt"}},
        {"http": {"path": "/missing.txt", "status": 404}},
        {"command": ["test", "-e", "/tmp/started"]},
        # a string runs through sh -c: the && would be no executable's name
        {"command": "test -e /tmp/started && test -d /www"},
    ],
    ids=["log", "port", "http", "http-404", "command-list", "command-string"],
)
def test_each_wait_holds_until_the_service_is_there(site: Path, wait: dict[str, Any]) -> None:
    command = "sleep 1; touch /tmp/started; echo ready; exec busybox httpd -f -p 8080 -h /www"
    _, seconds = start(site, service({**wait, "timeout": 20}, command))
    assert seconds >= 1.0, "ready before the service was"


@pytest.mark.parametrize(
    ("wait", "why"),
    [
        # the server answers 200; a wait for 204 must not take that (testcontainers adds
        # the expected status to its default 200)
        (
            {"http": {"path": "/answer.txt", "status": 204}},
            r"(readiness check|not ready within).*its wait last saw: HTTP 200",
        ),
        ({"command": "test -e /never"}, r"readiness check|not ready within"),
    ],
    ids=["http-exact-status", "command-string-failing"],
)
def test_a_wait_that_never_holds_is_a_dependency_error(
    site: Path, wait: dict[str, Any], why: str
) -> None:
    with pytest.raises(DependencyError, match=why) as caught:
        start(site, service({**wait, "timeout": 2}))
    assert "raise environment.dependencies.svc.wait.timeout (now 2 s)" in str(caught.value)


def test_ready_timeout_applies_when_the_wait_gives_none(site: Path) -> None:
    dep = service({"log": "^never$"}, "echo starting; sleep 30", ready_timeout=2)
    with pytest.raises(DependencyError, match=r"not ready within 2s|readiness check") as caught:
        start(site, dep)
    assert "raise environment.dependencies.svc.ready_timeout (now 2 s)" in str(caught.value)


@pytest.fixture(scope="module")
def postgres_18_layout() -> Iterator[str]:
    """The local PostgreSQL image with the data layout of the official 18+ images: PGDATA
    defaults to /var/lib/postgresql/18/docker, and a mount at the old path while PGDATA is
    left at that default is refused, as the official entrypoint does."""
    tag = f"harness-test/postgres-18-layout:{uuid.uuid4().hex[:8]}"
    refusal = (
        "#!/bin/sh\n"
        'if [ "$PGDATA" != /var/lib/postgresql/data ] && '
        "grep -qs ' /var/lib/postgresql/data ' /proc/mounts; then\n"
        "  echo 'Error: in 18+, these Docker images are configured to store database data in "
        "a format which is compatible with pg_ctlcluster; there appears to be PostgreSQL data "
        "in: /var/lib/postgresql/data (unused mount/volume)' >&2; exit 1\n"
        "fi\n"
        'exec /usr/local/bin/docker-entrypoint.sh "$@"\n'
    )
    script = base64.b64encode(refusal.encode()).decode()
    dockerfile = (
        f"FROM {LOCAL_IMAGES['HARNESS_IMAGE_POSTGRES']}\n"
        "ENV PGDATA=/var/lib/postgresql/18/docker\n"
        f"RUN echo {script} | base64 -d > /usr/local/bin/pg18.sh\n"
        "RUN chmod 755 /usr/local/bin/pg18.sh\n"
        'ENTRYPOINT ["/usr/local/bin/pg18.sh"]\nCMD ["postgres"]\n'
    )
    client = engine.client()
    try:
        client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
        yield tag
    finally:
        client.images.remove(tag, force=True)
        client.close()


def test_postgres_with_the_18_data_layout_starts(postgres_18_layout: str, tmp_path: Path) -> None:
    dep = PostgresDependency(kind="postgres", database="app")
    _, seconds = start(tmp_path, dep, postgres_18_layout)
    assert seconds > 0
