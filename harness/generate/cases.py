"""Setup rows of a case: generated once per case, and afresh for each metamorphic variant."""

from __future__ import annotations

from typing import Any

from harness.generate.values import ValueGenerator, derive_seed, is_generator
from harness.spec.models import Scenario
from harness.spec.suite import Suite


def setup_values(
    scenario: Scenario, gen: ValueGenerator, context: dict[str, Any], index: int
) -> dict[str, dict[str, Any]]:
    """The generated column values of every setup row; templates stay for insert time."""
    return {
        entity: {
            col: gen.value(spec, context, n=index) if is_generator(spec) else spec
            for col, spec in row.values.items()
        }
        for entity, row in scenario.setup.items()
    }


def variant_setups(
    suite: Suite, scenario: Scenario, case_seed: int, context: dict[str, Any], index: int
) -> list[dict[str, dict[str, Any]]]:
    """Each rewording gets rows of its own, generated afresh (other names, PINs, ids) so
    that variants never meet each other's data; the case's vars stay the same."""
    return [
        setup_values(
            scenario,
            ValueGenerator(derive_seed(case_seed, "variant", k), kinds=suite.param_kinds),
            context,
            index,
        )
        for k in range(1, len(scenario.variants) + 1)
    ]
