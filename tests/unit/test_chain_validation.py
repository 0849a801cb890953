"""Trace and call checks when the suite loads: a call check names a service the suite stubs,
and every template of a span or call check is checked like any other check's."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.spec.suite import load_suite
from tests.helpers import config_problems, copy_demo, edit_file

SCENARIO = """scenarios:
  - id: chain-steps
    title: The compliance step of a big refund, seen in the trace and in the stub's log
    setup:
      customer:
        table: customers
        values: {full_name: {faker: name}, email: {faker: email}, pin: "1234", vip: false}
    turns:
      - "Hello, I am {{ customer.full_name }}."
    checks:
      - id: compliance-span
        type: span
        requirements: [RD-002]
        tool: request_compliance_approval
        attributes: {gen_ai.tool.call.arguments: {contains: "{{ customer.id }}"}}
        status: ok
        before: {call: {service: compliance, path: /v1/approvals}}
      - id: compliance-call
        type: call
        requirements: [RD-002]
        service: compliance
        method: POST
        path: /v1/approvals
        body: {customer_id: "{{ customer.id }}"}
        answered: 200
"""


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    root = copy_demo(tmp_path, "suite")  # the demo stubs its compliance service
    assert "kind: http_service" in (root / "suite.yaml").read_text()
    (root / "scenarios" / "90_chain.yaml").write_text(SCENARIO)
    return root


def test_span_and_call_checks_on_a_stubbed_service_load(suite: Path) -> None:
    loaded = load_suite(suite)
    scenario = loaded.scenario("chain-steps")
    assert [c.type for c in scenario.checks] == ["span", "call"]


def test_an_order_against_a_service_the_suite_does_not_stub_is_refused(suite: Path) -> None:
    # (a call check's own service: checked with the stubs, spec/stubrefs.py)
    f = suite / "scenarios" / "90_chain.yaml"
    line = edit_file(
        f, "before: {call: {service: compliance", "before: {call: {service: complience"
    )
    (problem,) = config_problems(suite)
    assert problem.startswith(f"{f}:{line}:")
    assert (
        ": scenarios[0].checks[0].before.call.service: 'complience' is not an http_service"
        in problem
    )
    assert "did you mean 'compliance'?" in problem and "stubbed services: compliance" in problem
    edit_file(f, "before: {call: {service: complience", "after: {call: {service: db")
    (problem,) = config_problems(suite)
    assert ".checks[0].after.call.service: 'db' is not an http_service dependency" in problem


def test_the_templates_of_span_and_call_checks_are_checked(suite: Path) -> None:
    f = suite / "scenarios" / "90_chain.yaml"
    edit_file(f, '{contains: "{{ customer.id }}"}', '{contains: "{{ custmer.id }}"}')
    edit_file(
        f, 'body: {customer_id: "{{ customer.id }}"}', 'body: {customer_id: "{{ vars.order_no }}"}'
    )
    edit_file(f, "path: /v1/approvals}}", 'path: "/v1/{{ params.aproval_limit }}"}}')
    found = config_problems(suite)
    assert len(found) == 3, found
    assert any(".checks[0].attributes" in p and "custmer" in p for p in found)
    assert any(".checks[0].before.call.path" in p and "aproval_limit" in p for p in found)
    assert any(".checks[1].body.customer_id" in p for p in found)


def test_the_inventory_says_what_judges_each_requirement(suite: Path) -> None:
    from click.testing import CliRunner

    from harness.check.inventory import check_inventory, judged_by
    from harness.cli.main import cli

    loaded = load_suite(suite)
    kinds = judged_by(check_inventory(loaded))
    assert kinds["RD-002"] == ["state", "invariant", "call", "trace"]
    assert "call" not in kinds["RD-003"] and "trace" not in kinds["RD-003"]
    # the demo marks RD-002 a mandatory step; RD-003 marked one here has no trace or call check
    edit_file(suite / "spec.yaml", "  - id: RD-003\n", "  - id: RD-003\n    mandatory_step: true\n")
    shown = CliRunner().invoke(cli, ["list", str(suite)], terminal_width=400)
    assert shown.exit_code == 0, shown.output
    lines = {line.split()[0]: line for line in shown.output.splitlines() if "RD-00" in line}
    assert "(judged by state, invariant, call, trace) · mandatory step" in lines["RD-002"]
    assert lines["RD-002"].endswith("mandatory step")
    assert lines["RD-003"].endswith("· mandatory step (no trace or call check)")
