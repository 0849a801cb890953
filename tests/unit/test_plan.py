"""Cases are planned from (suite, seed, case id) and nothing else: the same inputs give the
same cases in every process, another seed gives other cases, one case re-planned alone is
the case the whole plan holds, and -k and --repeat choose cases without changing them."""

from __future__ import annotations

import pytest

from harness.core import Case
from harness.generate.values import derive_seed
from harness.run.plan import case_id, find_case, plan, plan_case
from harness.spec.suite import Suite, load_suite
from tests.helpers import DEMO

SEED = 20261126


@pytest.fixture(scope="module")
def suite() -> Suite:
    return load_suite(DEMO)


def test_case_ids_number_cases_only_when_a_scenario_has_several() -> None:
    assert case_id("small-refund", 0, 1) == "small-refund"
    assert case_id("small-refund", 0, 3) == "small-refund#1"
    assert case_id("small-refund", 2, 3) == "small-refund#3"


def test_derive_seed_is_the_same_in_every_process_and_release() -> None:
    # a saved regression case replays from its seed for ever: if this value changes, every
    # stored case and every run's "same seed, same cases" promise silently changes with it
    assert derive_seed(SEED, "refund_desk", "small-refund", 0) == 7511474804337066311
    seeds = {derive_seed(SEED, "refund_desk", "small-refund", i) for i in range(1000)}
    assert len(seeds) == 1000 and all(0 <= s < 2**63 for s in seeds)
    assert derive_seed(1, "a", "b") != derive_seed(1, "b", "a")  # the order of parts counts
    assert derive_seed(1, "a", "b") != derive_seed(2, "a", "b")


def test_the_same_suite_and_seed_give_the_same_cases(suite: Suite) -> None:
    first = list(plan(suite, SEED))
    again = list(plan(load_suite(DEMO), SEED))  # a fresh load: nothing carried over
    assert len(first) == sum(s.repeat for s in suite.scenarios) == 80
    assert first == again
    assert [c.to_dict() for c in first] == [c.to_dict() for c in again]


def test_each_case_seed_comes_from_the_suite_seed_scenario_and_index(suite: Suite) -> None:
    for case in plan(suite, SEED):
        assert case.seed == derive_seed(SEED, suite.name, case.scenario, case.index)


def test_another_seed_gives_other_cases(suite: Suite) -> None:
    one, two = list(plan(suite, 1)), list(plan(suite, 2))
    assert [c.id for c in one] == [c.id for c in two]  # the same cases by name...
    assert all(a.seed != b.seed for a, b in zip(one, two, strict=True))
    # ...with other generated values: every setup row, and the generated inputs
    with_setup = [(a, b) for a, b in zip(one, two, strict=True) if a.setup]
    assert with_setup and all(a.setup != b.setup for a, b in with_setup)
    generated = [(a, b) for a, b in zip(one, two, strict=True) if a.scenario.startswith("gen-")]
    assert generated and any(a.vars != b.vars for a, b in generated)


def test_cases_of_one_scenario_differ_from_each_other(suite: Suite) -> None:
    cases = [c for c in plan(suite, SEED) if c.scenario == "small-refund"]
    assert [c.id for c in cases] == ["small-refund#1", "small-refund#2", "small-refund#3"]
    assert len({c.seed for c in cases}) == 3
    assert cases[0].setup != cases[1].setup != cases[2].setup


@pytest.mark.parametrize("repeat", [None, 1, 4])
def test_find_case_replans_exactly_the_planned_case(suite: Suite, repeat: int | None) -> None:
    planned = list(plan(suite, SEED, repeat=repeat))
    assert planned
    for case in planned:
        assert find_case(suite, SEED, case.id) == case, case.id


def test_repeat_overrides_every_scenarios_count_without_changing_its_cases(suite: Suite) -> None:
    default = {c.id: c for c in plan(suite, SEED)}
    five = list(plan(suite, SEED, repeat=5))
    assert len(five) == 5 * len(suite.scenarios)
    small = [c for c in five if c.scenario == "small-refund"]
    assert [c.id for c in small] == [f"small-refund#{i}" for i in range(1, 6)]
    assert small[:3] == [default[f"small-refund#{i}"] for i in (1, 2, 3)]
    # a scenario of one case numbers its cases once it has several
    once = [c for c in five if c.scenario == "wrong-pin"]
    assert [c.id for c in once] == [f"wrong-pin#{i}" for i in range(1, 6)]
    assert once[0].vars == default["wrong-pin"].vars and once[0].setup == default["wrong-pin"].setup
    single = [c.id for c in plan(suite, SEED, repeat=1) if c.scenario == "small-refund"]
    assert single == ["small-refund"]


def test_select_keeps_matching_scenarios_and_cases_unchanged_in_file_order(suite: Suite) -> None:
    everything = {c.id: c for c in plan(suite, SEED)}

    def selected(*patterns: str) -> list[Case]:
        return list(plan(suite, SEED, select=patterns))

    assert [c.id for c in selected("small-refund")] == [
        "small-refund#1",
        "small-refund#2",
        "small-refund#3",
    ]
    assert [c.id for c in selected("small-refund#2")] == ["small-refund#2"]
    picked = selected("gen-names*", "small-refund#2")  # any pattern; the suite's order
    assert [c.id for c in picked] == ["small-refund#2", "gen-names#1", "gen-names#2"]
    assert all(c == everything[c.id] for c in picked)  # selecting changes no value
    assert {c.scenario for c in selected("gen-*")} == {
        s.id for s in suite.scenarios if s.id.startswith("gen-")
    }
    assert selected("no-such-*") == []


def test_personas_are_drawn_from_the_scenarios_own_unless_plain(suite: Suite) -> None:
    scenario = suite.scenario("gen-amount-formats")
    drawn = {plan_case(suite, scenario, i, SEED).persona for i in range(40)}
    assert drawn <= set(scenario.personas) and len(drawn) > 1
    assert {plan_case(suite, scenario, i, SEED, plain=True).persona for i in range(40)} == {"plain"}
    # a scenario that lists no personas is told plainly
    assert {c.persona for c in plan(suite, SEED) if not suite.scenario(c.scenario).personas} == {
        "plain"
    }


def test_find_case_refuses_what_is_not_a_case_of_the_suite(suite: Suite) -> None:
    with pytest.raises(KeyError, match="no scenario 'nope' in suite refund_desk"):
        find_case(suite, SEED, "nope#1")
    for bad in ("small-refund#0", "small-refund#x", "small-refund#-1"):
        with pytest.raises(KeyError, match="is not a case id"):
            find_case(suite, SEED, bad)


@pytest.mark.parametrize("bad", ["small-refund#00", "small-refund#"])
def test_find_case_refuses_malformed_case_numbers(suite: Suite, bad: str) -> None:
    with pytest.raises(KeyError, match="is not a case id"):
        find_case(suite, SEED, bad)
