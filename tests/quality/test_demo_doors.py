"""The demo suite played through the demo agent's conversation API and its OpenAI-compatible
endpoint (both streamed) finds what it finds through POST /chat: the same failing requirements
and scenarios with the defects on, nothing with them off. So a planted defect is the desk's,
whichever door a customer uses, and suites of those doors (scenarios/refund_desk_sessions,
scenarios/refund_desk_openai) can be judged against the /chat suite's results.

The harness reaches the doors through a python-adapter callable (tests/agents/demo_doors.py)
while it starts the real agent process; no harness support beyond today's is needed.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import ROOT, copy_demo, environ, harness, only_run

DOORS = ("conversation", "openai")


def through(root: Path, door: str) -> Path:
    """The demo suite copied under root, its agent reached through `door`."""
    suite = copy_demo(root)
    text = (suite / "suite.yaml").read_text()
    text = text[: text.index("\n# harness load")] + "\n"  # load needs an http agent
    agent = (
        "    python:\n"
        "      callable: tests.agents.demo_doors:send\n"
        f"      path: [{ROOT}]\n"
        "      env:\n"
        f"        DEMO_DOOR: {door}\n"
        '        DEMO_URL: "http://127.0.0.1:{{ agent.port }}"\n'
        "      timeout: 15\n"
    )
    text, n = re.subn(r"    http:\n(?:      .*\n)+", agent, text)
    assert n == 1
    (suite / "suite.yaml").write_text(text)
    return suite


def run(suite: Path, reports: Path, defects: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    proc = harness(
        "run", str(suite), "--reports-dir", str(reports), "--no-progress",
        env=environ(REFUND_DESK_DEFECTS=defects), timeout=300,
    )  # fmt: skip
    return proc, only_run(reports, proc.stderr)


def failing(run_dir: Path) -> tuple[set[str], set[tuple[str, str]]]:
    df = pd.read_parquet(run_dir / "results.parquet")
    bad = df[df["verdict"] != "pass"]
    reqs = {r for cell in bad["requirements"] for r in cell.split(",")}
    return reqs, set(zip(bad["case_id"], bad["check_id"], strict=True))


@pytest.fixture(scope="module")
def through_chat(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], set[tuple[str, str]]]:
    proc, run_dir = run(
        ROOT / "scenarios" / "refund_desk", tmp_path_factory.mktemp("chat") / "r", "all"
    )
    assert proc.returncode == 1, proc.stderr
    return failing(run_dir)


@pytest.mark.parametrize("door", DOORS)
def test_defects_diverge_the_same_through_every_door(
    tmp_path: Path, door: str, through_chat: tuple[set[str], set[tuple[str, str]]]
) -> None:
    proc, run_dir = run(through(tmp_path / "repo", door), tmp_path / "reports", "all")
    assert proc.returncode == 1, proc.stderr
    reqs, checks = failing(run_dir)
    assert (reqs, checks) == through_chat
    df = pd.read_parquet(run_dir / "results.parquet")
    assert set(df["verdict"]) == {"pass", "fail"}  # no door error hides as a verdict


@pytest.mark.parametrize("door", DOORS)
def test_the_correct_agent_passes_through_every_door(tmp_path: Path, door: str) -> None:
    proc, run_dir = run(through(tmp_path / "repo", door), tmp_path / "reports", "none")
    assert proc.returncode == 0, proc.stderr
    assert set(pd.read_parquet(run_dir / "results.parquet")["verdict"]) == {"pass"}
