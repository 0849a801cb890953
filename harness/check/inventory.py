"""Which checks judge which requirements: the suite's check inventory, stored with every run.

A run's manifest keeps this list so that a sign-off can trace requirement -> checks
-> cases -> results from stored data alone, and can tell a requirement no check
covers (a spec/test drift) from one whose checks merely did not run.
"""

from __future__ import annotations

from typing import Any

from harness.check.registry import category_of
from harness.spec.suite import Suite


def check_inventory(suite: Suite) -> list[dict[str, Any]]:
    """Every check of every scenario, and every invariant, with the requirements it names."""
    out: list[dict[str, Any]] = []
    for scenario in suite.scenarios:
        for i, check in enumerate(scenario.checks):
            out.append(
                {
                    "scenario": scenario.id,
                    "check_id": suite.check_id(scenario, i),
                    "type": check.type,
                    "category": category_of(check).value,
                    "requirements": list(check.requirements),
                    "description": check.description or "",
                    "conditional": check.when is not None,
                    "source": suite.scenario_sources.get(scenario.id, ""),
                }
            )
    for inv in suite.invariants:
        out.append(
            {
                "scenario": "",
                "check_id": inv.id,
                "type": "invariant",
                "category": "invariant",
                "requirements": list(inv.requirements),
                "description": inv.description,
                "conditional": False,
                "source": "invariants.yaml",
            }
        )
    return out
