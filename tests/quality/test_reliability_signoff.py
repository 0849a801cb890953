"""Trials, sign-off, comparison and trend on real runs of the demo suite.

The nondeterministic defect must show pass@1 near 0.9 with pass^5 far lower and its
flaky cases listed; the correct agent must be reliable (every pass^5 is 1.0) and
GO; the planted defects must be NO-GO, naming each failing gate and requirement; a
requirement without a check must fail coverage; a comparison must list every
requirement that got worse, and nothing beyond noise between two correct runs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import DEMO, ROOT, copy_demo, environ, harness, read_manifest, run_id_of

POLICY = DEMO / "policy.yaml"
# what the deterministic defects always break (tests/quality/test_demo_suite.py); generated
# scenarios may add more, so tests compare with what the run itself shows failing
BROKEN_BY_ALL = {"RD-001", "RD-002", "RD-003", "RD-004", "RD-005", "RD-006"}


def demo(*args: str, defects: str = "none", cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """harness ARGS with the demo agent's defects set, on embedded servers."""
    env = environ(REFUND_DESK_DEFECTS=defects, HARNESS_DEPS="embedded")
    return harness(*args, env=env, cwd=cwd, timeout=300)


def run_demo(reports: Path, defects: str, *args: str, cwd: Path = ROOT) -> tuple[str, Path]:
    proc = demo(
        "run", *args, "--reports-dir", str(reports), "--no-progress", defects=defects, cwd=cwd
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stderr, reports / run_id_of(proc)


class Runs:
    def __init__(self, reports: Path) -> None:
        self.reports = reports
        self.off_log, self.off = run_demo(reports, "none", "--trials", "5")
        _, self.off_again = run_demo(reports, "none", "--trials", "5")
        self.on_log, self.on = run_demo(reports, "all", "--trials", "5")
        # one refund request per case, so RD-004's per-trial pass rate is the misread rate's
        # complement; 60 cases x 5 trials keep the assertions below failing less than
        # once in 10^4 runs (by simulation of the binomial outcomes)
        self.flaky_log, self.flaky = run_demo(
            reports, "flaky_misread", "-k", "partial-refund", "--repeat", "60", "--trials", "5"
        )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return Runs(tmp_path_factory.mktemp("reports"))


def requirement_rows(run_dir: Path) -> pd.DataFrame:
    table = pd.read_parquet(run_dir / "reliability.parquet")
    return table[table["scope"] == "requirement"].set_index("requirement")


def failing_requirements(run_dir: Path) -> set[str]:
    df = pd.read_parquet(run_dir / "results.parquet")
    return {r for cell in df.loc[df["verdict"] != "pass", "requirements"] for r in cell.split(",")}


def test_flaky_defect_shows_pass_at_1_near_09_and_pass_5_far_lower(runs: Runs) -> None:
    rd004 = requirement_rows(runs.flaky).loc["RD-004"]
    assert (rd004["cases"], rd004["trials"], rd004["k"]) == (60, 300, 5)
    assert 0.78 <= rd004["pass_at_1"] <= 0.98, rd004["pass_at_1"]
    assert rd004["pass_hat_k"] < 0.85 and rd004["pass_hat_k"] <= rd004["pass_at_1"] - 0.1
    assert rd004["pass_at_1_low"] < rd004["pass_at_1"] < rd004["pass_at_1_high"]
    # the flaky cases, listed in the parquet, the CLI summary and both reports
    cases = pd.read_parquet(runs.flaky / "reliability.parquet")
    flaky = cases[(cases["scope"] == "case") & (cases["flaky"] == 1)]
    assert len(flaky) >= 5 and all("P" in o and "F" in o for o in flaky["outcomes"])
    first = flaky["case_id"].iloc[0]
    assert f"{len(flaky)} flaky case(s)" in runs.flaky_log and first in runs.flaky_log
    md = (runs.flaky / "summary.md").read_text()
    assert "## Reliability over 5 trials per case" in md and f"`{first}`" in md
    assert "Wilson" in md  # the report says which interval method it used
    html = (runs.flaky / "report.html").read_text()
    assert "Flaky cases" in html and first in html


def test_correct_agent_is_reliable_every_pass_5_is_one(runs: Runs) -> None:
    rows = requirement_rows(runs.off)
    assert len(rows) == 15 and (rows["cases"] > 0).all()
    assert (rows["pass_hat_k"] == 1.0).all() and (rows["pass_at_1"] == 1.0).all()
    assert (rows["flaky"] == 0).all()
    assert "None: every case passed in all its trials" in (runs.off / "summary.md").read_text()


def test_signoff_is_go_with_defects_off(runs: Runs) -> None:
    proc = demo(
        "signoff", runs.off.name, "--policy", str(POLICY), "--reports-dir", str(runs.reports)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("verdict: GO")
    verdict = json.loads((runs.off / "signoff.json").read_text())
    status = {g["name"]: g["status"] for g in verdict["gates"]}
    assert status == {
        "complete": "pass",
        "reliability": "pass",
        "capability": "pass",
        "invariants": "pass",
        "regressions": "pass",
        "coverage": "pass",
        "load": "not measured",  # optional in the demo policy: said, and does not block
        "drift": "not measured",  # likewise: no drift run in the group
        "faults": "not measured",  # likewise: no faulted run in the group
    }
    md = (runs.off / "signoff.md").read_text()
    assert "## Verdict: **GO**" in md and "## Traceability" in md
    manifest = read_manifest(runs.off)
    assert manifest["spec_hash"] in md and f"cases {manifest['seed']}" in md
    assert "PostgreSQL" in md and "Redis" in md  # the dependencies' versions
    html = (runs.off / "signoff.html").read_text()
    assert ">GO</span>" in html and "Content-Security-Policy" in html


def test_signoff_is_no_go_with_defects_on_naming_each_gate_and_requirement(runs: Runs) -> None:
    proc = demo(
        "signoff", runs.on.name, "--policy", str(POLICY), "--reports-dir", str(runs.reports)
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("verdict: NO-GO")
    broken = failing_requirements(runs.on)
    assert broken >= BROKEN_BY_ALL
    manifest = read_manifest(runs.on)
    minor = {r["id"] for r in manifest["requirements"] if r["severity"] == "minor"}
    gates = {g["name"]: g for g in json.loads((runs.on / "signoff.json").read_text())["gates"]}
    assert {n for n, g in gates.items() if g["blocking"]} == {
        "reliability",
        "capability",
        "invariants",
    }
    assert set(gates["reliability"]["requirements"]) == broken
    assert set(gates["capability"]["requirements"]) == broken - minor  # no minimum for minor
    assert gates["invariants"]["requirements"] == ["RD-002"]  # VIPs skip compliance
    for rid in broken:
        assert f"{rid} (" in proc.stderr
    md = (runs.on / "signoff.md").read_text()
    assert "## Verdict: **NO-GO**" in md and "Why not GO:" in md
    # the traceability matrix links each failing check to its evidence, which is there
    assert "[ev-1](#ev-1)" in md and '<a id="ev-1"></a>' in md
    html = (runs.on / "signoff.html").read_text()
    assert 'href="#ev-1"' in html and 'id="ev-1"' in html


def test_requirement_without_a_check_is_uncovered_and_fails_coverage(tmp_path: Path) -> None:
    dest = copy_demo(tmp_path)
    spec = dest / "spec.yaml"
    spec.write_text(
        spec.read_text()
        + """
  - id: RD-099
    title: Refunds are paid to the original payment method
    severity: major
    text: A refund goes back to the card or account the order was paid with.
"""
    )
    reports = tmp_path / "reports"
    _, run_dir = run_demo(reports, "none", str(dest), cwd=tmp_path)
    proc = demo(
        "signoff",
        run_dir.name,
        "--policy",
        str(dest / "policy.yaml"),
        "--reports-dir",
        str(reports),
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    gates = {g["name"]: g for g in json.loads((run_dir / "signoff.json").read_text())["gates"]}
    assert gates["coverage"]["status"] == "fail" and gates["coverage"]["blocking"]
    assert gates["coverage"]["requirements"] == ["RD-099"]
    assert "RD-099: no check or invariant names it" in proc.stderr
    md = (run_dir / "signoff.md").read_text()
    assert "### Requirements no check covers\n\n- RD-099\n" in md
    assert "**RD-099** (major)" in md and "**no check names it**" in md
    assert "no check names it" in (run_dir / "signoff.html").read_text()


def test_compare_lists_every_requirement_that_got_worse_new_failures_first(runs: Runs) -> None:
    proc = demo("compare", runs.off.name, runs.on.name, "--reports-dir", str(runs.reports))
    assert proc.returncode == 1, proc.stderr  # new failures
    text = proc.stdout
    sections = [
        text.index(h) for h in ("## New failures", "## Fixed", "## Newly flaky", "## Metric")
    ]
    assert sections == sorted(sections)
    assert "## Fixed (0)" in text
    worse_line = next(line for line in text.splitlines() if line.startswith("Worse:"))
    listed = {
        part.strip(" .") for part in worse_line.split(";")[0].removeprefix("Worse:").split(",")
    }
    broken = failing_requirements(runs.on)
    assert listed == broken and broken >= BROKEN_BY_ALL
    new = text[: text.index("## Fixed")]
    flaky = text[text.index("## Newly flaky") : text.index("## Flaky before")]
    for rid in broken:
        assert f"| ▼ {rid} |" in text
        # each has a new failure listed before anything else, or, where a fault scenario's
        # timing let some of its trials pass (RD-014 under CI load), a newly flaky case
        assert rid in new or rid in flaky, rid


def test_compare_of_two_correct_runs_finds_nothing_beyond_noise(runs: Runs) -> None:
    proc = demo("compare", runs.off.name, runs.off_again.name, "--reports-dir", str(runs.reports))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "## New failures (0)" in proc.stdout and "## Newly flaky (0)" in proc.stdout
    assert "Worse: none; beyond noise: none." in proc.stdout
    assert "| yes |" not in proc.stdout


def test_compare_goes_red_when_the_agent_becomes_unreliable(runs: Runs) -> None:
    proc = demo("compare", runs.off.name, runs.flaky.name, "--reports-dir", str(runs.reports))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    flaky = int(proc.stdout.split("## Newly flaky (")[1].split(")")[0])
    assert flaky >= 5 and f"{flaky} newly flaky check(s)" in proc.stderr


def test_trend_draws_pass_at_1_and_pass_k_per_requirement_self_contained(runs: Runs) -> None:
    out = runs.reports / "trend.html"
    proc = demo(
        "trend", "refund_desk", "--last", "2", "--out", str(out), "--reports-dir", str(runs.reports)
    )
    assert proc.returncode == 0, proc.stderr
    html = out.read_text()
    assert html.count("<svg") == 15 and "pass^5" in html
    for run_dir in (runs.off_again, runs.on):  # the last two of the whole suite
        assert f"<td>{run_dir.name}</td>" in html
    assert runs.off.name not in html
    # the flaky run judged only -k partial-refund: left out, and said so
    assert f"{runs.flaky.name}: judged only part of the suite (-k partial-refund)" in html
    assert f"left out: {runs.flaky.name}" in proc.stderr
    assert "<script" not in html and 'src="http' not in html and 'href="http' not in html
