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


def echo_suite(tmp_path: Path, searched: bool) -> Path:
    """The echo suite with a scenario `greet` of faker values alone, and with `searched` a
    second one, `count`, that varies an integer."""
    suite = tmp_path / "echo"
    shutil.copytree(ROOT / "tests" / "suites" / "echo", suite)
    config = yaml.safe_load((suite / "suite.yaml").read_text())
    config["environment"]["agent"]["python"]["path"] = [str(ROOT)]
    (suite / "suite.yaml").write_text(yaml.safe_dump(config))
    scenarios = suite / "scenarios" / "echo.yaml"
    data = yaml.safe_load(scenarios.read_text())
    greet = data["scenarios"][0]
    greet["id"], greet["vars"] = "greet", {"name": {"faker": "name"}}
    greet["turns"] = ["hello {{ vars.name }}", "second turn"]
    greet["checks"] = greet["checks"][:3]
    if searched:
        count = {**greet, "id": "count", "vars": {"name": {"integer": [1, 5]}}}
        data["scenarios"].append(count)
    scenarios.write_text(yaml.safe_dump(data))
    return suite


def test_hunting_a_suite_of_faker_values_alone_is_refused(tmp_path: Path) -> None:
    suite = echo_suite(tmp_path, searched=False)
    reports = tmp_path / "reports"
    proc = harness("hunt", str(suite), "--budget", "10s", "--reports-dir", str(reports))
    assert proc.returncode == 2, proc.stderr
    assert "nothing to hunt" in proc.stderr and "faker with `locales:`" in proc.stderr
    assert not reports.exists() or not any(reports.iterdir())


def test_a_faker_only_scenario_is_left_out_and_named_and_k_says_why(tmp_path: Path) -> None:
    suite = echo_suite(tmp_path, searched=True)
    reports = tmp_path / "reports"
    proc = harness("hunt", str(suite), "-k", "gr*", "--budget", "10s", "--reports-dir",
                   str(reports))  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "-k gr* matches greet of suite echo" in proc.stderr
    assert "only generated values are faker filler" in proc.stderr
    proc = harness("hunt", str(suite), "--budget", "2s", "--no-progress", "--reports-dir",
                   str(reports))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "left out, their only generated values faker filler (nothing to vary): greet" in (
        proc.stderr
    )
    assert "1 scenario(s) with inputs to vary" in proc.stderr
    (run,) = reports.iterdir()
    assert yaml.safe_load((run / "manifest.json").read_text())["scenarios"] == ["count"]
