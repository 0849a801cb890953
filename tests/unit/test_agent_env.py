"""The agent's declared environment: a variable that came out empty is named before the run
only when it may be a mistake (a value read from an unset variable, with no `default`)."""

from __future__ import annotations

from pathlib import Path

from harness.agents.process import AgentProcessRunner
from harness.redact import Redactor
from harness.session.environment import EnvView
from harness.spec.models import AgentProcess


def test_only_an_empty_value_read_without_a_default_is_named(tmp_path: Path) -> None:
    config = AgentProcess(
        command=["python", "agent.py"],
        env={
            "TOKEN_FROM_ENV": "{{ env.HARNESS_TEST_UNSET_A }}",  # unset: likely a mistake
            "FAULT": "{{ env.HARNESS_TEST_UNSET_B | default('') }}",  # empty on purpose
            "WRITTEN_EMPTY": "",  # empty on purpose
            "SET": "{{ env.HARNESS_TEST_UNSET_C | default('on') }}",
        },
    )
    context = {"env": EnvView()}  # as a run gives it: an unset variable reads as empty
    runner = AgentProcessRunner(config, context, tmp_path, tmp_path / "agent.log", Redactor())
    assert runner.empty == ["TOKEN_FROM_ENV"]
    assert runner.env["FAULT"] == "" and runner.env["SET"] == "on"
