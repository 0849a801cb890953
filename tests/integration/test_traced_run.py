"""Traces in, per case, over real sockets: `harness run` and `harness load` on an HTTP agent
instrumented with the real OpenTelemetry SDK (tests/agents/otel_agent.py --http), which
makes one span per turn under the `traceparent` the harness sends and names in it the case
its turn's text was about. Every span stored with a case's observation must carry that
case's own id: a span attributed to the wrong case fails the test.

The sessions run in this process (as benchmarks/bench_run.py runs them), so the receiver's
port and the agent's process can be looked for after they end."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from harness.core import TWIN
from harness.core.events import Note
from harness.errors import AgentStartError, HarnessError
from harness.otel.context import CaseTrace
from harness.runlog.models import TrialRecord
from harness.runlog.read import open_run
from harness.session import run_session
from tests.procs import wait_gone

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "tests" / "suites" / "traced"


def run(reports: Path, notes: list[str], suite: Path = SUITE) -> Any:
    from harness.modes.run import RunDriver, RunOptions

    def emit(event: object) -> None:
        if isinstance(event, Note):
            notes.append(event.text)

    driver = RunDriver(RunOptions(suite=suite, reports_dir=reports))
    return asyncio.run(run_session(driver, emit))


def load(reports: Path, notes: list[str]) -> Any:
    from harness.modes.load import LoadDriver, LoadOptions

    def emit(event: object) -> None:
        if isinstance(event, Note):
            notes.append(event.text)

    driver = LoadDriver(LoadOptions(suite=SUITE, reports_dir=reports, profile="burst"))
    return asyncio.run(run_session(driver, emit))


def records(run_dir: Path) -> list[TrialRecord]:
    return [r for r in open_run(run_dir).trials() if isinstance(r, TrialRecord)]


def receiver_port(notes: list[str]) -> int:
    said = [n for n in notes if n.startswith("traces: OTLP receiver at http://127.0.0.1:")]
    assert len(said) == 1 and "(OTEL_* set for the agent)" in said[0], notes
    found = re.search(r":(\d+) ", said[0])
    assert found is not None
    return int(found.group(1))


def closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def assert_own_spans(record: TrialRecord, run_id: str, turns: int) -> None:
    """The record's spans: its own trace, one per turn, each naming the record's own case,
    under the parent span of its own turn."""
    obs = record.observation
    trace = CaseTrace.of(run_id, record.case.id, record.trial)
    # a duplicate pair's second conversation sends the first's texts, under its own trace
    case_id = record.case.id.removesuffix(TWIN)
    assert obs.trace_id == trace.trace_id
    assert [t.sent_ns > 0 for t in obs.turns] == [True] * turns
    assert len(obs.spans) == turns, (case_id, obs.spans)
    for span in obs.spans:
        assert span.attributes.get("case.id") == case_id, (case_id, span.attributes)
        assert span.trace_id == trace.trace_id and span.service == "traced-agent"
    by_turn = trace.by_turn(obs.spans, turns)
    assert sorted(k for k in by_turn if k is not None) == list(range(turns)), by_turn
    for turn, spans in by_turn.items():
        assert turn is not None
        assert [s.attributes["turn.text"] for s in spans] == [obs.turns[turn].text]


def test_run_stores_each_cases_own_spans_and_stops_the_receiver(tmp_path: Path) -> None:
    notes: list[str] = []
    outcome = run(tmp_path, notes)
    port = receiver_port(notes)
    found = records(outcome.run_dir)
    assert len(found) == 6
    for record in found:
        assert_own_spans(record, outcome.run_id, 2)
        assert record.observation.spans_dropped == 0
        assert record.observation.spans_stray == 0
        [span_check] = [c for c in record.checks if c.check_type == "span"]
        assert span_check.verdict.value == "pass", span_check
    # the receiver and the agent are gone: the port refuses, no process of the run is left
    assert closed(port)
    assert not wait_gone(outcome.run_dir)


def test_load_with_concurrent_users_attributes_every_span_to_its_case(tmp_path: Path) -> None:
    notes: list[str] = []
    outcome = load(tmp_path, notes)
    port = receiver_port(notes)
    found = [r for r in records(outcome.run_dir) if r.observation.error is None]
    assert len(found) >= 8, len(found)
    assert max(r.load.users or 0 for r in found if r.load) >= 2  # several users at once
    for record in found:
        assert_own_spans(record, outcome.run_id, 2)
    assert any(r.case.id.endswith(TWIN) for r in found)  # pairs: the same texts, two traces
    assert closed(port)
    assert not wait_gone(outcome.run_dir)


def test_an_agent_that_sends_no_spans_has_a_trace_and_no_spans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_AGENT_SPANS", "off")
    notes: list[str] = []
    outcome = run(tmp_path, notes)
    port = receiver_port(notes)
    found = records(outcome.run_dir)
    assert len(found) == 6
    for record in found:
        obs = record.observation
        assert obs.trace_id == CaseTrace.of(outcome.run_id, record.case.id, record.trial).trace_id
        assert obs.spans == [] and obs.spans_stray == 0
        # no spans at all is an error for the trace check, never a pass, with the hint
        [span_check] = [c for c in record.checks if c.check_type == "span"]
        assert span_check.verdict.value == "error", span_check
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" in span_check.message
    assert outcome.counts.get("error") == 6, outcome.counts  # every trial: an error, no pass
    assert closed(port)


def test_the_receiver_stops_when_the_agent_cannot_start(tmp_path: Path) -> None:
    """The receiver is up before the agent (its address is in the agent's environment); an
    agent that never starts still leaves no receiver behind."""
    suite = tmp_path / "traced"
    shutil.copytree(SUITE, suite)
    text = (suite / "suite.yaml").read_text().replace("../../agents/", f"{ROOT}/tests/agents/")
    (suite / "suite.yaml").write_text(text.replace('PORT: "{{ agent.port }}"', 'PORT: "nope"'))
    notes: list[str] = []
    with pytest.raises(AgentStartError):
        run(tmp_path / "reports", notes, suite)
    assert closed(receiver_port(notes))


def test_otel_endpoint_in_a_suite_that_does_not_trace_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    """`harness validate` (a real process) refuses it at its path:line:col with the fix, exit
    2; `harness run` refuses it the same way before any dependency, receiver or agent."""
    import subprocess
    import sys

    suite = tmp_path / "untraced"
    shutil.copytree(SUITE, suite)
    text = (suite / "suite.yaml").read_text().replace("../../agents/", f"{ROOT}/tests/agents/")
    endpoint = '        OTEL_EXPORTER_OTLP_ENDPOINT: "{{ otel.endpoint }}"\n'
    (suite / "suite.yaml").write_text(text.replace("        PORT:", endpoint + "        PORT:"))
    line = 1 + (suite / "suite.yaml").read_text().splitlines().index(endpoint.rstrip("\n"))
    scenario = suite / "scenarios" / "traced.yaml"
    traced = scenario.read_text()
    scenario.write_text(traced.split("      - type: span")[0])
    done = subprocess.run(
        [sys.executable, "-m", "harness", "validate", str(suite)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert f"suite.yaml:{line}:38:" in said, said
    assert "no OTLP receiver runs for this suite" in said
    assert "add a span check, or a service with match: traceparent, or remove it" in said
    notes: list[str] = []
    with pytest.raises(HarnessError) as refused:
        run(tmp_path / "reports", notes, suite)
    assert refused.value.exit_code == 2
    assert "no OTLP receiver runs for this suite" in str(refused.value)
    assert not any(n.startswith(("traces:", "✓")) for n in notes), notes
    assert not list((tmp_path / "reports").glob("*/manifest.json"))  # no run left behind
    scenario.write_text(traced)  # with its span check the suite traces: valid
    done = subprocess.run(
        [sys.executable, "-m", "harness", "validate", str(suite)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_interrupted_traced_run_leaves_no_receiver_and_no_agent(tmp_path: Path) -> None:
    """Cancelled (as Ctrl-C cancels it) while cases are in flight: what finished is kept, the
    receiver's port refuses, the agent's processes are gone."""
    from harness.core.events import CaseFinished, Status
    from harness.modes.run import RunDriver, RunOptions

    notes: list[str] = []

    async def scenario() -> Any:
        finished = asyncio.Event()

        def emit(event: object) -> None:
            if isinstance(event, Note):
                notes.append(event.text)
            if isinstance(event, CaseFinished):
                finished.set()

        driver = RunDriver(RunOptions(suite=SUITE, reports_dir=tmp_path))
        session = asyncio.create_task(run_session(driver, emit))
        await finished.wait()
        session.cancel()
        return await session

    outcome = asyncio.run(scenario())
    assert outcome.status is Status.INTERRUPTED
    assert closed(receiver_port(notes))
    assert not wait_gone(outcome.run_dir)
    for record in records(outcome.run_dir):
        assert record.observation.trace_id is not None


def test_a_span_name_no_span_had_is_named_as_a_likely_typo(tmp_path: Path) -> None:
    """A misspelt span name fails like a skipped step, or passes as `absent`: the failure
    names the case's closest span, and after the run a warning names every span check whose
    name or tool no span of the run had."""
    suite = tmp_path / "suites" / "traced"  # its agent: ../../agents/otel_agent.py
    shutil.copytree(SUITE, suite)
    shutil.copytree(ROOT / "tests" / "agents", tmp_path / "agents")
    scenarios = suite / "scenarios" / "traced.yaml"
    text = scenarios.read_text().replace("repeat: 6", "repeat: 2")
    scenarios.write_text(
        text
        + "      - {type: span, requirements: [TR-002], name: invoke_agnet}\n"
        + "      - {type: span, requirements: [TR-002], name: invoke_agnet, absent: true}\n"
        + "      - {type: span, requirements: [TR-002], tool: lookup}\n"
    )
    notes: list[str] = []
    outcome = run(tmp_path / "r", notes, suite)
    for record in records(outcome.run_dir):
        verdicts = [(c.check_id, c.verdict.value) for c in record.checks]
        assert verdicts == [
            ("contains-1", "pass"), ("span-2", "pass"), ("span-3", "fail"), ("span-4", "pass"),
            ("span-5", "fail"),
        ], verdicts  # fmt: skip
        typo = next(c for c in record.checks if c.check_id == "span-3")
        assert typo.message == (
            "the span (name invoke_agnet) never occurred; no span of this case has name "
            "'invoke_agnet' (did you mean 'invoke_agent'?)"
        ), typo.message
    warned = [n for n in notes if "no span of this run had" in n]
    assert warned == [
        "scenario hello, check span-3: no span of this run had name 'invoke_agnet' (did you "
        "mean 'invoke_agent'?): a typo? a check of it fails every case it judges, or passes it as "
        "absent",
        "scenario hello, check span-4: no span of this run had name 'invoke_agnet' (did you "
        "mean 'invoke_agent'?): a typo? a check of it fails every case it judges, or passes it as "
        "absent",
        "scenario hello, check span-5: no span of this run had tool 'lookup': a typo? a check "
        "of it fails every case it judges, or passes it as absent",
    ], notes
    # in every report, not only on the console: an `absent` check of a typo passes silently
    from harness.report.build import build_reports
    from harness.runlog.read import open_run as read_run

    assert read_run(outcome.run_dir).manifest.suite_warnings == warned
    build_reports(outcome.run_dir)  # as `harness run` does when the session ends
    summary = (outcome.run_dir / "summary.md").read_text()
    assert "**Warnings about the suite:**" in summary and "'invoke\\_agnet'" in summary
    assert "Warnings about the suite" in (outcome.run_dir / "report.html").read_text()
    junit = (outcome.run_dir / "junit.xml").read_text()
    assert junit.count('<property name="warning" value="scenario hello, check span-') == 3
