"""A conversation shows which rule of the reactive user answered, and an http agent reports
its tokens: on the clinic intake desk (tests/agents/clinic_agent.py, a real agent process
over real PostgreSQL) that asks for what it lacks in a random order; CLINIC_MODE=forgetful
forgets a preference said early, CLINIC_USAGE=on reports token usage under meta.usage."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from harness.runlog.models import TrialRecord
from harness.runlog.read import read_records
from tests.helpers import ROOT, environ, harness, only_run

CLINIC = ROOT / "tests" / "suites" / "clinic"
ANSWERS = {"answer: surname", "answer: born", "answer: number"}
TURN = re.compile(r"^Turn (\d+)(?: \((.+?)\))?, user:$", re.M)


def trials(run: Path) -> list[TrialRecord]:
    return [r for r in read_records(run) if isinstance(r, TrialRecord)]


def test_the_evidence_names_which_rule_answered_each_turn(tmp_path: Path) -> None:
    out = harness(
        "drift", str(CLINIC), "--lengths", "0,4", "--reports-dir", str(tmp_path),
        "--no-progress", env=environ(CLINIC_MODE="forgetful"),
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    run = only_run(tmp_path, out.stderr)
    md = (run / "summary.md").read_text()
    shown = TURN.findall(md)
    labels = {label.replace("\\_", "_") for _, label in shown}
    # every turn of the clinic's conversations comes from somewhere, and says so
    assert all(label for _, label in shown), shown
    assert {"remember", "probe"} | ANSWERS <= labels, labels
    assert any(label.startswith("filler: ") for label in labels), labels
    # each turn shown with the source its record holds (the answer that said the number)
    failing = [r for r in trials(run) if any(c.verdict.value == "fail" for c in r.checks)]
    assert failing
    for r in failing:
        for t in r.observation.turns:
            if t.source == "answer:number":
                assert f"It's {r.observation.entities['patient']['number']}." == t.text
    html = (run / "report.html").read_text()
    for label in ANSWERS | {"remember", "probe"}:
        assert f'<span class="tag none turn-source">{label}</span>' in html
    junit = (run / "junit.xml").read_text()
    assert re.search(r"turn \d+ user \(answer: number\): It's P-\d+\.", junit)
    # this agent reports no tokens: the drift table has none, and nothing failed for it
    assert pq.read_table(run / "drift.parquet").column("tokens").null_count == 8


def test_a_regression_and_its_replay_name_which_rule_answered(tmp_path: Path) -> None:
    suite = tmp_path / "suites" / "clinic"
    shutil.copytree(CLINIC, suite, ignore=shutil.ignore_patterns("regressions"))
    (tmp_path / "agents").mkdir()
    shutil.copy(ROOT / "tests" / "agents" / "clinic_agent.py", tmp_path / "agents")
    env = environ(CLINIC_MODE="forgetful", HARNESS_DEPS="embedded")
    hunt = harness(
        "hunt", str(suite), "--budget", "5s", "--reports-dir", str(tmp_path / "r"),
        "--no-progress", env=env,
    )  # fmt: skip
    assert hunt.returncode == 1, hunt.stderr
    (path,) = sorted((suite / "regressions").glob("*.yaml"))
    saved = yaml.safe_load(path.read_text())
    evidence = saved["evidence"]
    sources = evidence["turn_sources"]
    assert set(sources) == set(range(1, len(evidence["turns"]) + 1)), path.read_text()
    assert sources[1] == "remember"
    assert sources[saved["length"] + 2] == "probe"
    answers = {sources[i]: evidence["turns"][i - 1] for i in sources if i > saved["length"] + 2}
    assert set(answers) == {"answer:surname", "answer:born", "answer:number"}
    assert answers["answer:number"].startswith("It's P-")
    assert answers["answer:surname"].startswith("My surname is ")

    replay = harness(
        "replay", f"regression:{saved['id']}", str(suite), "--reports-dir",
        str(tmp_path / "r"), env=env,
    )  # fmt: skip
    assert replay.returncode == 1, replay.stderr
    err = replay.stderr
    assert re.search(r"> \(answer: number\) It's P-\d+\.", err), err
    assert re.search(r"> \(answer: surname\) My surname is ", err), err
    assert "> (remember) Hi, just so you know, I can only come in the mornings." in err
    assert "> (probe) Please book me an appointment." in err


def test_an_http_agent_reports_its_tokens_at_each_length(tmp_path: Path) -> None:
    out = harness(
        "drift", str(CLINIC), "--reports-dir", str(tmp_path), "--no-progress",
        env=environ(CLINIC_MODE="correct", CLINIC_USAGE="on"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    run = only_run(tmp_path, out.stderr)
    table = pq.read_table(run / "drift.parquet").to_pylist()
    for requirement in ("CL-001", "CL-002"):
        curve = sorted(
            (row["length"], row["tokens"])
            for row in table
            if row["requirement"] == requirement and row["position"] == "start"
        )
        assert [length for length, _ in curve] == [0, 2, 4, 8]
        tokens = [t for _, t in curve]
        assert all(t is not None and t > 0 for t in tokens), curve
        assert tokens == sorted(tokens) and len(set(tokens)) == 4, curve  # grows with length
    # read at the probe as the agent counted it (the words of the visit so far), its
    # input_tokens under the reports' name, its non-count `cached` left out
    for r in trials(run):
        probe = next(t for t in r.observation.turns if t.source == "probe")
        words = sum(len(t.text.split()) for t in r.observation.turns[: probe.index])
        assert probe.usage is not None
        assert probe.usage["prompt_tokens"] == words
        assert set(probe.usage) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    md = (run / "summary.md").read_text()
    assert "Prompt tokens at the probe (mean): n=0: " in md
