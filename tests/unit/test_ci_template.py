"""The nightly CI template stays true: every harness command and option it uses exists."""

from __future__ import annotations

import re
import shlex
from typing import Any

import click
import yaml

from harness.cli.main import cli
from tests.helpers import ROOT

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
    assert "--trials" in calls[0] and "--k" in calls[2]
    text = TEMPLATE.read_text()
    assert "junit.xml" in text and "report.html" in text and "upload-artifact" in text


def test_every_option_the_template_uses_exists() -> None:
    for call in harness_calls():
        command = cli.get_command(click.Context(cli), call[1])
        assert command is not None, call[1]
        known = {opt for p in command.params if isinstance(p, click.Option) for opt in p.opts}
        used = {arg for arg in call[2:] if arg.startswith("-")}
        assert used <= known, (call[1], used - known)


def _workflow() -> dict[str, Any]:
    workflow: dict[str, Any] = yaml.safe_load(TEMPLATE.read_text())
    return workflow


def _steps() -> list[dict[str, Any]]:
    return [step for job in _workflow()["jobs"].values() for step in job["steps"]]


def test_the_template_may_publish_checks_and_reads_the_repository() -> None:
    permissions = _workflow()["permissions"]
    assert permissions["checks"] == "write"  # the JUnit results are a check run
    assert permissions["contents"] == "read"
    assert set(permissions.values()) <= {"read", "write"} and "write-all" not in str(permissions)


def test_the_comparison_runs_even_when_publishing_the_junit_failed() -> None:
    steps = _steps()
    junit = next(i for i, s in enumerate(steps) if "action-junit-report" in s.get("uses", ""))
    compare = next(i for i, s in enumerate(steps) if "harness compare" in s.get("run", ""))
    assert junit < compare
    condition = steps[compare]["if"].replace(" ", "")
    assert condition.startswith("always()&&"), condition
    # every step after the run that reads its id runs whatever failed before it
    for step in steps[junit:]:
        assert step["if"].replace(" ", "").startswith("always()&&"), step.get("name")


def test_harness_is_installed_from_its_own_checkout_set_in_one_marked_place() -> None:
    env = _workflow()["env"]
    assert "HARNESS_REPO" in env and "SET THIS" in TEMPLATE.read_text().split("HARNESS_REPO:")[0]
    checkouts = [s for s in _steps() if s.get("uses", "").startswith("actions/checkout@")]
    harness_src = next(s for s in checkouts if "repository" in s.get("with", {}))
    assert harness_src["with"]["repository"] == "${{ env.HARNESS_REPO }}"
    path = harness_src["with"]["path"]
    assert path != "harness"  # would clobber a harness/ folder of the repository it runs in
    installs = [s["run"] for s in _steps() if "pip install" in s.get("run", "")]
    assert installs == [f"pip install ./{path}"]
    assert "pip install -e ." not in TEMPLATE.read_text()


def test_the_run_id_is_read_from_the_line_that_names_it() -> None:
    run = next(s["run"] for s in _steps() if s.get("id") == "run")
    assert "awk '/^run id/{print $3}' run.txt" in run
