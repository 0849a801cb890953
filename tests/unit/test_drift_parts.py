"""The pure parts of long-task drift: filler draws, a point's turns, case ids, the reactive
user's answers, and the suite format's rules for drift scenarios."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from harness.generate import filler
from harness.run import drift
from harness.run.user import ReactiveUser
from harness.spec import models as m


def _scenario(turns: list[object], **drift_spec: object) -> m.Scenario:
    return m.Scenario.model_validate(
        {
            "id": "keeps-card",
            "title": "t",
            "turns": turns,
            "drift": drift_spec,
            "checks": [{"type": "contains", "requirements": ["RD-1"], "value": "x"}],
        }
    )


SCRIPT = [
    {"say": "refund to my card", "remember": True},
    "I am Ann, PIN 1234",
    {"say": "refund order 7", "probe": True},
    "thanks",
]


def test_longer_filler_extends_shorter_and_is_a_function_of_the_seed() -> None:
    pools = filler.pools()
    short = filler.filler(42, pools, 4)
    long = filler.filler(42, pools, 16)
    assert long[:4] == short
    assert filler.filler(42, pools, 16) == long
    assert filler.filler(43, pools, 16) != long
    assert len({line.pool for line in long}) == len(pools)  # every pool takes its turn


def test_a_line_naming_a_fact_is_passed_over() -> None:
    pools = {"p": ("Hello Ann!", "How are you?", "Is order 77 here?", "Nice day.")}
    lines = filler.filler(1, pools, 3, filler.facts_of([{"name": "Ann", "order": 77}]))
    texts = [line.text for line in lines]
    assert "Hello Ann!" not in texts and "Is order 77 here?" not in texts
    assert texts[:2] and set(texts) <= {"How are you?", "Nice day."}


def test_facts_are_whole_words() -> None:
    assert filler.touches("Bear with me", ["Bea"]) is None
    assert filler.touches("bea, is that you?", ["Bea"]) == "Bea"
    assert filler.touches("order 12", ["1", "12"]) == "12"
    assert filler.touches("order 123", ["12"]) is None


def test_the_shipped_pools_hold_no_digits_and_the_names_match_the_format() -> None:
    assert tuple(filler.POOLS) == m.POOL_NAMES
    for lines in filler.POOLS.values():
        assert lines and not any(ch.isdigit() for line in lines for ch in line)


def test_points_each_length_at_the_start_then_positions_at_the_longest() -> None:
    sc = _scenario(SCRIPT, lengths=[0, 4, 8])
    assert drift.points(sc) == [(0, "start"), (4, "start"), (8, "start"), (8, "middle"), (8, "end")]
    sc = _scenario(SCRIPT, lengths=[0, 4, 8], position_length=4, positions=["end", "start"])
    assert drift.points(sc) == [(0, "start"), (4, "start"), (8, "start"), (4, "end")]
    plain = _scenario(["hi", {"say": "refund", "probe": True}], lengths=[2, 0])
    assert drift.points(plain) == [(0, "start"), (2, "start")]  # nothing remembered: no positions
    assert drift.shortest(plain) == (0, "start")


@pytest.mark.parametrize(
    ("position", "order"),
    [
        ("start", ["remember", None, "f", "f", "f", "f", "probe", None]),
        ("middle", [None, "f", "f", "remember", "f", "f", "probe", None]),
        ("end", [None, "f", "f", "f", "f", "remember", "probe", None]),
    ],
)
def test_compose_places_the_remembered_turn(position: str, order: list[str | None]) -> None:
    sc = _scenario(SCRIPT)
    lines = filler.filler(3, filler.pools(), 6)
    steps = drift.compose(sc, list(range(len(SCRIPT))), lines, 4, position)
    got = [s if s is None or not s.startswith("filler:") else "f" for _, s in steps]
    assert got == order
    assert [item for item, s in steps if s is not None and s.startswith("filler:")] == lines[:4]


def test_case_ids_name_the_point() -> None:
    assert drift.point_id("keeps-card#2", 16, "start") == "keeps-card#2@16"
    assert drift.point_id("keeps-card#2", 32, "middle") == "keeps-card#2@32-middle"
    assert drift.split_id("keeps-card#2@32-middle") == ("keeps-card#2", 32, "middle")
    assert drift.split_id("keeps-card#2@16") == ("keeps-card#2", 16, "start")
    assert drift.split_id("keeps-card#2") == ("keeps-card#2", None, None)


def test_a_drift_scenario_needs_exactly_one_probe_before_which_it_remembers() -> None:
    with pytest.raises(ValidationError, match="exactly one turn `probe: true`"):
        _scenario(["a", "b"])
    with pytest.raises(ValidationError, match="remembered after the probe"):
        _scenario([{"say": "a", "probe": True}, {"say": "b", "remember": True}])
    with pytest.raises(ValidationError, match="add drift:"):
        m.Scenario.model_validate(
            {
                "id": "x",
                "title": "t",
                "turns": [{"say": "a", "probe": True}],
                "checks": [{"type": "contains", "requirements": ["RD-1"], "value": "x"}],
            }
        )
    with pytest.raises(ValidationError, match="each length once"):
        _scenario(SCRIPT, lengths=[0, 2, 2])
    with pytest.raises(ValidationError, match="position_length 12 is not one of the lengths"):
        _scenario(SCRIPT, lengths=[0, 4, 8], position_length=12)


def _user(**spec: object) -> ReactiveUser:
    return ReactiveUser(m.User.model_validate(spec), {})


CTX = {"user": {"name": "Zoë Ó Briain", "pin": "4821", "order": 77}}


def test_the_user_answers_what_is_asked_in_the_order_asked() -> None:
    user = _user(facts={"name": "x", "pin": "y", "order": "z"})
    said = user.answer("I need to verify you. Please give your PIN and full name.", CTX)
    assert said == ("My PIN is 4821. My name is Zoë Ó Briain.", "pin+name")
    said = user.answer("Which order is it about?", CTX)
    assert said == ("It's order #77.", "order")


def test_the_user_does_not_answer_a_statement() -> None:
    user = _user(facts={"name": "x", "pin": "y"})
    assert user.answer("Thank you, your name and PIN are verified.", CTX) is None
    assert user.answer("How can I help?", CTX) is None  # asks, but nothing the user knows


def test_the_suites_rules_come_first_and_render_the_case() -> None:
    user = _user(
        facts={"pin": "x"},
        answers=[
            {"id": "card", "when": "card or store credit", "say": "My card, PIN {{ user.pin }}."}
        ],
    )
    assert user.answer("Card or store credit? And your PIN?", CTX) == (
        "My card, PIN 4821. My PIN is 4821.",
        "card+pin",
    )
    no_defaults = _user(facts={"pin": "x"}, defaults=False)
    assert no_defaults.answer("Please give your PIN.", CTX) is None


def test_a_fact_the_user_lacks_is_not_answered() -> None:
    user = _user(facts={"pin": "x"})
    assert user.answer("Please give your email.", {"user": {"pin": "1"}}) is None
