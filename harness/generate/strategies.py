"""Hypothesis strategies for the suite's generators, so a hunt can search and shrink.

Each generator draws from the same lists the seeded sampler uses (generate/traps.py);
lists are ordered simplest first, and hypothesis shrinks toward the start of a
list and the low end of a range, so a saved failure is the simplest one found.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

from harness.core import Case
from harness.generate import traps
from harness.generate.cases import variant_setups
from harness.generate.values import days_ago, decimal_steps, derive_seed, faker_call, is_generator
from harness.spec import models as m
from harness.spec.suite import Suite
from harness.spec.template import Template, format_value, render_deep, to_decimal

_cache: dict[str, Template] = {}


def _render(value: Any, context: Mapping[str, Any]) -> Any:
    return render_deep(value, context, _cache)


def strategy(
    spec: Any, context: Mapping[str, Any], kinds: Mapping[str, str | None], locales: list[str]
) -> st.SearchStrategy[Any]:
    """The search space of one generator, given the values drawn before it."""
    if isinstance(spec, m.FakerGen):
        args, kwargs = _render(spec.args, context), _render(spec.kwargs, context)
        locale_st = st.just(spec.locale) if spec.locale else st.sampled_from(locales)
        return st.tuples(st.integers(0, 2**32 - 1), locale_st).map(
            lambda t: faker_call(spec.faker, t[0], t[1], args, kwargs)
        )
    if isinstance(spec, m.ChoiceGen):
        return st.sampled_from([_render(c, context) for c in spec.choice])
    if isinstance(spec, m.IntegerGen):
        a, b = (int(to_decimal(_render(v, context))) for v in spec.integer)
        return st.integers(min(a, b), max(a, b))
    if isinstance(spec, m.DecimalGen):
        bounds = (
            to_decimal(_render(spec.decimal[0], context)),
            to_decimal(_render(spec.decimal[1], context)),
        )
        lo, hi, quantum = decimal_steps(bounds, spec.places)
        return st.integers(lo, hi).map(lambda k: (k * quantum).quantize(quantum))
    if isinstance(spec, m.DaysAgoGen):
        raw = spec.days_ago
        if isinstance(raw, list):
            a, b = (int(to_decimal(_render(v, context))) for v in raw)
            return st.integers(min(a, b), max(a, b)).map(days_ago)
        return st.just(days_ago(int(to_decimal(_render(raw, context)))))
    if isinstance(spec, m.BoundaryGen):
        value = context["params"][spec.boundary]
        return st.sampled_from(traps.boundary_values(spec, value, kinds.get(spec.boundary)))
    if isinstance(spec, m.FormatGen):
        number = _render(spec.amount_text, context)
        return st.sampled_from(spec.formats).map(
            lambda f: traps.format_amount(number, f, spec.places)
        )
    if isinstance(spec, m.TrapGen):
        text = format_value(_render(spec.text_trap, context))
        return st.sampled_from(spec.traps).map(lambda t: traps.apply_trap(text, t))
    if isinstance(spec, m.PoolGen):
        return st.sampled_from(traps.POOLS[spec.pool])
    if isinstance(spec, m.SequenceGen):
        return st.just(spec.sequence.format(n=0))
    return st.just(spec)


def draw_case(data: st.DataObject, suite: Suite, scenario: m.Scenario, number: int) -> Case:
    """One case of a scenario with every generated value drawn by hypothesis."""
    kinds = suite.param_kinds
    locales = ["en_US"]
    context: dict[str, Any] = {"params": suite.params, "vars": {}}
    for name, spec in scenario.vars.items():
        context["vars"][name] = data.draw(strategy(spec, context, kinds, locales), label=name)
    setup: dict[str, dict[str, Any]] = {}
    for entity, row in scenario.setup.items():
        setup[entity] = {
            col: data.draw(strategy(spec, context, kinds, locales), label=f"{entity}.{col}")
            if is_generator(spec)
            else spec
            for col, spec in row.values.items()
        }
    persona = (
        data.draw(st.sampled_from(scenario.personas), label="persona")
        if scenario.personas
        else "plain"
    )
    seed = derive_seed("hunt", scenario.id, number)
    return Case(
        id=f"{scenario.id}~{number}",
        scenario=scenario.id,
        index=number,
        seed=seed,
        vars=dict(context["vars"]),
        setup=setup,
        origin="hunt",
        persona=persona,
        variant_setups=variant_setups(suite, scenario, seed, context, number),
    )
