"""A suite's stubbed services checked when it loads (no server): names and templates at their
file and line; and the attribution rule against a run's concurrency."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.spec.suite import load_suite
from harness.stubs.attribution import refuse_unattributable

SUITE = """\
name: stubbed
environment:
  dependencies:
    compliance:
      kind: http_service
      {match}
      routes:
        - path: /v1/approvals
          respond:
            json: {{ref: "{{{{ request.json.id }}}}-{{{{ {suite_name} }}}}"}}
  agent:
    python: {{callable: "tests.agents.echo:echo"}}
"""
SCENARIO = """\
scenarios:
  - id: s
    title: t
    vars: {{order_id: {{choice: [A, B]}}}}
    turns: ["hi"]
    services:
      {service}:
        - {{path: /x, respond: {{status: 503, body: "{{{{ {scenario_name} }}}}"}}}}
    checks:
      - type: call
        requirements: [T-001]
        service: {service}
"""
SPEC = """\
title: t
version: "1"
parameters: {limit: 5}
requirements:
  - {id: T-001, title: t, severity: major, text: t}
"""


def suite(tmp_path: Path, *, match: str = "", suite_name: str = "vars.order_id",
          service: str = "compliance", scenario_name: str = "request.path") -> Path:  # fmt: skip
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "suite.yaml").write_text(SUITE.format(match=match, suite_name=suite_name))
    (tmp_path / "spec.yaml").write_text(SPEC)
    (tmp_path / "scenarios" / "s.yaml").write_text(
        SCENARIO.format(service=service, scenario_name=scenario_name)
    )
    return tmp_path


def test_a_suite_with_a_stub_loads(tmp_path: Path) -> None:
    loaded = load_suite(suite(tmp_path, match='match: {json: id, value: "{{ vars.order_id }}"}'))
    assert list(loaded.manifest.environment.dependencies) == ["compliance"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"service": "complianc"}, ["s.yaml:7:7", "did you mean 'compliance'", "s.yaml:12:18"]),
        ({"suite_name": "params.limt"}, ["suite.yaml:10:", "unknown spec parameter 'limt'"]),
        ({"scenario_name": "vars.nope"}, ["s.yaml:8:", "vars.nope"]),
        ({"scenario_name": "reqest.path"}, ["s.yaml:8:", "did you mean 'request'"]),
        ({"match": 'match: {query: ref, value: "{{ vars.ordr }}"}'}, ["suite.yaml:6:", "ordr"]),
    ],
)
def test_names_and_templates_are_checked_at_their_line(
    tmp_path: Path, fields: dict[str, str], expected: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_suite(suite(tmp_path, **fields))
    for text in expected:
        assert text in str(caught.value)


def test_unattributable_refused_above_concurrency_one_only(tmp_path: Path) -> None:
    loaded = load_suite(suite(tmp_path))
    refuse_unattributable(loaded, 1)
    with pytest.raises(ConfigError) as caught:
        refuse_unattributable(loaded, 3)
    text = str(caught.value) + (caught.value.hint or "")
    assert "s.yaml:7:7: scenarios[0].services.compliance" in text
    assert "s.yaml:10:9: scenarios[0].checks[0]" in text
    assert "match: traceparent" in text and "--concurrency 1" in text


@pytest.mark.parametrize("match", ["match: traceparent", 'match: {header: X-Order, value: "x"}'])
def test_a_stub_with_match_is_attributable_at_any_concurrency(tmp_path: Path, match: str) -> None:
    refuse_unattributable(load_suite(suite(tmp_path, match=match)), 16)


def test_a_typo_in_a_scenario_file_is_the_only_problem_said(tmp_path: Path) -> None:
    """The scenario file that declares vars.order_id fails to load: the suite's templates
    over it are not judged against the scenarios that did load (no spurious problem)."""
    root = suite(tmp_path, match='match: {json: id, value: "{{ vars.order_id }}"}')
    scenarios = root / "scenarios" / "s.yaml"
    scenarios.write_text(scenarios.read_text().replace("    title: t\n", "    titel: t\n"))
    with pytest.raises(ConfigError) as caught:
        load_suite(root)
    [problem] = caught.value.problems
    assert "s.yaml" in problem.path and "titel" in problem.message


@pytest.mark.parametrize(
    ("defaults", "said"),
    [
        ("defaults: {concurrency: 1}\n", "a run with --concurrency above 1 cannot tell"),
        ("defaults: {concurrency: 3}\n", "a run of concurrency 3 (the suite's default) cannot"),
    ],
)
def test_validate_names_the_run_it_warns_about(tmp_path: Path, defaults: str, said: str) -> None:
    """Never an invented concurrency: the suite's default when it is above 1, else any run
    with --concurrency above 1."""
    root = suite(tmp_path)
    (root / "suite.yaml").write_text(defaults + (root / "suite.yaml").read_text())
    shown = subprocess.run(
        [sys.executable, "-m", "harness", "validate", str(root)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "400"},
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert said in shown.stderr and "concurrency 2" not in shown.stderr


@pytest.mark.parametrize(
    ("latency", "problem"),
    [
        ("2 seconds", "latency: seconds (1.5) or a duration such as 250ms, 2s (found '2 seconds')"),
        ("-1", "greater than or equal to 0"),
    ],
)
def test_a_latency_is_said_as_meant(tmp_path: Path, latency: str, problem: str) -> None:
    root = suite(tmp_path)
    text = (root / "suite.yaml").read_text()
    (root / "suite.yaml").write_text(
        text.replace(
            "          respond:\n", f"          respond:\n            latency: {latency}\n"
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_suite(root)
    assert "routes[0].respond.latency" in str(caught.value) and problem in str(caught.value)
    assert "valid number" not in str(caught.value)


def test_a_latency_in_words_or_units_loads(tmp_path: Path) -> None:
    root = suite(tmp_path)
    text = (root / "suite.yaml").read_text()
    (root / "suite.yaml").write_text(
        text.replace("          respond:\n", "          respond:\n            latency: 250ms\n")
    )
    [route] = load_suite(root).manifest.environment.dependencies["compliance"].routes  # type: ignore[union-attr]
    assert route.respond is not None and route.respond.latency == 0.25
