"""The nightly CI template stays true: every harness command and option it uses exists."""

from __future__ import annotations

import re
import shlex

import click
import yaml

from harness.cli.main import cli
from tests.conftest import ROOT

TEMPLATE = ROOT / "examples" / "ci" / "nightly.yml"


def harness_calls() -> list[list[str]]:
    workflow = yaml.safe_load(TEMPLATE.read_text())
    scripts = [
        step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step
    ]
    calls = []
    for script in scripts:
        joined = re.sub(r"\\\n\s*", " ", script)  # continued lines
        for line in joined.splitlines():
            line = line.strip()
            if line.startswith("harness "):
                calls.append(shlex.split(line.split(">")[0].split("||")[0]))
    return calls


def test_the_template_runs_trials_compares_and_draws_the_trend() -> None:
    calls = harness_calls()
    assert [c[1] for c in calls] == ["run", "compare", "trend"]
    assert "--trials" in calls[0]
    text = TEMPLATE.read_text()
    assert "junit.xml" in text and "report.html" in text and "upload-artifact" in text


def test_every_option_the_template_uses_exists() -> None:
    for call in harness_calls():
        command = cli.commands[call[1]]
        known = {opt for p in command.params if isinstance(p, click.Option) for opt in p.opts}
        used = {arg for arg in call[2:] if arg.startswith("-")}
        assert used <= known, (call[1], used - known)
