from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

# Runs started by these tests (and their subprocesses) use the embedded provider unless a test
# says otherwise: with a Docker engine present, auto would pick docker and the official images,
# which a machine without a registry cannot pull. tests/containers choose docker themselves.
os.environ.setdefault("HARNESS_DEPS", "embedded")

SPEC = """\
title: Test agent
version: "1"
parameters:
  limit: 500.00
requirements:
  - id: T-001
    title: Echoes
    severity: major
    text: The reply echoes the message.
  - id: T-002
    title: Never issued
    severity: critical
    text: Never says issued.
"""

SCENARIOS = """\
scenarios:
  - id: hello
    title: Echo
    repeat: {repeat}
    turns: {turns}
    checks:
      - type: contains
        requirements: [T-001]
        value: hello
      - type: not_contains
        requirements: [T-002]
        turn: all
        value: issued
"""


@pytest.fixture
def make_suite(tmp_path: Path) -> Callable[..., Path]:
    """Write a small suite with the given agent section; returns its folder."""

    def make(
        agent: str,
        *,
        repeat: int = 3,
        turns: str = '["hello {{ case.id }}"]',
        timeout: float = 10,
        concurrency: int = 4,
    ) -> Path:
        root = tmp_path / "suite"
        (root / "scenarios").mkdir(parents=True, exist_ok=True)
        (root / "suite.yaml").write_text(
            "name: t\ndefaults:\n  seed: 1\n"
            f"  concurrency: {concurrency}\n  case_timeout: {timeout}\n"
            "environment:\n  agent:\n" + textwrap.indent(textwrap.dedent(agent), "    ")
        )
        (root / "spec.yaml").write_text(SPEC)
        (root / "scenarios" / "s.yaml").write_text(SCENARIOS.format(repeat=repeat, turns=turns))
        return root

    return make
