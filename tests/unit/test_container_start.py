"""A container start that fails says what happened and whether more time would help, from
what the engine reported (the container exited; its command does not exist), never from
the words of the harness's own message."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from harness.deps import containers
from harness.errors import DependencyError

GIVEN_HINT = "raise the dependency's start timeout"


class FakeContainer:
    def __init__(self, error: str) -> None:
        self.error = error
        self._wait_strategy = SimpleNamespace(last_seen="port 5432 closed")

    def start(self) -> None:
        raise RuntimeError(self.error)


def _start(monkeypatch: pytest.MonkeyPatch, error: str, state: str, code: int | None) -> str:
    monkeypatch.setattr(containers.engine, "client", lambda timeout: SimpleNamespace(close=id))
    monkeypatch.setattr(containers, "_state", lambda client, selector: (state, code))
    monkeypatch.setattr(containers, "log_tail", lambda client, selector: "")
    monkeypatch.setattr(containers.cleanup, "remove_matching", lambda client, selector: [])
    container: Any = FakeContainer(error)
    with pytest.raises(DependencyError) as exc:
        asyncio.run(
            containers.start_container(
                container, {"run": "r"}, name="db", image="img:1", timeout=30, hint=GIVEN_HINT
            )
        )
    return str(exc.value)


def test_a_container_that_exited_says_so_and_that_waiting_would_not_help(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = _start(monkeypatch, "readiness check failed", "exited", 3)
    assert "container from image img:1 exited with code 3 during start-up" in text
    assert "its wait last saw" not in text and "waiting longer would not help" in text


def test_a_command_that_cannot_run_is_no_matter_of_time(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _start(monkeypatch, 'exec: "pg_ready": executable file not found', "running", None)
    assert "failed its readiness check" in text and "(its wait last saw: port 5432" in text
    assert "waiting longer would not help" in text and GIVEN_HINT not in text


def test_a_slow_container_gets_the_callers_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _start(monkeypatch, "still starting", "running", None)
    assert "(its wait last saw: port 5432 closed)" in text and GIVEN_HINT in text
