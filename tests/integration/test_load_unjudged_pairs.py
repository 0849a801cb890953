"""A load profile's duplicate pairs are judged by the invariants scoped to the rows they share
alone. In a suite with none (the seats suite: a desk that books seats, no invariant), a race
could not be seen, yet the pairs counted as passes: `harness validate` and `harness load` now
warn, and the pairs' conversations are counted as judged by nothing, not as passes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import ROOT, harness, only_run, read_manifest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PROFILE = """
load:
  profiles:
    pairs: {shape: stages, stages: [{duration: 3s, users: 4}], duplicates: 0.5}
"""


def test_pairs_no_invariant_covers_are_warned_of_and_not_counted_as_passes(
    tmp_path: Path,
) -> None:
    suite = tmp_path / "suites" / "seats"  # the agent at ../../agents, as in the tree
    shutil.copytree(ROOT / "tests" / "suites" / "seats", suite)
    (tmp_path / "agents").mkdir()
    shutil.copy(ROOT / "tests" / "agents" / "seats_agent.py", tmp_path / "agents")
    (suite / "suite.yaml").write_text((suite / "suite.yaml").read_text() + PROFILE)
    warned = "load profile pairs sends 50% of cases as duplicate pairs"

    valid = harness("validate", str(suite))
    assert valid.returncode == 0, valid.stderr
    assert warned in valid.stderr and "scenario(s) seat-remembered" in valid.stderr

    reports = tmp_path / "reports"
    done = harness("load", str(suite), "--profile", "pairs", "--no-progress",
                   "--reports-dir", str(reports), timeout=240)  # fmt: skip
    assert warned in done.stderr, done.stderr
    folder = only_run(reports, done.stderr)
    manifest = read_manifest(folder)
    assert any(w.startswith(warned) for w in manifest["suite_warnings"])
    counts = manifest["load"]["counts"]
    assert counts["pairs"] > 0 and counts["unjudged"] == 2 * counts["pairs"], counts
    # the judged and passed conversations are the single ones; the pairs are in neither
    assert counts["judged"] == counts["passed"] + counts["failed"] + counts["errored"], counts
    # nor does any load level count them: no verdict is no pass ("pass 100.0%" counted them)
    levelled = sum(level["trials"] for level in manifest["levels"])
    assert 0 < levelled <= counts["judged"], (manifest["levels"], counts)
    summary = (folder / "summary.md").read_text()
    assert f"{counts['unjudged']} conversation(s) of duplicate pairs judged by nothing" in summary
    assert "Warnings about the suite" in summary
