"""Hypothesis strategies for the suite's generators, so a hunt can search and shrink.

The strategy of a generator is its space (generate/spaces.py), the same one the
seeded draw of `harness run` reads: lists are ordered simplest first, and
hypothesis shrinks toward the start of a list and the low end of a range, so a
saved failure is the simplest one found. `search` runs hypothesis over one probe with
the hunt's settings (its seed, its example database, every phase, no health checks). Only
the hunt imports this module, and no other module imports hypothesis.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, assert_never

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

from harness.core import Case
from harness.generate import spaces
from harness.generate.cases import make_values, variant_setups
from harness.generate.spaces import Filler, Integers, Just, Map, Sampled, Tuple, Weighted
from harness.generate.values import ValueGenerator, derive_seed
from harness.spec import models as m
from harness.spec.relative import Relative
from harness.spec.suite import Suite
from harness.spec.template import format_value

Data = st.DataObject  # what a probe draws its example from


def to_strategy(space: spaces.Space, filler: ValueGenerator) -> st.SearchStrategy[Any]:
    """The hypothesis strategy of a space.

    Filler (faker values) is not part of the search: it comes from a generator seeded
    per example, so every example has people of its own (a shrunk search would otherwise
    give every case the same name and PIN, and cases sharing one database would meet each
    other's customers). Weights are for runs; a hunt tries every option alike."""
    match space:
        case Just(value):
            return st.just(value)
        case Sampled(options) | Weighted(options, _):
            return st.sampled_from(options)
        case Integers(lo, hi):
            return st.integers(lo, hi)
        case Tuple(parts):
            return st.tuples(*(to_strategy(part, filler) for part in parts))
        case Map(inner, fn):
            return to_strategy(inner, filler).map(fn)
        case Filler(inner):
            return st.just(filler.draw(inner))
        case _:
            assert_never(space)


def strategy(
    spec: Any, context: Mapping[str, Any], filler: ValueGenerator
) -> st.SearchStrategy[Any]:
    """The search space of one generator, given the values drawn before it."""
    return to_strategy(spaces.space(spec, filler.env(context)), filler)


def draw_case(
    data: st.DataObject, suite: Suite, scenario: m.Scenario, number: int, seed: int = 0
) -> tuple[Case, str]:
    """One case of a scenario with every searched value drawn by hypothesis, and a key of
    those values (equal keys: the same input). `number` must be unique within the hunt: it
    seeds the example's faker filler, which is not part of the search."""
    kinds = suite.param_kinds
    case_seed = derive_seed("hunt", seed, scenario.id, number)
    filler = ValueGenerator(case_seed, kinds=kinds)
    searched: list[str] = []

    def draw(spec: Any, label: str, context: Mapping[str, Any]) -> Any:
        space = spaces.space(spec, filler.env(context))
        value = data.draw(to_strategy(space, filler), label=label)
        if not isinstance(space, Filler):  # fresh filler is no part of the input
            # a relative moment is keyed by its relative form: resolved, it moves every second
            text = value.stored() if isinstance(value, Relative) else format_value(value)
            searched.append(f"{label}={text!r}")
        return value

    values, setup = make_values(scenario, suite.params, draw)
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
        vars=values,
        setup=setup,
        origin="hunt",
        persona=persona,
        persona_seed=persona_seed,
        variant_setups=variant_setups(suite, scenario, case_seed, (values, setup), number),
    )
    return case, "; ".join(searched)


def draw_point(data: st.DataObject, longest: int, positions: Sequence[str]) -> tuple[int, str]:
    """A drift case's point as the search draws it: a length from 0 to `longest` (shrunk
    toward 0) and a position (toward the first: start)."""
    length = data.draw(st.integers(0, longest), label="length")
    position = data.draw(st.sampled_from(list(positions)), label="position")
    return length, position


def use_home(folder: Path) -> None:
    """Keep hypothesis's own files in `folder` (the suite's .hypothesis/), not the cwd."""
    set_hypothesis_home_dir(str(folder))


def example_database(folder: Path) -> ExampleDatabase:
    """Where hypothesis keeps the examples that failed, so the next hunt tries them first."""
    return DirectoryBasedExampleDatabase(str(folder))


def search(
    probe: Callable[[Data], None],
    *,
    database: ExampleDatabase,
    examples: int,
    seed: int,
    key: bytes,
) -> None:
    """Run hypothesis over `probe`: `examples` examples from `seed`, failing ones shrunk, each
    distinct exception type apart. Raises what the probe raised (several in an
    ExceptionGroup); `key` keeps the examples of one probe apart in the database."""

    @settings(
        database=database,
        max_examples=examples,
        deadline=None,
        derandomize=False,
        report_multiple_bugs=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        verbosity=Verbosity.quiet,
        print_blob=False,
    )
    @hypothesis_seed(seed)
    @given(st.data())
    def run(data: Data) -> None:
        probe(data)

    run._hypothesis_internal_add_digest = key  # type: ignore[attr-defined]
    run()
