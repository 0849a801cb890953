"""Long-task drift on an agent that is not the demo: a clinic intake desk (tests/agents/
clinic_agent.py, its own API shape and vocabulary) that asks for the facts it lacks one at a
time in a random order, and with CLINIC_MODE=forgetful reads a patient's preferred part of
the day from its last eight messages only. Real PostgreSQL, a real agent process."""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path

from harness.runlog.models import DriftManifest, TrialRecord
from harness.runlog.read import open_run, read_records
from tests.helpers import ROOT, environ, harness, only_run

CLINIC = ROOT / "tests" / "suites" / "clinic"


def trials(run: Path) -> list[TrialRecord]:
    return [r for r in read_records(run) if isinstance(r, TrialRecord)]


def passed(record: TrialRecord) -> bool:
    return all(c.verdict == "pass" for c in record.checks)


def test_the_user_answers_whatever_order_the_agent_asks_in(tmp_path: Path) -> None:
    out = harness(
        "run", str(CLINIC), "--reports-dir", str(tmp_path), "--no-progress",
        env=environ(CLINIC_MODE="correct"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    records = trials(only_run(tmp_path, out.stderr))
    assert len(records) == 6
    orders = set()
    for r in records:
        sources = [t.source for t in r.observation.turns]
        assert sources[:2] == ["remember", "probe"]  # the shortest length: no filler
        answers = tuple(s for s in sources if s and s.startswith("answer:"))
        assert sorted(answers) == ["answer:born", "answer:number", "answer:surname"]
        orders.add(answers)
        # each answer says the fact asked for, from the case's own row
        patient = r.observation.entities["patient"]
        for turn in r.observation.turns:
            if turn.source == "answer:number":
                assert turn.text == f"It's {patient['number']}."
        assert r.observation.turns[-1].reply == "You're booked in for a morning appointment."
        assert passed(r)
    assert len(orders) > 1, orders  # the agent asked in different orders, all were answered


def test_drift_finds_where_a_forgetful_agent_loses_the_preference(tmp_path: Path) -> None:
    out = harness(
        "drift", str(CLINIC), "--reports-dir", str(tmp_path), "--no-progress",
        env=environ(CLINIC_MODE="forgetful"),
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    run = only_run(tmp_path, out.stderr)
    manifest = open_run(run).manifest
    assert isinstance(manifest, DriftManifest)
    assert manifest.drift[0].lengths == [0, 2, 4, 8]
    rates: dict[tuple[int | None, str | None], list[bool]] = defaultdict(list)
    for r in trials(run):
        rates[(r.case.length, r.case.position)].append(passed(r))
        if not passed(r):
            every_turn = next(c for c in r.checks if c.check_id == "never-in-the-afternoon")
            # booked on the third answer after the probe: remember, filler, probe, 3 answers
            assert r.case.length is not None
            assert every_turn.turn == r.case.length + 5, r.case.id
            assert r.observation.turns[every_turn.turn - 1].source.startswith("answer:")
    assert {point: all(v) for point, v in rates.items()} == {
        (0, "start"): True,
        (2, "start"): True,
        (4, "start"): False,
        (8, "start"): False,
        (8, "middle"): False,  # said in the middle of eight filler turns: still too far back
        (8, "end"): True,  # said just before the probe: inside the window
    }
    assert all(len(v) == 6 for v in rates.values())


def test_drift_on_a_correct_agent_is_flat(tmp_path: Path) -> None:
    out = harness(
        "drift", str(CLINIC), "--reports-dir", str(tmp_path), "--no-progress",
        "--lengths", "0,1,2,3,4,5,16", env=environ(CLINIC_MODE="correct"),
    )  # fmt: skip
    # nine points per case, each inserting its own patient (a unique patient number): every
    # point draws fresh values, however many points there are
    assert out.returncode == 0, out.stderr
    records = trials(only_run(tmp_path, out.stderr))
    assert {r.case.length for r in records} == {0, 1, 2, 3, 4, 5, 16}
    assert len(records) == 6 * 9
    assert all(passed(r) for r in records)
    long = [r for r in records if r.case.length == 16 and r.case.position == "start"]
    assert all(
        sum(1 for t in r.observation.turns if (t.source or "").startswith("filler:")) == 16
        for r in long
    )


def test_drift_mistakes_are_named_where_they_are_written(tmp_path: Path) -> None:
    suite = tmp_path / "clinic"
    shutil.copytree(CLINIC, suite)
    scenarios = suite / "scenarios" / "drift.yaml"
    text = scenarios.read_text()
    text = text.replace("It's {{ user.number }}.", "It's {{ user.numbr }}.")
    text = text.replace("lengths: [0, 2, 4, 8]", "lengths: [0, 2, 4, 8]\n      pools: [smalltalk]")
    scenarios.write_text(text.replace("../../agents", str(ROOT / "tests" / "agents")))
    (suite / "suite.yaml").write_text(
        (suite / "suite.yaml")
        .read_text()
        .replace("../../agents", str(ROOT / "tests" / "agents"))
        .replace('"Is there parking at the clinic?"', '"Is {{ patient.surname }} parked?"')
    )
    out = harness("drift", str(suite), "--reports-dir", str(tmp_path / "r"), "--no-progress")
    assert out.returncode == 2, out.stderr
    err = " ".join(out.stderr.split())
    assert "drift.yaml:" in err and "the user has no fact 'numbr' (did you mean 'number'?)" in err
    assert "no filler pool 'smalltalk' (did you mean 'small_talk'?)" in err
    assert "suite.yaml:" in err and "'patient' is not known here" in err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_drift_needs_a_drift_scenario(tmp_path: Path) -> None:
    out = harness(
        "drift", str(ROOT / "tests" / "suites" / "holds"), "--reports-dir", str(tmp_path),
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "has no drift scenario" in out.stderr


def _signoff(tmp_path: Path, mode: str) -> tuple[int, str, str]:
    policy = tmp_path / "policy.yaml"
    policy.write_text("title: Clinic release\nk: 1\ngates:\n  drift: {min_length: 8}\n")
    reports = tmp_path / mode
    env = environ(CLINIC_MODE=mode)
    common = ("--reports-dir", str(reports), "--no-progress", "--group", "rel")
    run = harness("run", str(CLINIC), *common, env=env)
    assert run.returncode == 0, run.stderr  # a plain run plays n=0, which passes
    drifted = harness("drift", str(CLINIC), *common, env=env)
    assert drifted.returncode == (0 if mode == "correct" else 1), drifted.stderr
    run_id = run.stdout.splitlines()[0].removeprefix("run id: ")
    out = harness(
        "signoff", run_id, "--policy", str(policy), "--reports-dir", str(reports), env=env
    )
    signoff_md = (reports / run_id / "signoff.md").read_text()
    return out.returncode, " ".join(out.stderr.split()), signoff_md


def test_the_signoffs_drift_gate_fails_on_drift_and_passes_without(tmp_path: Path) -> None:
    code, said, md = _signoff(tmp_path, "forgetful")
    assert code == 1, said
    assert "FAIL drift: Every requirement holds at every length up to n=8" in said
    assert "CL-001: holds up to n=2, degraded from n=4 in drift run" in said
    assert "drift: holds up to n=2, degraded from n=4" in md  # the traceability matrix
    code, said, md = _signoff(tmp_path, "correct")
    assert code == 0, said
    assert "pass drift" in said
    assert "drift: holds up to n=8 \\(judged up to n=8\\)" in md  # Markdown-escaped


def test_list_says_where_drift_plays_a_scenario() -> None:
    out = harness("list", str(CLINIC))
    assert out.returncode == 0, out.stderr
    flat = " ".join(out.stdout.split())
    assert "mornings-only x6:" in flat
    assert "[drift: lengths 0,2,4,8; positions start,middle,end at 8]" in flat


def test_a_resumed_drift_run_keeps_its_lengths(tmp_path: Path) -> None:
    common = ("--reports-dir", str(tmp_path), "--no-progress")
    first = harness("drift", str(CLINIC), "--lengths", "0,2", *common)
    assert first.returncode == 0, first.stderr
    run_id = only_run(tmp_path, first.stderr).name
    again = harness("drift", str(CLINIC), "--resume", run_id, "--lengths", "0,8", *common)
    assert again.returncode == 2, again.stderr
    assert "--lengths 0,8 cannot change when resuming" in again.stderr
    assert "plays lengths 0,2" in again.stderr
