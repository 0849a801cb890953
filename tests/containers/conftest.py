"""Container tests need a real Docker engine and the local images (images/build.sh).

Outside CI they skip, saying why, when no engine answers or the images are missing; with
HARNESS_REQUIRE_DOCKER=1 (set by .ci/run) either is a failure, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from harness.deps import cleanup, engine
from tests.helpers import environ, poll

REQUIRED = os.environ.get("HARNESS_REQUIRE_DOCKER") == "1"
#: the suite's images mapped to the ones images/build.sh makes, through the override mechanism
LOCAL_IMAGES = {
    "HARNESS_IMAGE_POSTGRES": "harness-local/postgres:15",
    "HARNESS_IMAGE_REDIS": "harness-local/redis:7",
}
BASE_IMAGE = "harness-local/base:bookworm"


def _unusable(why: str) -> None:
    if REQUIRED:
        pytest.fail(f"HARNESS_REQUIRE_DOCKER=1 but {why}", pytrace=False)
    pytest.skip(
        f"{why}; container tests need it (run images/engine.sh once: it starts dockerd and "
        "builds the local images)"
    )


@pytest.fixture(scope="session", autouse=True)
def docker_engine() -> Iterator[engine.Engine]:
    found = engine.probe(timeout=5)
    if not found.answers:
        _unusable(found.describe())
    client = engine.client()
    try:
        missing = []
        for ref in [*LOCAL_IMAGES.values(), BASE_IMAGE]:
            try:
                client.images.get(ref)
            except Exception:
                missing.append(ref)
    finally:
        client.close()
    if missing:
        _unusable(f"the local images {', '.join(missing)} are missing")
    yield found


def run_env(**extra: str) -> dict[str, str]:
    """The environment of a harness subprocess: local images, no inherited provider choice."""
    return environ(drop=["HARNESS_DEPS"], **{**LOCAL_IMAGES, **extra})


def labelled(run_id: str | None = None) -> list[cleanup.Leftover]:
    """Containers and networks carrying the harness's labels (of one run, if given)."""
    client = engine.client()
    try:
        return cleanup.labelled(client, {cleanup.RUN: run_id} if run_id else None)
    finally:
        client.close()


def wait_unlabelled(run_id: str, timeout: float = 20.0) -> list[cleanup.Leftover]:
    return poll(lambda: labelled(run_id), until=lambda left: not left, timeout=timeout, every=0.2)
