"""Which scenarios a hunt can search (modes/hunter.searchable): a generated value the search
varies, personas or drift lengths. A faker value without `locales` is filler (fresh for each
example, never searched), so a scenario with nothing else gives one example: the hunt refuses
it as nothing to hunt (exit 2, no run folder) rather than running one case and stopping."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.modes.hunter import searchable
from harness.spec.models import Scenario
from tests.helpers import ROOT, harness


def scenario(vars: dict[str, Any], **more: Any) -> Scenario:
    return Scenario.model_validate(
        {
            "id": "s",
            "title": "S",
            "vars": vars,
            "turns": ["hi {{ vars.x }}"],
            "checks": [{"type": "contains", "requirements": ["R-1"], "value": "hi"}],
            **more,
        }
    )


@pytest.mark.parametrize(
    ("vars", "expected"),
    [
        ({"x": {"faker": "name"}}, False),
        ({"x": {"faker": "name", "locale": "de_DE"}}, False),
        ({"x": {"faker": "name", "locales": ["de_DE", "vi_VN"]}}, True),
        ({"x": {"choice": ["a", "b"]}}, True),
        ({"x": {"integer": [1, 9]}}, True),
        ({"x": {"faker": "name"}, "y": {"text_trap": "{{ vars.x }}", "traps": ["long"]}}, True),
        ({"x": "plain"}, False),
        ({"x": {"sequence": "T-{n}"}}, False),  # one value per example
    ],
)
def test_a_faker_value_alone_is_not_searched(vars: dict[str, Any], expected: bool) -> None:
    assert searchable(scenario(vars)) is expected


def test_a_setup_rows_faker_values_alone_are_not_searched() -> None:
    setup = {"member": {"table": "members", "values": {"name": {"faker": "name"}}}}
    assert not searchable(scenario({"x": "plain"}, setup=setup))
    setup["member"]["values"]["card"] = {"choice": ["C-1", "C-2"]}
    assert searchable(scenario({"x": "plain"}, setup=setup))


def test_hunting_a_suite_of_faker_values_alone_is_refused(tmp_path: Path) -> None:
    suite = tmp_path / "echo"
    shutil.copytree(ROOT / "tests" / "suites" / "echo", suite)
    config = yaml.safe_load((suite / "suite.yaml").read_text())
    config["environment"]["agent"]["python"]["path"] = [str(ROOT)]
    (suite / "suite.yaml").write_text(yaml.safe_dump(config))
    scenarios = suite / "scenarios" / "echo.yaml"
    data = yaml.safe_load(scenarios.read_text())
    data["scenarios"][0]["vars"] = {"name": {"faker": "name"}}
    data["scenarios"][0]["turns"] = ["hello {{ vars.name }}", "second turn"]
    data["scenarios"][0]["checks"] = data["scenarios"][0]["checks"][:3]
    scenarios.write_text(yaml.safe_dump(data))
    reports = tmp_path / "reports"
    proc = harness("hunt", str(suite), "--budget", "10s", "--reports-dir", str(reports))
    assert proc.returncode == 2, proc.stderr
    assert "nothing to hunt" in proc.stderr and "faker with `locales:`" in proc.stderr
    assert not reports.exists() or not any(reports.iterdir())
