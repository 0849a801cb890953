"""The manifest records how the harness talks to the agent (http, openai, python) for every
interface, and an OpenAI endpoint's model and prices, before anything is asked of the agent
(so a run whose agent never answered still says what it was)."""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from harness.errors import AgentStartError
from harness.procs import free_port
from harness.runlog.models import AgentInfo, RunManifest
from harness.runlog.read import open_run
from harness.runlog.store import RunLog
from harness.session.environment import _start_agent
from harness.spec.models import AgentConfig
from harness.spec.models.agents import HttpAdapter, OpenAIAdapter, Price, PythonAdapter
from harness.spec.suite import Suite, load_suite
from tests.helpers import DEMO


def with_agent(agent: AgentConfig) -> Suite:
    """The demo suite talking to another agent."""
    suite = load_suite(DEMO)
    environment = suite.manifest.environment.model_copy(update={"agent": agent})
    return dataclasses.replace(
        suite, manifest=suite.manifest.model_copy(update={"environment": environment})
    )


def started(tmp_path: Path, agent: AgentConfig) -> AgentInfo:
    """The agent info the run's manifest holds once the agent was started (or refused)."""
    log = RunLog.create(tmp_path, RunManifest(suite="s", seed=1))
    events: list[Any] = []

    async def start() -> None:
        async with AsyncExitStack() as stack:
            await _start_agent(with_agent(agent), log, {}, 1, events.append, stack)

    try:
        asyncio.run(start())
    finally:
        log.close()
    info = open_run(log.dir).manifest.agent
    assert info is not None
    return info


def nowhere() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def test_an_openai_agent_records_its_model_and_prices(tmp_path: Path) -> None:
    config = OpenAIAdapter(
        base_url=f"{nowhere()}/v1",
        model="m-1",
        prices={"m-1": Price(input=0.5, output=1.5, currency="EUR")},
    )
    with pytest.raises(AgentStartError):
        started(tmp_path, AgentConfig(openai=config))
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    info = open_run(run).manifest.agent
    assert info is not None and info.interface == "openai" and info.model == "m-1"
    assert info.prices == {"m-1": {"input": 0.5, "output": 1.5, "currency": "EUR"}}


def test_an_http_agent_without_a_version_is_still_recorded(tmp_path: Path) -> None:
    with pytest.raises(AgentStartError):
        started(tmp_path, AgentConfig(http=HttpAdapter(url=f"{nowhere()}/chat")))
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    info = open_run(run).manifest.agent
    assert info is not None and info.interface == "http"
    assert info.model is None and info.prices is None


def test_a_python_agent_is_recorded(tmp_path: Path) -> None:
    code = tmp_path / "agent_code"
    code.mkdir()
    (code / "traffic_info_agent.py").write_text(
        "def reply(message, session_id):\n    return 'ok'\n"
    )
    config = PythonAdapter(callable="traffic_info_agent:reply", path=[str(code)])
    reports = tmp_path / "reports"
    reports.mkdir()
    info = started(reports, AgentConfig(python=config))
    assert info.interface == "python" and info.model is None
