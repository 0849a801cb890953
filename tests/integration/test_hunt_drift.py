"""A hunt searches a drift scenario's length and shrinks a failure to the shortest
conversation that still fails; the regression case it saves replays at that length.

The agent (tests/agents/seats_agent.py, a real HTTP process over PostgreSQL) books a seat of
the kind the traveller asked for; SEATS_MODE=short_memory keeps only the traveller's last 10
messages. With the preference said first (position start) and L filler turns before the
booking, the booking is message L + 2 and the preference falls out of memory from L = 9 on;
with the preference in the middle of the filler, from L = 17 on. Neither is on the
scenario's grid of lengths (0, 2, 4, 8, 16, 32)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.helpers import ROOT, environ, harness, read_manifest, run_id_of

SEATS = ROOT / "tests" / "suites" / "seats"
#: the shortest failing length at each position, from the agent's memory of 10 messages
SHORTEST = {"start": 9, "middle": 17}


def seats_suite(root: Path) -> Path:
    """The suite and its agent in a folder of their own (a hunt writes its regressions there)."""
    dest = root / "suites" / "seats"
    shutil.copytree(SEATS, dest, ignore=shutil.ignore_patterns("regressions", ".hypothesis"))
    (root / "agents").mkdir()
    shutil.copy(ROOT / "tests" / "agents" / "seats_agent.py", root / "agents" / "seats_agent.py")
    return dest


def command(*args: str, reports: Path, mode: str) -> subprocess.CompletedProcess[str]:
    env = environ(HARNESS_DEPS="embedded", SEATS_MODE=mode)
    quiet = () if args[0] == "replay" else ("--no-progress",)
    return harness(*args, *quiet, "--reports-dir", str(reports), env=env, timeout=300)


def test_a_hunt_saves_a_drift_failure_at_its_shortest_failing_length(tmp_path: Path) -> None:
    suite, reports = seats_suite(tmp_path), tmp_path / "reports"
    hunt = command(
        "hunt", str(suite), "--budget", "20s", "--seed", "3", reports=reports, mode="short_memory"
    )
    assert hunt.returncode == 1, hunt.stderr
    (path,) = sorted((suite / "regressions").glob("*.yaml"))
    saved = yaml.safe_load(path.read_text())
    position = saved["position"]
    assert saved["length"] == SHORTEST[position], path.read_text()
    assert saved["found"]["longest_passing_length"] == SHORTEST[position] - 1
    assert saved["found"]["found_at_length"] >= saved["length"]
    assert "flaky" not in saved  # the agent is steady: every confirmation failed
    # the evidence is the conversation at that length: the preference, 9 filler, the booking
    assert len(saved["evidence"]["turns"]) == saved["length"] + 2
    assert saved["evidence"]["found"][0]["seat_kind"] == "middle"
    (found,) = read_manifest(reports / run_id_of(hunt))["found"]
    assert (found["length"], found["position"]) == (saved["length"], position)
    assert f"shortest failing length {saved['length']}" in hunt.stderr

    valid = harness("validate", str(suite))
    assert valid.returncode == 0 and "1 regression case(s) replayable" in valid.stdout

    # a later run replays the saved case at that length first, and it still fails
    run = command("run", str(suite), reports=reports, mode="short_memory")
    assert run.returncode == 1, run.stderr
    assert "known regressions: 1 still failing, 0 now passing" in run.stderr
    records = [
        json.loads(line)
        for line in (reports / run_id_of(run) / "cases.jsonl").read_text().splitlines()
    ]
    (replayed,) = [r for r in records if r["case"]["origin"] == "regression"]
    assert (replayed["case"]["length"], replayed["case"]["position"]) == (
        saved["length"],
        position,
    )
    turns = replayed["observation"]["turns"]
    assert len(turns) == saved["length"] + 2
    assert [t["text"] for t in turns] == saved["evidence"]["turns"]  # the same conversation
    assert sum(1 for t in turns if str(t["source"]).startswith("filler:")) == saved["length"]
    assert {c["verdict"] for c in replayed["checks"]} == {"fail"}
    # the suite's own cases play the shortest length, which the window does not reach
    assert all(
        {c["verdict"] for c in r["checks"]} == {"pass"}
        for r in records
        if r["case"]["origin"] != "regression"
    )

    # fixed, it passes
    fixed = command("run", str(suite), reports=reports, mode="correct")
    assert fixed.returncode == 0, fixed.stderr
    assert "known regressions: 0 still failing, 1 now passing" in fixed.stderr


def test_a_case_replays_at_the_point_its_id_names(tmp_path: Path) -> None:
    suite, reports = seats_suite(tmp_path), tmp_path / "reports"
    below = command(
        "replay", "seat-remembered#2@8", str(suite), reports=reports, mode="short_memory"
    )
    assert below.returncode == 0, below.stderr
    at = command("replay", "seat-remembered#2@9", str(suite), reports=reports, mode="short_memory")
    assert at.returncode == 1, at.stderr
    assert "a middle seat" in at.stderr
    middle = command(
        "replay", "seat-remembered#2@16-middle", str(suite), reports=reports, mode="short_memory"
    )
    assert middle.returncode == 0, middle.stderr
    typo = command("replay", "seat-remembered#2@9-midle", str(suite), reports=reports, mode="")
    assert typo.returncode == 2
    assert "did you mean" in typo.stderr and "@LENGTH" in typo.stderr


def test_a_hunt_bounded_below_the_window_finds_nothing(tmp_path: Path) -> None:
    suite, reports = seats_suite(tmp_path), tmp_path / "reports"
    hunt = command(
        "hunt", str(suite), "--budget", "20s", "--max-length", "8", reports=reports,
        mode="short_memory",
    )  # fmt: skip
    assert hunt.returncode == 0, hunt.stderr
    assert not list((suite / "regressions").glob("*.yaml"))
    assert read_manifest(reports / run_id_of(hunt))["max_length"] == 8
