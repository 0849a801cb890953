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
from harness.generate.values import (
    ValueGenerator,
    _as_list,
    days_ago,
    decimal_steps,
    derive_seed,
    is_generator,
)
from harness.spec import models as m
from harness.spec.relative import DateEdge, TimeEdge
from harness.spec.suite import Suite
from harness.spec.template import Template, format_value, render_deep, to_decimal

_cache: dict[str, Template] = {}


def _render(value: Any, context: Mapping[str, Any]) -> Any:
    return render_deep(value, context, _cache)


def strategy(
    spec: Any, context: Mapping[str, Any], kinds: Mapping[str, str | None], filler: ValueGenerator
) -> st.SearchStrategy[Any]:
    """The search space of one generator, given the values drawn before it.

    Faker values are realistic filler, not part of the search: they come from a
    generator seeded per example, so every example has people of its own (a shrunk
    search would otherwise give every case the same name and PIN, and cases sharing
    one database would meet each other's customers). What a hunt should vary is
    declared with boundary, amount_text, text_trap, pool, choice or ranges."""
    if isinstance(spec, m.FakerGen):
        if spec.locales and not spec.locale:  # the locale is searched; the value is filler
            return st.sampled_from(spec.locales).map(
                lambda loc: filler.value(spec.model_copy(update={"locale": loc}), context)
            )
        return st.just(filler.value(spec, context))
    if isinstance(spec, m.DateEdgeGen):
        return st.sampled_from(_as_list(spec.date_edge)).map(DateEdge)
    if isinstance(spec, m.TimeEdgeGen):
        return st.tuples(
            st.sampled_from(_as_list(spec.time_edge)), st.sampled_from(_as_list(spec.timezones))
        ).map(lambda t: TimeEdge(t[0], t[1], spec.days_ago))
    if isinstance(spec, m.DateTextGen):
        day = _render(spec.date_text, context)
        return st.sampled_from(spec.formats).map(lambda f: traps.format_date(day, f))
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


def draw_case(
    data: st.DataObject, suite: Suite, scenario: m.Scenario, number: int, seed: int = 0
) -> tuple[Case, str]:
    """One case of a scenario with every searched value drawn by hypothesis, and a key of
    those values (equal keys: the same input). `number` must be unique within the hunt: it
    seeds the example's faker filler, which is not part of the search."""
    kinds = suite.param_kinds
    case_seed = derive_seed("hunt", seed, scenario.id, number)
    filler = ValueGenerator(case_seed, kinds=kinds)
    context: dict[str, Any] = {"params": suite.params, "vars": {}}
    searched: list[str] = []

    def draw(spec: Any, label: str) -> Any:
        value = data.draw(strategy(spec, context, kinds, filler), label=label)
        if not isinstance(spec, m.FakerGen) or spec.locales:
            searched.append(f"{label}={format_value(value)!r}")
        return value

    for name, spec in scenario.vars.items():
        context["vars"][name] = draw(spec, name)
    setup: dict[str, dict[str, Any]] = {}
    for entity, row in scenario.setup.items():
        setup[entity] = {
            col: draw(spec, f"{entity}.{col}") if is_generator(spec) else spec
            for col, spec in row.values.items()
        }
    persona, persona_seed = "plain", 0
    if scenario.personas:
        persona = data.draw(st.sampled_from(scenario.personas), label="persona")
        # drawn, so a persona's typos land where the search (and its shrinking) put them
        persona_seed = data.draw(st.integers(0, 2**16), label="persona seed")
        searched.append(f"persona={persona}/{persona_seed}")
    case = Case(
        id=f"{scenario.id}~{number}",
        scenario=scenario.id,
        index=number,
        seed=case_seed,
        vars=dict(context["vars"]),
        setup=setup,
        origin="hunt",
        persona=persona,
        persona_seed=persona_seed,
        variant_setups=variant_setups(suite, scenario, case_seed, context, number),
    )
    return case, "; ".join(searched)
