"""A case's evidence says which faults were on while each turn was sent, in every report and
in `harness replay` ("turn 2 (during cache: latency downstream, 1500 ms)"), escaped for each;
turns sent with no fault on (and recovery probes, after it) say nothing."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

from harness.core import Case, CaseResult, CheckResult, Observation, TurnRecord, Verdict
from harness.core.types import FaultWindow, as_data
from harness.report.faultturns import during, fault_label
from tests.faultruns import fault_run

LATENCY = FaultWindow(
    link="cache",
    toxic="latency",
    stream="downstream",
    attributes={"latency": 1500, "jitter": 0},
    source="profile:slow",
    started_ns=2_000,
    ended_ns=3_000,
    first_turn=2,
    last_turn=2,
    connections=1,
    affected=1,
)
RESET = FaultWindow(
    link="db", toxic="reset_peer", stream="upstream", attributes={"timeout": 0},
    toxicity=0.5, source="profile:slow", started_ns=2_000, ended_ns=0, first_turn=2,
    last_turn=3,
)  # fmt: skip
TURNS = [
    TurnRecord(index=1, text="hello", reply="hi", sent_ns=1_000),
    TurnRecord(index=2, text="refund order 7", reply=None, status=503, sent_ns=2_500),
    TurnRecord(index=3, text="ping", reply="pong", source="recovery", sent_ns=4_000),
]


def test_a_fault_in_a_few_words() -> None:
    assert fault_label(as_data(LATENCY)) == "cache: latency downstream, 1500 ms"
    assert fault_label(as_data(RESET)) == "db: reset_peer upstream, toxicity 0.5"
    down = {"link": "db", "toxic": "down", "attributes": {}, "toxicity": 1.0}
    assert fault_label(down) == "db: down"
    jitter = {**as_data(LATENCY), "attributes": {"latency": 100, "jitter": 20}}
    assert fault_label(jitter) == "cache: latency downstream, 100 ms, jitter 20 ms"
    blip = as_data(
        FaultWindow(link="db", toxic="reset_peer", attributes={"timeout": 0},
                    after_sent="(?is)insert into refunds.*commit", times=1)
    )  # fmt: skip
    assert fault_label(blip) == (
        "db: reset_peer downstream, after_sent (?is)insert into refunds.*commit, times 1"
    )


def test_each_turn_names_the_faults_on_while_it_was_sent() -> None:
    windows = as_data([LATENCY, RESET])
    turns = as_data(TURNS)
    assert during(turns[0], windows) is None
    assert during(turns[1], windows) == (
        "during cache: latency downstream, 1500 ms; db: reset_peer upstream, toxicity 0.5"
    )
    assert during(turns[2], windows) == "during db: reset_peer upstream, toxicity 0.5"
    assert during(turns[1], []) is None and during(turns[1], None) is None
    # a window that recorded no turn (a load's, none in flight): its applied/removed times
    timed = {**windows[0], "first_turn": None, "last_turn": None}
    assert during(turns[1], [timed]) is not None and during(turns[0], [timed]) is None
    assert during(turns[2], [timed]) is None


def test_every_report_shows_the_fault_beside_the_turn_it_was_on_during(tmp_path: Path) -> None:
    from harness.report.build import build_reports

    folder = fault_run(
        tmp_path,
        {"R-1": (["P"] * 3, ["F"] * 3)},
        profile="slow",
        windows=[replace(LATENCY, link="cache<b>")],  # escaped in each format
        turns=TURNS[:2],
    )
    build_reports(folder)
    label = "during cache<b>: latency downstream, 1500 ms"
    md = (folder / "summary.md").read_text()
    assert "Turn 2 (during cache\\<b\\>: latency downstream, 1500 ms), user:" in md
    assert "Turn 1, user:" in md and "Turn 1 (during" not in md
    html = (folder / "report.html").read_text()
    assert 'turn-fault">during cache&lt;b&gt;: latency downstream, 1500 ms<' in html
    assert html.count('class="tag error turn-fault"') == md.count("Turn 2 (during")
    root = ET.fromstring((folder / "junit.xml").read_bytes())
    failures = [f.text or "" for f in root.iter("failure") if "turn 1 user" in (f.text or "")]
    assert failures and all(f"turn 2 user ({label}): refund order 7" in f for f in failures)
    assert all("turn 1 user: hello" in f for f in failures)


def test_replay_shows_the_fault_beside_its_turn(capsys: object) -> None:
    from harness.cli.evidence import print_result

    obs = Observation(session_id="s", turns=list(TURNS[:2]), faults=[LATENCY])
    check = CheckResult(check_id="c", check_type="sql", category="state", requirements=("R",),
                        verdict=Verdict.FAIL, message="two rows")  # fmt: skip
    case = Case(id="refund#1~slow", scenario="refund", index=0, seed=1, fault="slow")
    print_result(CaseResult(case=case, trial=1, observation=obs, checks=[check]))
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "(during cache: latency downstream, 1500 ms) refund order 7" in err
    [hello] = [line for line in err.splitlines() if "hello" in line]
    assert "during" not in hello
