"""A hunt of a suite whose vars are paired values (a choice of mappings) and made from setup
rows saves regression cases that `harness validate` accepts and `harness run` replays; a
broken regression file beside them is named and reported, and the rest of the suite runs.

The suite (tests/suites/booking) is a booking desk, not the refund demo: its agent reads
"2pm" as 02:00 with BOOKING_DEFECTS=twelve_hour."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.helpers import ROOT, environ, harness, read_manifest, run_id_of

BOOKING = ROOT / "tests" / "suites" / "booking"

#: as an earlier version could leave it: a value that reads as a generator, not a value
BROKEN = """id: broken
requirement: BK-001
requirements: [BK-001]
scenario: book-a-slot
check: booked-time
signature: BK-001|book-a-slot|booked-time|fail
seed: 1
vars:
  form: {faker: name}
"""


def booking_suite(root: Path) -> Path:
    """The booking suite in its own folder (a hunt writes its regressions there)."""
    dest = root / "booking"
    shutil.copytree(BOOKING, dest, ignore=shutil.ignore_patterns("regressions", ".hypothesis"))
    suite_file = dest / "suite.yaml"
    suite_file.write_text(suite_file.read_text().replace("path: [../../..]", f"path: [{ROOT}]"))
    return dest


def command(*args: str, reports: Path, defects: str) -> subprocess.CompletedProcess[str]:
    env = environ(HARNESS_DEPS="embedded", BOOKING_DEFECTS=defects)
    return harness(*args, "--no-progress", "--reports-dir", str(reports), env=env, timeout=300)


def test_a_hunt_saves_paired_values_that_validate_and_replay(tmp_path: Path) -> None:
    suite, reports = booking_suite(tmp_path), tmp_path / "reports"
    hunt = command("hunt", str(suite), "--budget", "20s", reports=reports, defects="twelve_hour")
    assert hunt.returncode == 1, hunt.stderr
    files = sorted((suite / "regressions").glob("*.yaml"))
    assert files, hunt.stderr
    saved = yaml.safe_load(files[0].read_text())  # plain YAML: any reader reads it
    assert saved["format"] == 2
    assert saved["vars"]["form"] == {"said": "2pm", "hm": "14:00"}  # shrunk to the one failing
    assert saved["types"]["setup"]["slot"]["day"] == "relative"

    valid = harness("validate", str(suite))
    assert valid.returncode == 0, valid.stderr
    assert f"{len(files)} regression case(s) replayable" in valid.stdout
    assert "warning" not in valid.stderr

    run = command("run", str(suite), reports=reports, defects="twelve_hour")
    assert run.returncode == 1, run.stderr
    assert f"known regressions: {len(files)} still failing, 0 now passing" in run.stderr

    # a broken file beside them: named, reported, and the rest of the suite still runs
    (suite / "regressions" / "broken.yaml").write_text(BROKEN)
    valid = harness("validate", str(suite))
    assert valid.returncode == 0, valid.stderr
    assert "broken.yaml:9:9: vars.form: a regression case holds concrete values" in valid.stderr

    fixed = command("run", str(suite), reports=reports, defects="")
    assert fixed.returncode == 1, fixed.stderr  # a known failure not replayed is no pass
    assert (
        f"known regressions: 0 still failing, {len(files)} now passing, "
        "1 file(s) cannot be replayed" in fixed.stderr
    )
    assert "regression file left out, it cannot be replayed" in fixed.stderr
    assert "broken.yaml:9:9" in fixed.stderr
    run_dir = reports / run_id_of(fixed)
    (left_out,) = read_manifest(run_dir)["unreadable_regressions"]
    assert left_out.endswith(
        "broken.yaml:9:9: vars.form: a regression case holds concrete values, not a value "
        "generator ({faker: ...}); write the value the case used"
    )
    summary = (run_dir / "summary.md").read_text()
    assert "1 file(s) cannot be replayed" in summary and "broken.yaml" in summary
    assert "broken.yaml:9:9" in (run_dir / "report.html").read_text()
    # the suite's own cases ran too: one per case of the scenario, each judged
    assert "BK-001" in fixed.stderr and "no case" not in fixed.stderr


def test_a_plain_hunt_says_it_is_the_plain_baseline(tmp_path: Path) -> None:
    """`--plain` draws plain random values: its opening note says so (it said the scenarios'
    boundaries and traps were searched first, which a plain hunt never does)."""
    suite, reports = booking_suite(tmp_path), tmp_path / "reports"
    hunt = command("hunt", str(suite), "--plain", "--budget", "3s", reports=reports, defects="")
    assert hunt.returncode == 0, hunt.stderr
    assert "plain random values for the" in hunt.stderr, hunt.stderr
    assert "searched first" not in hunt.stderr
    assert not list((suite / "regressions").glob("*.yaml"))  # a plain hunt saves nothing
