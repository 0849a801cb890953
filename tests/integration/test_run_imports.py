"""A plain `harness run` builds its reports without pandas (issue 16: pandas, numpy's and
pyarrow's ~430 modules cost a run 0.25-0.5 s of start-up): the reports come from plain rows,
the parquet files through pyarrow alone. `python -X importtime` lists every module the whole
process imported, up to its exit."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT, only_run

ECHO = ROOT / "tests" / "suites" / "echo"
HOLDS = ROOT / "tests" / "suites" / "holds"


def _imported(stderr: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"^import time:.*\|\s+(\S+)\s*$", stderr, re.M)}


def _run_importtime(
    reports: Path, suite: Path = ECHO, *options: str
) -> subprocess.CompletedProcess[str]:
    """`harness run` of a suite (the echo suite), its stderr with every module the process
    imported."""
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "harness", "run", str(suite), *options,
         "--reports-dir", str(reports), "--no-progress"],
        capture_output=True, text=True, timeout=180, cwd=ROOT,
    )  # fmt: skip


def test_a_plain_run_writes_every_report_without_importing_pandas(tmp_path: Path) -> None:
    done = _run_importtime(tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = _imported(done.stderr)
    assert "harness.report.build" in imported and "pyarrow.parquet" in imported  # it can fail
    assert not {m for m in imported if m == "pandas" or m.startswith("pandas.")}
    # nor the parts of a load's, a drift's or a faulted run's reports (about 30 ms)
    parts = ("load", "loadrender", "drift", "driftrender", "faults", "faultrender", "faultframe")
    assert not {f"harness.report.{p}" for p in parts} & imported
    # nor a fault proxy or an OTLP receiver: the echo suite has no faults and no traces
    for part in ("harness.faults.proxy", "harness.otel.receiver", "harness.otel.store"):
        assert part not in imported, part
    assert "harness.faults.toxics" in imported  # it can fail: the suite format's part is read
    run = only_run(tmp_path, done.stderr)
    for name in (
        "summary.md",
        "report.html",
        "junit.xml",
        "results.parquet",
        "reliability.parquet",
    ):
        assert (run / name).stat().st_size > 0, name


def test_a_suite_without_dependencies_says_so_and_imports_no_client_of_them(
    tmp_path: Path,
) -> None:
    checked = subprocess.run(
        [sys.executable, "-m", "harness", "validate", str(ECHO)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert checked.returncode == 0 and "no dependencies (nothing to start)" in checked.stdout
    done = _run_importtime(tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "the suite declares no dependencies: nothing to start" in done.stderr
    imported = {m.split(".")[0] for m in _imported(done.stderr)}
    for client in ("docker", "testcontainers", "psycopg", "redis", "requests"):
        assert client not in imported, client


def test_a_suite_with_postgres_alone_imports_no_redis_client(tmp_path: Path) -> None:
    # the holds suite's one dependency is PostgreSQL: its client loads, Redis's never does
    # (the embedded provider, the external provider's guard and the harness's own clients
    # each import a kind's library only for a dependency of that kind)
    done = _run_importtime(tmp_path, HOLDS, "--deps", "embedded")
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {m.split(".")[0] for m in _imported(done.stderr)}
    assert "psycopg" in imported  # it can fail: the run did use its database
    for client in ("redis", "docker", "testcontainers"):
        assert client not in imported, client
