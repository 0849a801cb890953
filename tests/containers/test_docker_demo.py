"""The demo suite on real containers: the same verdicts as embedded, timed, and nothing left."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.containers.conftest import labelled, run_env, wait_unlabelled
from tests.helpers import harness, only_run, read_manifest


def run_demo(reports: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    proc = harness(
        "run", "--reports-dir", str(reports), "--no-progress", *args, env=run_env(), timeout=300
    )
    return proc, only_run(reports)


@pytest.fixture(scope="module")
def docker_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    # the db image by name on the command line (it beats HARNESS_IMAGE_POSTGRES), the
    # cache image from the environment
    proc, run_dir = run_demo(
        tmp_path_factory.mktemp("docker"), "--deps", "docker",
        "--image", "db=harness-local/postgres:15",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    return proc.stderr, run_dir


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    proc, run_dir = run_demo(tmp_path_factory.mktemp("embedded"), "--deps", "embedded")
    assert proc.returncode == 1, proc.stderr
    return run_dir


def verdicts(run_dir: Path) -> dict[tuple[str, str], str]:
    """case x check -> verdict; setup ids differ between databases, so only verdicts count."""
    frame = pd.read_parquet(run_dir / "results.parquet")
    return {(r.case_id, r.check_id): r.verdict for r in frame.itertuples()}


def test_docker_gives_the_same_verdicts_as_embedded(
    docker_run: tuple[str, Path], embedded_run: Path
) -> None:
    on_docker, on_embedded = verdicts(docker_run[1]), verdicts(embedded_run)
    assert len(on_docker) > 100
    assert on_docker == on_embedded
    assert {"pass", "fail"} <= set(on_docker.values())


def test_a_normal_run_leaves_no_container_or_network(docker_run: tuple[str, Path]) -> None:
    assert not wait_unlabelled(docker_run[1].name, timeout=5)


def test_time_to_ready_image_and_version_are_in_the_summary(docker_run: tuple[str, Path]) -> None:
    stderr, run_dir = docker_run
    assert "dependencies via docker (--deps asked for docker)" in stderr
    assert "✓ db (postgres) ready in " in stderr
    assert "via docker (harness-local/postgres:15): PostgreSQL 15." in stderr
    assert "✓ cache (redis) ready in " in stderr and "Redis 7.0" in stderr
    manifest = read_manifest(run_dir)
    deps = {d["name"]: d for d in manifest["dependencies"]}
    assert deps["db"]["provider"] == "docker"
    assert deps["db"]["source"] == "harness-local/postgres:15"
    assert deps["db"]["version"].startswith("PostgreSQL 15.")
    assert deps["db"]["digest"].startswith("image id sha256:") and deps["db"]["ready_seconds"] > 0
    assert deps["db"]["extra"]["image_from"] == "--image db"
    assert deps["cache"]["extra"]["image_from"] == "HARNESS_IMAGE_REDIS"
    assert manifest["deps"]["chosen"] == "docker"
    summary = (run_dir / "summary.md").read_text()
    row = next(line for line in summary.splitlines() if line.startswith("| db |"))
    assert "docker" in row and "harness-local/postgres:15" in row and "sha256:" in row
    assert f"{deps['db']['ready_seconds']:.2f}" in row
    html = (run_dir / "report.html").read_text()
    assert "harness-local/postgres:15" in html and deps["db"]["digest"][:19] in html


def test_auto_picks_docker_when_an_engine_answers(tmp_path: Path) -> None:
    proc = harness(
        "run", "--reports-dir", str(tmp_path), "--no-progress", "-k", "express-refund",
        env=run_env(), timeout=300,
    )  # fmt: skip
    stderr = proc.stderr
    assert proc.returncode in (0, 1), stderr
    assert "dependencies via docker (auto: Docker engine" in stderr
    assert not wait_unlabelled(only_run(tmp_path).name, timeout=5)
    assert not [i for i in labelled() if i.run_id == only_run(tmp_path).name]


def test_auto_falls_back_to_embedded_when_an_image_cannot_be_had(tmp_path: Path) -> None:
    proc = harness(
        "run", "--image", "db=registry.invalid/nothing/pg:1",
        "--reports-dir", str(tmp_path), "--no-progress", "-k", "express-refund",
        env=run_env(), timeout=300,
    )  # fmt: skip
    stderr = proc.stderr
    assert proc.returncode in (0, 1), stderr
    assert "dependencies via embedded (auto: Docker engine" in stderr
    assert "image registry.invalid/nothing/pg:1 is not on it and cannot be pulled" in stderr
    assert "via embedded: PostgreSQL" in stderr


def test_an_image_that_cannot_be_pulled_is_exit_3_and_says_what_to_do(tmp_path: Path) -> None:
    proc = harness(
        "run", "--deps", "docker", "--image", "db=registry.invalid/nothing/pg:1",
        "--reports-dir", str(tmp_path), "--no-progress", "-k", "express-refund",
        env=run_env(), timeout=120,
    )  # fmt: skip
    stderr = proc.stderr
    assert proc.returncode == 3, stderr
    assert "image registry.invalid/nothing/pg:1 is not on this Docker engine and pulling" in stderr
    assert "--image db=REF" in stderr and "images/build.sh" in stderr
    assert not wait_unlabelled(only_run(tmp_path).name, timeout=5)
