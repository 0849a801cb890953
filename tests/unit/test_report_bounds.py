"""A large run's reports stay small (issue 16): a divergence group lists 50 other cases and
counts the rest, the flaky cases table lists 100, and JUnit past 10,000 testcases summarises
the passing cases per check and the divergences past 20 per check and verdict; every verdict
is still counted."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from harness.report.junit import JUNIT_CASES, JUNIT_REPRODUCERS, render_junit
from harness.report.markdown import render_markdown
from harness.report.view import FULL_EXAMPLES, OTHERS_SHOWN, build_view
from harness.runlog.read import parse_manifest
from tests.helpers import trial_rows

MANIFEST = {
    "run_id": "r",
    "suite": "s",
    "trials": 2,
    "requirements": [
        {"id": "R-001", "severity": "critical", "title": "one"},
        {"id": "R-002", "severity": "minor", "title": "two"},
    ],
}
CASES = 3000  # x 2 checks x 2 trials = 12,000 testcases, past JUNIT_CASES


def _rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(1, CASES + 1):
        for trial in (1, 2):
            # every 10th case fails R-001 in its first trial only: 300 flaky cases
            verdict = "fail" if i % 10 == 0 and trial == 1 else "pass"
            rows += trial_rows(f"echo#{i}", trial, {"R-001:reply": verdict, "R-002:never": "pass"})
    for row in rows:
        row.update(turns=[], vars={}, entities={}, expected="x", found="y", message="no x")
    return rows


def test_a_large_run_reads_as_groups_counts_and_a_few_reproducers() -> None:
    rows, manifest = _rows(), parse_manifest(MANIFEST)
    assert len(rows) > JUNIT_CASES
    view = build_view(rows, manifest)
    (group,) = view.divergences
    assert group.count == CASES // 10
    assert len(group.examples) == FULL_EXAMPLES and len(group.others) == OTHERS_SHOWN
    assert group.more == CASES // 10 - FULL_EXAMPLES - OTHERS_SHOWN
    assert view.reliability is not None and len(view.reliability.flaky) == CASES // 10
    assert len(view.reliability.flaky_shown) == 100 and view.reliability.flaky_more == 200

    markdown = render_markdown(view, None, None, None)
    assert f"… and {group.more} more case(s)" in markdown
    assert "… and 200 more flaky case(s)" in markdown
    assert len(markdown) < 60_000

    suite = ET.fromstring(render_junit(rows, manifest)).find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    failing = [c for c in cases if c.find("failure") is not None]
    # 20 reproducers with their evidence, then one testcase for the other 280
    assert len(failing) == JUNIT_REPRODUCERS + 1
    assert "280 more case(s)" in str(failing[-1].get("name"))
    passed = [c.get("name") for c in cases if "passed" in str(c.get("name"))]
    assert passed == [
        f"{2 * CASES - CASES // 10} case(s) passed :: reply [R-001]",
        f"{2 * CASES} case(s) passed :: never [R-002]",
    ]
    assert suite.get("tests") == str(len(cases)) and suite.get("failures") == str(len(failing))
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["checks_fail"] == str(CASES // 10)
    assert props["checks_pass"] == str(4 * CASES - CASES // 10)
