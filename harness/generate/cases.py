"""A case's values: its vars and setup values, made in the order their references need
(spec/order.py), once per case, and afresh for each metamorphic variant."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from harness.generate.spaces import is_hard
from harness.generate.values import ValueGenerator, derive_seed, is_generator
from harness.spec.models import ChoiceGen, Scenario
from harness.spec.order import order
from harness.spec.suite import Suite
from harness.spec.template import render_deep

#: (generator spec, label, the values so far) -> a value: the seeded draw or the hunt's
Draw = Callable[[Any, str, Mapping[str, Any]], Any]

Rows = dict[str, dict[str, Any]]


def make_values(
    scenario: Scenario,
    params: Mapping[str, Any],
    draw: Draw,
    *,
    given_vars: Mapping[str, Any] | None = None,
    given_setup: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[dict[str, Any], Rows]:
    """Every var and setup value of a case. Generators are drawn, a var written as a template
    is rendered, a setup value written as a template stays one (it is rendered when its row
    is inserted and may use the rows inserted before it). Given values are kept, not made."""
    given_vars = given_vars or {}
    given_setup = given_setup or {}
    context: dict[str, Any] = {"params": params, "vars": {}}
    setup: Rows = {}
    for row, row_spec in scenario.setup.items():
        setup[row] = {}
        context[row] = {}
        for col, value in row_spec.values.items():
            if col in given_setup.get(row, {}):
                setup[row][col] = given_setup[row][col]
                if is_generator(value):
                    context[row][col] = given_setup[row][col]
            elif not is_generator(value):
                setup[row][col] = value  # rendered at insert time
            if not is_generator(value) and not _has_template(value):
                context[row][col] = value
    templates: dict[str, Any] = {}
    for node in order(scenario).nodes:
        owner, key = node
        if owner == "vars":
            if key in given_vars:
                value = given_vars[key]
            else:
                spec = scenario.vars[key]
                value = (
                    draw(spec, key, context)
                    if is_generator(spec)
                    else render_deep(spec, context, templates)
                )
            context["vars"][key] = value
        else:
            column = scenario.setup[owner].values[key]
            if not is_generator(column):  # a template a var or a generator uses: its value now
                context[owner][key] = render_deep(column, context, templates)
            elif key not in given_setup.get(owner, {}):
                setup[owner][key] = context[owner][key] = draw(column, f"{owner}.{key}", context)
    values = {k: context["vars"][k] for k in scenario.vars if k in context["vars"]}
    ordered = {  # the columns as the scenario lists them, then any other given one
        row: {c: cols[c] for c in [*scenario.setup[row].values, *cols] if c in cols}
        for row, cols in setup.items()
    }
    return values | {k: v for k, v in given_vars.items() if k not in values}, ordered


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, Mapping):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_template(v) for v in value)
    return False


def seeded(gen: ValueGenerator, n: int) -> Draw:
    """The seeded draw of `harness run`."""
    return lambda spec, _label, context: gen.value(spec, context, n=n)


def variant_setups(
    suite: Suite, scenario: Scenario, case_seed: int, case: tuple[dict[str, Any], Rows], index: int
) -> list[Rows]:
    """Each rewording gets rows of its own, generated afresh (other names, PINs, ids) so
    that variants never meet each other's data; the case's vars stay the same, and so do
    the setup values they were made from and the values the case searches (a pool's hard
    name, a trap, a choice), so every rewording meets the same hard input."""
    values, setup = case
    shared: dict[str, dict[str, Any]] = {}
    for row, col in order(scenario).var_inputs:
        if col in setup.get(row, {}):
            shared.setdefault(row, {})[col] = setup[row][col]
    for row, row_spec in scenario.setup.items():  # what the case tests: every rewording meets it
        for col, spec in row_spec.values.items():
            if col in setup.get(row, {}) and (is_hard(spec) or isinstance(spec, ChoiceGen)):
                shared.setdefault(row, {})[col] = setup[row][col]
    out = []
    for k in range(1, len(scenario.variants) + 1):
        gen = ValueGenerator(derive_seed(case_seed, "variant", k), kinds=suite.param_kinds)
        out.append(
            make_values(
                scenario, suite.params, seeded(gen, index), given_vars=values, given_setup=shared
            )[1]
        )
    return out
