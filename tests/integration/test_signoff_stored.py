"""harness signoff on small real runs: policy errors are exit 2 with file:line:col, agent text
is escaped, unmeasured gates block unless optional, and the runs of a group are reported."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import orjson

from tests.helpers import environ, harness, http_agent, python_agent, read_manifest, run_id_of

POLICY = """\
title: Test release
k: 2
gates:
  reliability: {critical: 0.9, major: 0.9}
  coverage: true
  load: true
"""


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return harness(*args, env=environ(HARNESS_DEPS="embedded", **env))


def start(suite: Path, reports: Path, *args: str) -> Path:
    proc = cli("run", str(suite), "--reports-dir", str(reports), "--no-progress", *args)
    assert proc.returncode in (0, 1), proc.stderr
    return reports / run_id_of(proc)


def signoff(run: Path, policy: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    proc = cli(
        "signoff", run.name, "--policy", str(policy), "--reports-dir", str(run.parent), *args
    )
    data = json.loads((run / "signoff.json").read_text()) if proc.returncode in (0, 1) else {}
    return proc, {g["name"]: g for g in data.get("gates", [])}


def test_a_broken_policy_is_exit_2_with_file_line_column_and_a_suggestion(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text(
        "title: t\ngates:\n  reliability:\n    critcal: 0.99\n    major: 1.5\n  coverge: true\n"
    )
    proc = cli("signoff", "whatever", "--policy", str(bad), "--reports-dir", str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert (
        "policy.yaml:4:5: gates.reliability.critcal: unknown key 'critcal' (did you mean "
        "'critical'?)" in proc.stderr
    )
    assert (
        "policy.yaml:5:12: gates.reliability.major: input should be less than or equal to 1"
        in proc.stderr
    )
    assert "gates.coverge: unknown key 'coverge' (did you mean 'coverage'?)" in proc.stderr
    bad.write_text("title: t\ngates: {}\n")
    proc = cli("signoff", "whatever", "--policy", str(bad), "--reports-dir", str(tmp_path))
    assert proc.returncode == 2 and "no gate is switched on" in proc.stderr
    proc = cli("signoff", "whatever", "--policy", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 2 and "no such policy file" in proc.stderr
    good = tmp_path / "good.yaml"
    good.write_text(POLICY)
    proc = cli("signoff", "nope", "--policy", str(good), "--reports-dir", str(tmp_path))
    assert proc.returncode == 2 and "no run 'nope'" in proc.stderr


def test_agent_text_is_escaped_and_unmeasured_gates_block(
    tmp_path: Path, make_suite: Callable[..., Path]
) -> None:
    suite = make_suite(python_agent("script"), repeat=2)
    run = start(suite, tmp_path / "reports", "--trials", "2")
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    proc, gates = signoff(run, policy)
    assert proc.returncode == 1, proc.stderr
    assert gates["reliability"]["status"] == "fail"
    assert set(gates["reliability"]["requirements"]) == {"T-001", "T-002"}
    assert gates["load"]["status"] == "not measured" and gates["load"]["blocking"]
    html = (run / "signoff.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    md = (run / "signoff.md").read_text()
    assert "```text\n<script>alert(1)</script> refund issued\n```" in md
    assert "<script>alert(1)" not in md.replace("```text\n<script>alert(1)</script>", "")
    # fewer trials than the policy's k: pass^k is not measured, and says why
    policy.write_text(POLICY.replace("k: 2", "k: 3").replace("  load: true\n", ""))
    proc, gates = signoff(run, policy)
    assert gates["reliability"]["status"] == "not measured" and gates["reliability"]["blocking"]
    assert any(
        "needs 3 trials per case, the run has 2" in f for f in gates["reliability"]["findings"]
    )


def pdf_text(path: Path) -> tuple[str, str]:
    """The PDF's text, and every character drawn beyond the left or right edge of its page."""
    from pdfminer.high_level import extract_pages, extract_text
    from pdfminer.layout import LTChar, LTComponent

    beyond: list[str] = []

    def walk(item: LTComponent, width: float) -> None:
        if isinstance(item, LTChar) and (item.x1 > width + 0.5 or item.x0 < -0.5):
            beyond.append(item.get_text())
        for child in item if hasattr(item, "__iter__") else ():
            walk(child, width)

    for page in extract_pages(path):
        walk(page, page.width)
    return " ".join(extract_text(path).split()), "".join(beyond)


def write_load_run(
    root: Path,
    run_id: str,
    group: str,
    levels: dict[int, str],
    *,
    table: bool = False,
    profile: str = "",
    started: str = "2026-11-26T00:00:00+00:00",
) -> None:
    """A load run as `harness load` stores it (see harness/report/loadruns.py): one record
    per trial carrying the load level it ran under (outcomes: P pass, F a check failed,
    V an invariant violated), and with table=True also the `levels` table in the manifest
    (which then wins)."""
    folder = root / run_id
    folder.mkdir(parents=True)
    manifest: dict[str, object] = {
        "kind": "load",
        "run_id": run_id,
        "suite": "t",
        "group": group,
        "status": "finished",
        "started_at": started,
        "load": {"profile": profile},
    }
    if table:
        manifest["levels"] = [
            {"users": u, "trials": len(o), "passes": o.count("P"), "invariant_violations": 0}
            for u, o in levels.items()
        ]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    lines = []
    for users, outcomes in levels.items():
        for i, mark in enumerate(outcomes):
            check = {
                "check_id": "echoes",
                "check_type": "contains",
                "category": "output",
                "requirements": ["T-001"],
            }
            if mark == "V":
                check = {
                    "check_id": "never-twice",
                    "check_type": "invariant",
                    "category": "invariant",
                    "requirements": ["T-002"],
                }
            record = {
                "key": f"c#{users}-{i}@1",
                "case": {"id": f"c#{users}-{i}", "scenario": "c", "index": i, "seed": i},
                "trial": 1,
                "observation": {"session_id": f"h-{users}-{i}"},
                "load": {"users": users},
                "checks": [{**check, "verdict": "pass" if mark == "P" else "fail"}],
            }
            lines.append(orjson.dumps(record) + b"\n")
    (folder / "cases.jsonl").write_bytes(b"".join(lines))


def test_group_runs_hunts_and_load_levels_reach_the_signoff(
    tmp_path: Path, make_suite: Callable[..., Path]
) -> None:
    suite = make_suite(python_agent("echo"), repeat=2)
    scenarios = suite / "scenarios" / "s.yaml"  # a generated value, so a hunt has something
    scenarios.write_text(
        scenarios.read_text().replace(
            "    repeat: 2\n", '    repeat: 2\n    vars: {n: {decimal: ["1", "9"]}}\n'
        )
    )
    reports = tmp_path / "reports"
    run = start(suite, reports, "--trials", "2", "--group", "rc-7")
    hunt = cli(
        "hunt",
        str(suite),
        "--budget",
        "2s",
        "--group",
        "rc-7",
        "--no-progress",
        "--reports-dir",
        str(reports),
    )
    assert hunt.returncode == 0, hunt.stderr
    write_load_run(reports, "load-same", "rc-7", {1: "P" * 10, 20: "P" * 10}, table=True)
    write_load_run(reports, "load-worse", "other", {1: "P" * 40, 20: "P" * 28 + "F" * 12})
    write_load_run(reports, "load-noisy", "other", {1: "P" * 10, 20: "P" * 8 + "F" * 2})
    write_load_run(reports, "load-racy", "other", {1: "P" * 9 + "V", 20: "P" * 8 + "VV"})
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    proc, gates = signoff(run, policy, "--pdf")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert gates["load"]["status"] == "pass"
    pdf = (run / "signoff.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and len(pdf) > 5000
    text, beyond = pdf_text(run / "signoff.pdf")
    assert beyond == "", f"drawn off the page: {beyond[:200]}"
    for column in ("results", "evidence", "flaky cases", "95% interval"):
        assert column in text, column
    assert "pass · 0 fail · 0 error" in text  # the results column's cells, not only its head
    md = (run / "signoff.md").read_text()
    assert "hunt " in md and "load load-same" in md and "20 users: 10/10 trials passed" in md
    assert "load-worse" not in md  # another group's

    # 70% at peak vs 100% at low load, over 40 trials each: beyond noise, a failed gate
    proc, gates = signoff(run, policy, "--with", "load-worse")
    assert proc.returncode == 1
    assert gates["load"]["status"] == "fail" and gates["load"]["requirements"] == ["T-001"]
    assert any("70.0% at peak (28/40 trials, 20 users)" in f for f in gates["load"]["findings"])
    assert any(
        "T-001 (major) passed 70.0% at 20 users (28/40" in f for f in gates["load"]["findings"]
    )
    # 80% at peak is below the default minimum (1.0: every check under load holds)...
    proc, gates = signoff(run, policy, "--with", "load-noisy")
    assert proc.returncode == 1 and gates["load"]["status"] == "fail"
    assert any("below its minimum 100.0% (min_pass_rate" in f for f in gates["load"]["findings"])
    # ...with a lower minimum, 80% vs 100% over 10 trials each could be chance: said, no failure
    lenient = "  load: {min_pass_rate: {major: 0.8}}"
    policy.write_text(POLICY.replace("  load: true", lenient))
    proc, gates = signoff(run, policy, "--with", "load-noisy")
    assert proc.returncode == 0 and gates["load"]["status"] == "pass"
    assert any("a drop within noise" in f for f in gates["load"]["findings"])
    # ...unless the policy counts every drop
    policy.write_text(POLICY.replace("  load: true", lenient[:-1] + ", beyond_noise: false}"))
    proc, gates = signoff(run, policy, "--with", "load-noisy")
    assert proc.returncode == 1 and gates["load"]["status"] == "fail"

    # invariants broken under load fail the invariants gate, whatever the pass rates say
    # (this suite declares none of its own: the load run's are judged all the same)
    policy.write_text(POLICY.replace("  load: true", "  invariants: true"))
    proc, gates = signoff(run, policy)  # nothing declared, nothing under load: nothing violated
    assert gates["invariants"]["status"] == "pass", gates["invariants"]
    assert "declares no invariant" in gates["invariants"]["detail"]
    proc, gates = signoff(run, policy, "--with", "load-racy")
    assert proc.returncode == 1 and gates["invariants"]["status"] == "fail"
    assert gates["invariants"]["requirements"] == ["T-002"]
    assert any(
        "3 invariant violation(s) under load (1 users: 1, 20 users: 2): never-twice (T-002)" in f
        for f in gates["invariants"]["findings"]
    )


def test_the_load_and_invariants_gates_read_the_newest_load_run_of_each_profile(
    tmp_path: Path, make_suite: Callable[..., Path]
) -> None:
    """A racy spike run superseded by a newer spike run of the group is read by neither gate
    (and named); a newer racy run fails both; another profile's run is read beside it."""
    suite = make_suite(python_agent("echo"), repeat=2)
    reports = tmp_path / "reports"
    run = start(suite, reports, "--trials", "2", "--group", "rc-8")
    racy = {1: "P" * 9 + "V", 20: "P" * 8 + "VV"}
    fine = {1: "P" * 10, 20: "P" * 10}
    write_load_run(
        reports, "spike-racy", "rc-8", racy, profile="spike", started="2026-11-26T01:00:00+00:00"
    )
    write_load_run(
        reports, "spike-fixed", "rc-8", fine, profile="spike", started="2026-11-26T02:00:00+00:00"
    )
    write_load_run(
        reports, "ramp-fine", "rc-8", fine, profile="ramp", started="2026-11-26T00:30:00+00:00"
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY + "  invariants: true\n")
    proc, gates = signoff(run, policy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    superseded = "load run spike-racy superseded by spike-fixed (same profile)"
    for name in ("load", "invariants"):
        assert gates[name]["status"] == "pass", gates[name]
        assert superseded in gates[name]["detail"]
    assert "ramp-fine" in gates["load"]["detail"] and "spike-fixed" in gates["load"]["detail"]
    md = (run / "signoff.md").read_text()
    assert "superseded by load run spike-fixed of the same profile: read by no gate" in md
    # the newest spike run is the racy one: both gates read it, both fail
    write_load_run(
        reports, "spike-again", "rc-8", racy, profile="spike", started="2026-11-26T03:00:00+00:00"
    )
    proc, gates = signoff(run, policy)
    assert proc.returncode == 1
    assert gates["invariants"]["status"] == "fail" and gates["load"]["status"] == "fail"
    assert gates["invariants"]["requirements"] == ["T-002"] == gates["load"]["requirements"]
    assert "spike-again" in gates["invariants"]["findings"][0]


def test_what_a_hunt_of_the_group_found_blocks_until_a_run_replays_it(
    tmp_path: Path, make_suite: Callable[..., Path]
) -> None:
    suite = make_suite(python_agent("echo"), repeat=2)
    reports = tmp_path / "reports"
    run = start(suite, reports, "--trials", "2", "--group", "rc-8")
    other = start(suite, reports)
    # a hunt of the group that found a divergence after the run started, and saved it
    saved = suite / "regressions" / "t-001-hello-contains-1-abcd.yaml"
    saved.parent.mkdir()
    saved.write_text("id: t-001-hello-contains-1-abcd\n")
    hunt = reports / "hunt-1"
    hunt.mkdir()
    (hunt / "manifest.json").write_text(
        json.dumps(
            {
                "kind": "hunt",
                "suite": "t",
                "group": "rc-8",
                "status": "finished",
                "started_at": "2026-11-26T00:00:00+00:00",
                "found": [
                    {
                        "requirement": "T-001",
                        "case_id": "hello#9",
                        "check": "contains-1",
                        "regression_id": "regression:t-001-hello-contains-1-abcd",
                        "path": str(saved),
                    }
                ],
            }
        )
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text("title: t\nk: 2\ngates:\n  coverage: true\n")  # no regressions gate...
    proc, gates = signoff(run, policy)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # ...the hunt's finding still counts
    regressions = gates["regressions"]
    assert regressions["status"] == "fail" and regressions["requirements"] == ["T-001"]
    assert (
        "regression:t-001-hello-contains-1-abcd, saved by hunt hunt-1 (T-001, check "
        "contains-1), was not replayed by this run" in regressions["findings"]
    )
    assert "run harness run again to replay 1 new regression case(s)" in proc.stderr
    # --with takes only a hunt or load run of the same suite
    proc = cli(
        "signoff", run.name, "--policy", str(policy), "--reports-dir", str(reports),
        "--with", other.name,
    )  # fmt: skip
    assert proc.returncode == 2
    said = (
        f"--with {other.name}: it is a suite run (harness run); "
        "--with adds a hunt, load or drift run"
    )
    assert said in proc.stderr


def test_the_agent_version_and_its_git_commit_reach_the_signoff(
    tmp_path: Path, make_suite: Callable[..., Path]
) -> None:
    suite = make_suite(http_agent("echo") + 'version: "{{ env.AGENT_VERSION }}"\n', repeat=1)
    git = ["git", "-C", str(suite), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "agent"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    (suite / "notes.txt").write_text("an untracked file is a local change too\n")
    reports = tmp_path / "reports"
    proc = cli(
        "run", str(suite), "--reports-dir", str(reports), "--no-progress",
        AGENT_VERSION="1.4.2-rc1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run = reports / run_id_of(proc)
    agent = read_manifest(run)["agent"]
    assert agent["version"] == "1.4.2-rc1"
    assert agent["git"]["commit"] == commit
    assert agent["git"]["dirty"] and agent["git"]["changes"] == 1
    policy = tmp_path / "policy.yaml"
    policy.write_text("title: t\nk: 1\ngates:\n  coverage: true\n")
    proc, _ = signoff(run, policy)
    md = (run / "signoff.md").read_text()
    assert f"- agent version: version 1.4.2-rc1; commit {commit} with 1 local change" in md
    assert (
        f"version 1.4.2-rc1; commit {commit} with 1 local change(s), untracked files included"
        in (run / "signoff.html").read_text()
    )
