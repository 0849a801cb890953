"""Container tests need a real Docker engine and the local images (images/build.sh).

Outside CI they skip, saying why, when no engine answers or the images are missing; with
HARNESS_REQUIRE_DOCKER=1 (set by .ci/run) either is a failure, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.deps import cleanup, engine
from tests.conftest import ROOT

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
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_DEPS"}
    return {**env, **LOCAL_IMAGES, **extra}


def harness(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd,
        env=env or run_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def labelled(run_id: str | None = None) -> list[cleanup.Leftover]:
    """Containers and networks carrying the harness's labels (of one run, if given)."""
    client = engine.client()
    try:
        return cleanup.labelled(client, {cleanup.RUN: run_id} if run_id else None)
    finally:
        client.close()


def wait_unlabelled(run_id: str, timeout: float = 20.0) -> list[cleanup.Leftover]:
    deadline = time.monotonic() + timeout
    left = labelled(run_id)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = labelled(run_id)
    return left


def only_run(reports: Path) -> Path:
    runs = [p for p in reports.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]
