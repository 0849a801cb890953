"""Which checks judge which requirements: the suite's check inventory, stored with every run.

A run's manifest keeps this list so that a sign-off can trace requirement -> checks
-> cases -> results from stored data alone, and can tell a requirement no check
covers (a spec/test drift) from one whose checks merely did not run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.check.registry import category_of
from harness.core import Category
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


def judged_by(inventory: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Per requirement, what judges it: the categories of the checks and invariants that name
    it (state, invariant, call, trace, output, in that order). A mandatory step judged only
    by state or output has its outcome checked, never the step itself."""
    kinds: dict[str, set[str]] = {}
    for entry in inventory:
        for rid in entry["requirements"]:
            kinds.setdefault(rid, set()).add(entry["category"])
    order = [c.value for c in Category]
    return {rid: [c for c in order if c in have] for rid, have in kinds.items()}
