"""Cases planned from a suite's scenarios and a seed: the same inputs give the same cases."""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable, Iterator

from harness.core import Case
from harness.generate.cases import make_values, seeded, variant_setups
from harness.generate.identity import fresh_number, sequences
from harness.generate.values import ValueGenerator, derive_seed
from harness.run import drift
from harness.spec.models import Scenario
from harness.spec.models.drift import MAX_LENGTH
from harness.spec.suite import Suite


def case_id(scenario_id: str, index: int, count: int) -> str:
    return scenario_id if count == 1 else f"{scenario_id}#{index + 1}"


def plan_case(
    suite: Suite,
    scenario: Scenario,
    index: int,
    seed: int,
    count: int | None = None,
    *,
    plain: bool = False,
) -> Case:
    """Generate every value of one case; templates that need inserted rows stay templates."""
    case_seed = derive_seed(seed, suite.name, scenario.id, index)
    cid = case_id(scenario.id, index, scenario.repeat if count is None else count)
    if not scenario.personas and not (scenario.vars or scenario.setup or scenario.variants):
        # nothing to draw: what make_values and variant_setups make of such a scenario, without
        # the suite's params and kinds gathered afresh and a generator that draws nothing
        return Case(id=cid, scenario=scenario.id, index=index, seed=case_seed, persona="plain")
    gen = ValueGenerator(case_seed, kinds=suite.param_kinds, plain=plain)
    values, setup = make_values(scenario, suite.params, seeded(gen, index))
    return Case(
        id=cid,
        scenario=scenario.id,
        index=index,
        seed=case_seed,
        vars=values,
        setup=setup,
        persona=gen.rng.choice(scenario.personas) if scenario.personas and not plain else "plain",
        variant_setups=variant_setups(suite, scenario, case_seed, (values, setup), index),
    )


def faulted(suite: Suite, case: Case, profile: str) -> Case:
    """The faulted copy of a case (`harness run --faults NAME`): the same scenario, persona
    and point, its own id (`<id>~NAME`) and values of its own, made afresh from a seed of the
    case's and the profile's, so that no name, PIN or row of its clean twin (whose rows the
    clean phase changed) is the copy's; the same seed makes the same copy. A sequence draws
    a number of its own (not the case's index). A regression case keeps its inputs: they
    are what it replays."""
    copy = dataclasses.replace(
        case, id=f"{case.id}~{profile}", fault=profile, persona_seed=case.persona_seed or case.seed
    )
    if case.origin != "scenario":
        return copy
    scenario = suite.scenario(case.scenario)
    seed = derive_seed(case.seed, "fault", profile)
    gen = ValueGenerator(seed, kinds=suite.param_kinds)
    n = fresh_number(sequences(scenario), seed)  # as wide as the scenario's patterns allow
    values, setup = make_values(scenario, suite.params, seeded(gen, n))
    return dataclasses.replace(
        copy,
        seed=seed,
        vars=values,
        setup=setup,
        variant_setups=variant_setups(suite, scenario, seed, (values, setup), case.index),
    )


def plan(
    suite: Suite,
    seed: int,
    *,
    select: Iterable[str] = (),
    repeat: int | None = None,
    points: bool = False,
) -> Iterator[Case]:
    """Every case of the suite, in file order; `select` keeps scenario or case ids matching
    any of the glob patterns; `repeat` overrides every scenario's repeat count. A drift
    scenario's case is played at its shortest length, or with `points` (harness drift) at
    every length and position, and then only drift scenarios are planned."""
    patterns = list(select)
    for scenario in suite.scenarios:
        if points and scenario.drift is None:
            continue
        count = repeat if repeat is not None else scenario.repeat
        for index in range(count):
            cid = case_id(scenario.id, index, count)
            if patterns and not any(
                fnmatch.fnmatchcase(cid, p) or fnmatch.fnmatchcase(scenario.id, p) for p in patterns
            ):
                continue
            case = plan_case(suite, scenario, index, seed, count)
            if scenario.drift is None:
                yield case
                continue
            for length, position in (
                drift.points(scenario) if points else [drift.shortest(scenario)]
            ):
                yield drift.at_point(case, length, position)


def find_case(suite: Suite, seed: int, cid: str) -> Case:
    """Re-plan exactly one case from (suite, seed, case id); a drift scenario's case at the
    point its id names (`scenario#2@16-middle`), else at its shortest length; a `--faults`
    copy (`scenario#2~NAME`) with its own values, as the run planned it."""
    if "~" in cid:
        twin, _, profile = cid.rpartition("~")
        if profile not in suite.manifest.faults.profiles:
            raise KeyError(f"{cid!r}: suite {suite.name} has no fault profile {profile!r}")
        return faulted(suite, find_case(suite, seed, twin), profile)
    base, length, position = drift.split_id(cid)
    scenario_id, _, number = base.partition("#")
    try:
        scenario = suite.scenario(scenario_id)
    except KeyError:
        raise KeyError(f"no scenario {scenario_id!r} in suite {suite.name}") from None
    marked = "#" in cid
    if marked and (not number.isdigit() or number.startswith("0")):
        raise KeyError(f"{cid!r} is not a case id (scenario or scenario#N, N from 1)")
    index = int(number) - 1 if number else 0
    case = plan_case(suite, scenario, index, seed, count=2 if number else 1)
    if scenario.drift is None:
        if length is not None:
            raise KeyError(f"{cid!r}: scenario {scenario_id} is not a drift scenario")
        return case
    if length is None or position is None:
        length, position = drift.shortest(scenario)
    if length > MAX_LENGTH:
        raise KeyError(f"{cid!r}: a drift length is at most {MAX_LENGTH} filler turns")
    if position != drift.START and not drift.remembered(scenario):
        raise KeyError(
            f"{cid!r}: scenario {scenario_id} has no remembered turns to move; its cases play "
            f"at position start ({drift.point_id(base, length, drift.START)})"
        )
    return drift.at_point(case, length, position)
