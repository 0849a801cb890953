"""Faults in a run, end to end: a real PostgreSQL (embedded), the ledger agent as its own
process (tests/agents/ledger_agent.py) reaching it through the run's fault proxy, and the
suite tests/suites/faults. A scenario's fault is applied only during its window, recorded,
and its case runs alone; `--faults NAME` plays clean and faulted copies in phases; recovery
is measured and judged; the harness's own checks are never faulted; no way out leaves a
proxy listening."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    ROOT,
    Lines,
    environ,
    harness,
    only_run,
    read_manifest,
    start_harness,
    trial_records,
    wait_for_records,
)
from tests.procs import listening, wait_gone

SUITE = ROOT / "tests" / "suites" / "faults"
PROXY = re.compile(r"faults: db via proxy 127\.0\.0\.1:(\d+)")
UNAVAILABLE = "Sorry, the database is unavailable."


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[Any, Path]:
    done = harness(
        "run", str(SUITE), "--reports-dir", str(tmp_path / "r"), "--no-progress", *args,
        env=env, timeout=300,
    )  # fmt: skip
    return done, only_run(tmp_path / "r", done.stderr)


def trials(run_dir: Path) -> dict[str, dict[str, Any]]:
    return {r["case"]["id"]: r for r in trial_records(run_dir) if "observation" in r}


def span(record: dict[str, Any]) -> tuple[int, int]:
    """When a trial's conversation was on the wire: its first turn sent to its last reply."""
    turns = record["observation"]["turns"]
    start = min(t["sent_ns"] for t in turns)
    end = max(t["sent_ns"] + int(t["latency_ms"] * 1e6) for t in turns)
    return start, end


def verdicts(record: dict[str, Any]) -> dict[str, str]:
    return {c["check_type"]: c["verdict"] for c in record["checks"]}


def test_a_scenario_fault_applies_in_its_window_alone_and_recovery_is_measured(
    tmp_path: Path,
) -> None:
    done, run_dir = run(tmp_path, "-k", "outage", "-k", "plain", "-c", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    port = int(PROXY.search(done.stdout + done.stderr).group(1))  # type: ignore[union-attr]
    records = trials(run_dir)
    outage = records["outage"]
    replies = [t["reply"] for t in outage["observation"]["turns"]]
    # turn 2 was sent while the db was refused; turns 1 and 3 reached it through the proxy
    assert replies[:3] == ["Noted alpha.", UNAVAILABLE, "Noted gamma."], replies
    assert verdicts(outage) == {"sql": "pass", "contains": "pass", "recovery": "pass"}
    [window] = outage["observation"]["faults"]
    assert window["link"] == "db" and window["toxic"] == "down" and window["source"] == "scenario"
    assert (window["first_turn"], window["last_turn"]) == (2, 2)
    turns = outage["observation"]["turns"]
    assert turns[1]["sent_ns"] >= window["started_ns"]
    assert window["ended_ns"] <= turns[2]["sent_ns"]  # removed once turn 2 had its reply
    # recovery: probe turns after the conversation, measured from the fault's end
    probes = [t for t in turns if t["source"] == "recovery"]
    assert probes and probes[-1]["reply"] == "pong"
    assert window["recovered_ms"] is not None and 0 <= window["recovered_ms"] < 5000
    # the windowed case ran alone: no other case's conversation overlaps it
    start, end = span(outage)
    others = [span(r) for cid, r in records.items() if cid != "outage"]
    assert len(others) == 4
    assert all(b < start or a > end for a, b in others), (start, end, others)
    for cid, record in records.items():
        if cid != "outage":
            assert record["observation"]["faults"] == [] and verdicts(record)["sql"] == "pass"
    assert not listening(port), "the fault proxy outlived the run"


def test_a_run_without_faults_has_no_proxy(tmp_path: Path) -> None:
    done, run_dir = run(tmp_path, "-k", "plain", "--repeat", "1")
    assert done.returncode == 0, done.stderr
    assert "via proxy" not in done.stdout + done.stderr
    [record] = trials(run_dir).values()
    assert record["observation"]["faults"] == []


def test_the_harness_reads_rows_while_the_agents_link_is_down(tmp_path: Path) -> None:
    done, run_dir = run(tmp_path, "-k", "held_down")
    assert done.returncode == 0, done.stdout + done.stderr
    record = trials(run_dir)["held_down"]
    assert [t["reply"] for t in record["observation"]["turns"]] == [UNAVAILABLE]
    # the db was down for the agent until the case ended (its window: 120 s), yet the
    # harness inserted the setup row and its sql check read it back
    assert verdicts(record) == {"sql": "pass", "contains": "pass"}
    [window] = record["observation"]["faults"]
    assert window["ended_ns"] - window["started_ns"] < 60e9
    assert window["recovered_ms"] is None


def test_an_agent_that_never_recovers_fails_the_recovery_check(tmp_path: Path) -> None:
    done, run_dir = run(tmp_path, "-k", "outage", env=environ(LEDGER_MODE="stuck"))
    assert done.returncode == 1, done.stdout + done.stderr
    record = trials(run_dir)["outage"]
    result = next(c for c in record["checks"] if c["check_type"] == "recovery")
    assert result["verdict"] == "fail"
    assert result["message"] == "not recovered within 5 s after db: down (turn 2) ended"
    assert record["observation"]["faults"][0]["recovered_ms"] is None


def test_faults_profile_plays_clean_and_faulted_phases(tmp_path: Path) -> None:
    done, run_dir = run(tmp_path, "--faults", "cut", "-c", "3")
    assert done.returncode == 1, done.stdout + done.stderr  # the faulted copies lose note two
    assert read_manifest(run_dir)["fault_profile"] == "cut"
    records = trials(run_dir)
    clean = {cid: r for cid, r in records.items() if r["case"]["fault"] is None}
    faulted = {cid: r for cid, r in records.items() if r["case"]["fault"] == "cut"}
    assert sorted(clean) == [f"plain#{i}" for i in range(1, 5)]  # the profile's scenarios only
    assert sorted(faulted) == [f"{cid}~cut" for cid in sorted(clean)]
    for record in clean.values():
        assert record["observation"]["faults"] == [] and verdicts(record)["sql"] == "pass"
        assert "recovery" not in verdicts(record)  # when: fault.applied
    for record in faulted.values():
        [window] = record["observation"]["faults"]
        assert window["source"] == "profile:cut" and window["first_turn"] == 2
        assert record["observation"]["turns"][1]["reply"] == UNAVAILABLE
        assert verdicts(record) == {"sql": "fail", "recovery": "pass"}
    # phases: every clean conversation ended before the first faulted one began, and the
    # faulted ones (windowed) never overlapped each other
    assert max(span(r)[1] for r in clean.values()) < min(span(r)[0] for r in faulted.values())
    spans = sorted(span(r) for r in faulted.values())
    assert all(a[1] < b[0] for a, b in itertools.pairwise(spans)), spans


def test_an_unknown_profile_is_refused_with_the_profiles_named(tmp_path: Path) -> None:
    refused = harness("run", str(SUITE), "--reports-dir", str(tmp_path / "r"), "--faults", "cutt")
    assert refused.returncode == 2, refused.stderr
    assert "did you mean 'cut'" in refused.stderr and "profiles" in refused.stderr
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_a_faulted_run_resumes_the_missing_pairs(tmp_path: Path) -> None:
    proc = start_harness(
        "run", str(SUITE), "--reports-dir", str(tmp_path / "r"), "--no-progress",
        "--faults", "cut", "--repeat", "8", "-c", "1",
    )  # fmt: skip
    run_dir = wait_for_records(tmp_path / "r", proc, 3, timeout=120)
    os.kill(proc.pid, signal.SIGINT)
    proc.communicate(timeout=120)
    assert proc.returncode == 130
    before = {r["case"]["id"] for r in trial_records(run_dir)}
    done = harness(
        "run", "--resume", run_dir.name, "--reports-dir", str(tmp_path / "r"), "--no-progress",
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    ids = [r["case"]["id"] for r in trial_records(run_dir) if "observation" in r]
    assert len(ids) == len(set(ids)) == 16 and before <= set(ids)
    assert read_manifest(run_dir)["fault_profile"] == "cut"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_no_way_out_leaves_a_proxy_listening(tmp_path: Path, sig: int) -> None:
    proc = start_harness(
        "run", str(SUITE), "--reports-dir", str(tmp_path / "r"), "--no-progress",
        "--faults", "cut", "--repeat", "30", "-c", "2",
    )  # fmt: skip
    out = Lines(proc.stderr)
    port = int(PROXY.search(out.wait_for("faults: db via proxy")).group(1))  # type: ignore[union-attr]
    run_dir = wait_for_records(tmp_path / "r", proc, 2)
    assert listening(port), "the proxy is not up while the run goes"
    os.kill(proc.pid, sig)
    proc.wait(timeout=120)
    assert proc.returncode == (130 if sig != signal.SIGKILL else -signal.SIGKILL)
    assert not listening(port), f"the proxy's port {port} outlived the run ({sig.name})"
    assert not wait_gone(run_dir)


def test_a_latency_window_slows_only_its_turn_and_counts_its_connections(
    tmp_path: Path,
) -> None:
    done, run_dir = run(tmp_path, "-k", "slow", "--trials", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    records = [r for r in trial_records(run_dir) if "observation" in r]
    assert sorted(r["trial"] for r in records) == [1, 2]
    for record in records:
        first, second = record["observation"]["turns"]
        [window] = record["observation"]["faults"]
        assert window["toxic"] == "latency"
        assert window["attributes"] == {"latency": 300, "jitter": 0}
        # the agent opens a connection per request: turn 1's went through this trial's own
        # activation of the toxic (counted there, not in the other trial's), with any still
        # open when it was added (toxicity 1: every one hit)
        assert window["connections"] >= 1 and window["affected"] == window["connections"]
        assert first["latency_ms"] >= 300 > second["latency_ms"], (first, second)


def test_validate_names_a_fault_on_no_dependency_and_a_missing_scenario(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    shutil.copytree(SUITE, suite)
    text = (suite / "suite.yaml").read_text()
    text = text.replace("../../agents/", str(ROOT / "tests" / "agents") + "/")
    text = text.replace("scenarios: [plain]", "scenarios: [plane]")
    (suite / "suite.yaml").write_text(text.replace("- {link: db,", "- {link: dbb,"))
    scenarios = suite / "scenarios" / "faults.yaml"
    scenarios.write_text(
        scenarios.read_text().replace("{link: db, toxic: latency", "{link: cache, toxic: latency")
    )
    refused = harness("validate", str(suite))
    assert refused.returncode == 2, refused.stderr
    err = refused.stderr
    assert re.search(
        r"suite\.yaml:\d+:\d+: faults\.profiles\.cut\.faults\[0\]\.link: link 'dbb' is not a "
        r"dependency",
        err,
    ), err
    assert "did you mean 'db'" in err
    assert re.search(
        r"suite\.yaml:\d+:\d+: faults\.profiles\.cut\.scenarios\[0\]: no scenario 'plane'", err
    ), err
    assert re.search(
        r"faults\.yaml:\d+:\d+: scenarios\[3\]\.faults\[0\]\.link: link 'cache'", err
    ), err


PROBED = """\
scenarios:
  - id: probed
    title: A traced agent; the database is down for turn 2, then probed until it answers
    turns: ["note alpha", "note beta"]
    faults:
      - {link: db, toxic: down, from_turn: 2, to_turn: 2}
    checks:
      - {type: span, name: note, turn: 2, requirements: [LG-001]}
      - {type: span, name: ping, turn: 2, absent: true, requirements: [LG-001]}
      - {type: span, name: ping, turn: any, requirements: [LG-002]}
      - {type: span, name: ping, turn: last, absent: true, requirements: [LG-001]}
      - {type: recovery, requirements: [LG-002], probe: ping, expect: PONG, within: 5s}
"""


def test_a_recovery_probe_is_traced_as_its_own_turn(tmp_path: Path) -> None:
    """Each probe sends a traceparent of its own turn, as every turn does: the agent's spans
    of a probe are the probe's, never the last scripted turn's."""
    suite = tmp_path / "suites" / "faults"  # its agent's command: ../../agents/ledger_agent.py
    shutil.copytree(SUITE, suite)
    shutil.copytree(ROOT / "tests" / "agents", tmp_path / "agents")
    (suite / "scenarios" / "probed.yaml").write_text(PROBED)
    done = harness(
        "run", str(suite), "--reports-dir", str(tmp_path / "r"), "--no-progress", "-k", "probed",
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    record = trials(only_run(tmp_path / "r", done.stderr))["probed"]
    sources = [t["source"] for t in record["observation"]["turns"]]
    assert sources[:2] == [None, None] and set(sources[2:]) == {"recovery"}, sources
    # `last` is the conversation's last turn, never a probe; `any` sees the probe's span
    assert [c["verdict"] for c in record["checks"]] == ["pass"] * 5, record["checks"]
    spans = record["observation"]["spans"]
    assert any(s["name"] == "ping" for s in spans), spans
