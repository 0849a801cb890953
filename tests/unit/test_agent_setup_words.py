"""What the harness says of a suite's agent settings that may be mistakes: a declared
environment variable that came out empty (only when read from an unset variable with no
`default`), and a capture path that finds nothing (with the reply's closest path)."""

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


def test_a_capture_that_finds_nothing_names_its_path_and_the_closest_one() -> None:
    """A typo in a capture's path reads like an agent that left the value out: the failure
    names the path looked at and the reply's closest path."""
    from harness.agents.protocol import Incoming, read_request
    from harness.spec.models.agents import Request

    request = Request(url="http://x/visits", capture={"visit_id": "visit.ident"})
    body = b'{"visit": {"id": "v-1", "opened": true}, "items": [{"name": "a"}]}'
    _, failure = read_request(request, Incoming(201, [], body, 1.0))
    assert failure is not None
    assert failure.message.startswith(
        "malformed reply: nothing to capture as visit_id at path visit.ident (did you mean "
        "'visit.id'?) in {\"visit\""
    ), failure.message
    request = Request(url="http://x/visits", capture={"visit_id": "zzz"})
    _, failure = read_request(request, Incoming(201, [], body, 1.0))
    assert failure is not None and "as visit_id at path zzz in" in failure.message
    captured, failure = read_request(
        Request(url="http://x/visits", capture={"visit_id": "visit.id"}),
        Incoming(201, [], body, 1.0),
    )
    assert failure is None and captured == {"visit_id": "v-1"}
