"""How fault cases are planned and judged, end to end: a real PostgreSQL (embedded), the desk
agent as its own process (tests/agents/desk_agent.py, HTTP 503 while its database is down)
reaching it through the run's fault proxy, and the suite tests/suites/fault_judging. A
profile with `scenarios:` says what it plays and what it leaves out; a faulted copy has data
of its own; `fault.turns`/`fault.hit`/`fault.accepted` say what a fault met; a 503 is
accepted only while a fault with `accept_status` is on; `harness validate` refuses a window
past a scenario's turns."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from tests.helpers import ROOT, harness, only_run, read_manifest, trial_records

SUITE = ROOT / "tests" / "suites" / "fault_judging"


def run(tmp_path: Path, *args: str, reports: str = "r") -> tuple[Any, Path]:
    done = harness(
        "run", str(SUITE), "--reports-dir", str(tmp_path / reports), "--no-progress", *args,
        timeout=300,
    )  # fmt: skip
    return done, only_run(tmp_path / reports, done.stderr)


def copy_suite(tmp_path: Path) -> Path:
    """The suite in `tmp_path`, its agent's path made absolute."""
    suite = tmp_path / "suite"
    shutil.copytree(SUITE, suite)
    text = (suite / "suite.yaml").read_text()
    (suite / "suite.yaml").write_text(
        text.replace("../../agents/", str(ROOT / "tests" / "agents") + "/")
    )
    return suite


def records(run_dir: Path) -> list[dict[str, Any]]:
    return [r for r in trial_records(run_dir) if "observation" in r]


def verdicts(record: dict[str, Any]) -> list[str]:
    return [c["verdict"] for c in record["checks"]]


def test_a_profile_says_which_scenarios_it_plays_and_that_the_others_are_not_played(
    tmp_path: Path,
) -> None:
    done, run_dir = run(tmp_path, "--faults", "slow")
    assert done.returncode == 0, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert (
        "fault profile slow plays scenario(s) credit, each case clean and faulted; not played "
        "in this run: other, hit, missed, outage, maintenance (the profile's scenarios: leaves "
        "them out)"
    ) in said, said
    manifest = read_manifest(run_dir)
    assert manifest["fault_scenarios"] == ["credit"]
    assert manifest["fault_unplayed"] == ["other", "hit", "missed", "outage", "maintenance"]
    assert {r["case"]["scenario"] for r in records(run_dir)} == {"credit"}
    # a selection the profile covers whole leaves nothing out, and says so by saying nothing
    done, run_dir = run(tmp_path, "--faults", "slow", "-k", "credit", reports="r2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not played in this run" not in done.stdout + done.stderr
    assert read_manifest(run_dir)["fault_unplayed"] == []


def test_a_faulted_copy_has_data_of_its_own_deterministic_and_unique(tmp_path: Path) -> None:
    done, run_dir = run(tmp_path, "--faults", "slow", "-k", "credit")
    # the agent finds a customer by name and PIN: had a faulted copy its clean twin's, it
    # would credit the twin's row (the first) and its own sql check would find 0 credits
    assert done.returncode == 0, done.stdout + done.stderr
    got = records(run_dir)
    assert len(got) == 4 and all(verdicts(r) == ["pass"] for r in got)
    by_id = {(r["case"]["id"], r["trial"]): r for r in got}
    rows = [r["observation"]["entities"]["customer"] for r in got]
    for column in ("email", "ref"):  # unique in the schema: every trial inserted its own
        assert len({row[column] for row in rows}) == len(rows), (column, rows)
    for name in ("credit#1", "credit#2"):
        clean, copy = by_id[(name, 1)], by_id[(f"{name}~slow", 1)]
        assert copy["case"]["scenario"] == clean["case"]["scenario"] == "credit"
        assert copy["case"]["fault"] == "slow" and copy["case"]["seed"] != clean["case"]["seed"]
        mine, twins = copy["case"]["setup"]["customer"], clean["case"]["setup"]["customer"]
        assert mine.keys() == twins.keys()  # the same shape, other values
        assert all(mine[k] != twins[k] for k in ("name", "email", "ref")), (mine, twins)
        assert copy["observation"]["entities"]["customer"]["credits"] == 0  # before its turn
    # the same seed plans the same copies: a faulted case replays
    again, run_dir2 = run(tmp_path, "--faults", "slow", "-k", "credit", reports="r2")
    assert again.returncode == 0, again.stdout + again.stderr
    planned = {r["case"]["id"]: r["case"] for r in records(run_dir2)}
    for (cid, _), record in by_id.items():
        assert planned[cid]["setup"] == record["case"]["setup"], cid
        assert planned[cid]["seed"] == record["case"]["seed"], cid
    # and `harness replay` replays a faulted copy alone: its values, the profile's fault on
    replayed = harness(
        "replay", "credit#1~slow", str(SUITE), "--reports-dir", str(tmp_path / "r3"), timeout=300
    )
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    [record] = records(only_run(tmp_path / "r3", replayed.stderr))
    assert record["case"]["setup"] == by_id[("credit#1~slow", 1)]["case"]["setup"]
    assert record["case"]["fault"] == "slow"
    assert [w["source"] for w in record["observation"]["faults"]] == ["profile:slow"]


def test_fault_turns_hit_and_accepted_say_what_a_fault_met(tmp_path: Path) -> None:
    done, run_dir = run(tmp_path, "-k", "hit", "-k", "missed", "-k", "outage")
    assert done.returncode == 0, done.stdout + done.stderr
    got = {r["case"]["id"]: r for r in records(run_dir)}
    # hit: the latency toxic of turn 2 slowed the connection of turn 2 (the sql check renders
    # applied, turns, hit and accepted into its query and compares)
    assert verdicts(got["hit"]) == ["pass"], got["hit"]["checks"]
    [window] = got["hit"]["observation"]["faults"]
    assert window["affected"] >= 1
    # missed: applied on turns 2 and 3 at toxicity 0: the case ran with faults, none hit
    assert verdicts(got["missed"]) == ["pass"], got["missed"]["checks"]
    assert got["missed"]["observation"]["faults"][0]["affected"] == 0
    # outage: turn 2's 503 was accepted (its body read and judged), hit unknown for `down`
    assert verdicts(got["outage"]) == ["pass"] * 3, got["outage"]["checks"]
    turns = got["outage"]["observation"]["turns"]
    assert [(t["status"], t["error"], t["reply"]) for t in turns] == [
        (200, None, "pong"),
        (503, None, "unavailable"),
        (200, None, "pong"),
    ]


def test_a_503_is_accepted_only_while_a_fault_accepting_it_is_on(tmp_path: Path) -> None:
    done, run_dir = run(tmp_path, "-k", "maintenance")
    assert done.returncode == 1, done.stdout + done.stderr
    [record] = records(run_dir)
    first, second = record["observation"]["turns"]
    assert (first["status"], first["error"], first["reply"]) == (503, None, "maintenance")
    assert second["status"] == 503 and second["error"]["kind"] == "status"
    assert record["observation"]["error"]["turn"] == 2  # the agent's failure, after the fault
    assert verdicts(record) == ["error"]


def test_a_status_the_fault_does_not_accept_is_the_agents_failure(tmp_path: Path) -> None:
    suite = copy_suite(tmp_path)
    text = (suite / "suite.yaml").read_text()
    (suite / "suite.yaml").write_text(text.replace("accept_status: [503]", "accept_status: [502]"))
    done = harness(
        "run", str(suite), "--reports-dir", str(tmp_path / "r"), "--no-progress",
        "--faults", "refuse", timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    faulted = [r for r in records(only_run(tmp_path / "r", done.stderr)) if r["case"]["fault"]]
    assert len(faulted) == 2
    for record in faulted:
        assert record["observation"]["error"]["kind"] == "status"
        assert record["observation"]["error"]["turn"] == 2
        assert len(record["observation"]["turns"]) == 2  # the conversation ended there


def test_validate_refuses_a_window_past_the_scenarios_turns(tmp_path: Path) -> None:
    suite = copy_suite(tmp_path)
    text = (suite / "suite.yaml").read_text()
    text = text.replace("from_turn: 2, to_turn: 2, accept_status", "from_turn: 2, to_turn: 4, "
                        "accept_status")  # fmt: skip
    (suite / "suite.yaml").write_text(text)
    scenarios = suite / "scenarios" / "desk.yaml"
    body = scenarios.read_text()
    body = body.replace("toxicity: 0, from_turn: 2, to_turn: 3", "toxicity: 0, from_turn: 4")
    body = body.replace(
        "attributes: {latency: 1}, from_turn: 1, to_turn: 1,",
        "attributes: {latency: 1}, after_turn: 3, for: 1s,",
    )
    scenarios.write_text(body)
    refused = harness("validate", str(suite))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    err = refused.stderr
    assert re.search(
        r"suite\.yaml:\d+:\d+: faults\.profiles\.refuse\.faults\[0\]\.to_turn: the window ends at "
        r"turn 4 \(to_turn\), but scenario 'credit' has 3 turn\(s\): it ends past the last turn "
        r"\(it applies up to turn 3\); fix: to_turn: 3, or leave it out \(to the last turn\)",
        err,
    ), err
    assert re.search(
        r"desk\.yaml:\d+:\d+: scenarios\[3\]\.faults\[0\]\.from_turn: the window starts at turn 4 "
        r"\(from_turn\), but scenario 'missed' has 3 turn\(s\)",
        err,
    ), err
    assert re.search(
        r"desk\.yaml:\d+:\d+: scenarios\[5\]\.faults\[0\]\.after_turn: the window starts at "
        r"turn 3 \(after_turn\), but scenario 'maintenance' has 2 turn\(s\): it would never "
        r"apply; fix: a turn from 1 to 2, or 0 for the case's start",
        err,
    ), err


def test_validate_checks_a_profile_against_every_scenario_it_plays(tmp_path: Path) -> None:
    suite = copy_suite(tmp_path)
    text = (suite / "suite.yaml").read_text()
    # slow without scenarios: plays every scenario; maintenance has 2 turns, credit 3
    text = text.replace("      scenarios: [credit]\n      faults:\n        - {link: db, toxic: "
                        "latency, attributes: {latency: 50}, from_turn: 1, to_turn: 1}",
                        "      faults:\n        - {link: db, toxic: latency, attributes: "
                        "{latency: 50}, from_turn: 3, to_turn: 3}")  # fmt: skip
    (suite / "suite.yaml").write_text(text)
    refused = harness("validate", str(suite))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    # every scenario the window misses, named once at its key, with the fix for the fewest
    assert re.search(
        r"suite\.yaml:\d+:\d+: faults\.profiles\.slow\.faults\[0\]\.from_turn: the window starts "
        r"at turn 3 \(from_turn\), but 2 scenarios this profile plays have fewer turns, 'other' "
        r"\(1\), 'maintenance' \(2\): it would never apply; fix: a turn from 1 to 1",
        refused.stderr,
    ), refused.stderr
