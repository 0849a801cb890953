"""The pure parts of the state oracles: how a value written in the spec is compared with one
read from the database, how expected rows are matched against found rows, how metamorphic
variants are compared, and how a scoped invariant is restricted to one case's own rows.

The parts that query PostgreSQL or Redis are exercised on real servers in
tests/integration; no fake database stands in for them here.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from harness.check.scopes import scope_ids, scoped_query
from harness.check.state import compare_rows, same_state, values_equal
from harness.core import Observation, TurnRecord, Verdict
from harness.spec import models as m

# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("expected", "found"),
    [
        (None, None),
        ("49.90", Decimal("49.9")),  # numbers by value, not by text or type
        (49.9, Decimal("49.90")),  # a YAML float against a numeric column
        (5, Decimal("5.00")),
        ("5", 5),
        (500, 500.0),
        ("true", True),  # booleans by their text, any case
        ("TRUE", True),
        (True, "true"),
        (False, False),
        ("2026-01-02", dt.date(2026, 1, 2)),  # a quoted date against a date column
        ("2026-01-02", dt.datetime(2026, 1, 2, 10, 30)),  # ... or any time of that day
        ("2026-01-02T10:30", dt.datetime(2026, 1, 2, 10, 30)),
        (dt.date(2026, 1, 2), dt.date(2026, 1, 2)),
        ({"a": 1, "b": [1, 2]}, {"a": 1, "b": [1, 2]}),  # json columns by content
        (["x", "y"], ["x", "y"]),
        ("issued", "issued"),
        (7, "7"),  # a text column holding a number written in YAML as one
    ],
)
def test_values_equal_by_meaning(expected: Any, found: Any) -> None:
    assert values_equal(expected, found)


@pytest.mark.parametrize(
    ("expected", "found"),
    [
        (None, 0),  # a missing value is not zero
        (0, None),
        ("", None),
        ("49.91", Decimal("49.90")),
        ("abc", Decimal("1")),  # not a number: unequal, never an exception
        ("yes", True),
        (1, True),
        (False, True),
        ("2026-01-03", dt.datetime(2026, 1, 2, 10, 30)),
        ("2026-01", dt.date(2026, 1, 2)),  # less than a whole date is no match
        ("2026-01-02T11", dt.datetime(2026, 1, 2, 10, 30)),
        ({"a": 1}, {"a": 2}),
        (["x", "y"], ["y", "x"]),  # json arrays keep their order
        ("Issued", "issued"),  # text is exact
        ("5.0", "5"),  # text columns compare as text
    ],
)
def test_values_unequal(expected: Any, found: Any) -> None:
    assert not values_equal(expected, found)


def test_a_date_value_matches_a_timestamp_of_that_day_as_its_text_does() -> None:
    at = dt.datetime(2026, 1, 2, 10, 30)
    assert values_equal("2026-01-02", at)
    assert values_equal(dt.date(2026, 1, 2), at)


# --------------------------------------------------------------------------- rows

FOUND = [
    {"id": 1, "status": "issued", "amount": Decimal("49.90")},
    {"id": 2, "status": "pending_approval", "amount": Decimal("612.00")},
]


def test_unordered_rows_match_in_any_order_on_the_expected_columns_only() -> None:
    expected: list[dict[str, Any]] = [
        {"status": "pending_approval", "amount": "612"},
        {"amount": 49.9},
    ]
    assert compare_rows(expected, FOUND, ordered=False) is None
    assert compare_rows([], [], ordered=False) is None


def test_unordered_rows_name_the_missing_row() -> None:
    expected = [{"status": "issued"}, {"status": "rejected", "amount": "612.00"}]
    assert compare_rows(expected, FOUND, ordered=False) == (
        "no row with status=rejected, amount=612.00 among the 2 row(s) the query found"
    )
    assert compare_rows([{"status": "issued"}], [], ordered=False) == (
        "no row with status=issued: the query found no rows at all"
    )


def test_a_column_the_query_does_not_return_never_matches() -> None:
    # expecting a column to be NULL is not the same as the query not returning it
    assert compare_rows([{"reason": None}], FOUND[:1], ordered=False) == (
        "no row with reason= among the 1 row(s) the query found"
    )
    assert compare_rows([{"reason": None}], FOUND[:1], ordered=True) == "row 1 differs"
    assert compare_rows([{"reason": None}], [{"reason": None}], ordered=True) is None


def test_unordered_rows_count_unexpected_extra_rows() -> None:
    assert compare_rows([{"status": "issued"}], FOUND, ordered=False) == (
        "expected 1 row(s), found 2: 1 unexpected"
    )
    assert compare_rows([], FOUND, ordered=False) == "expected 0 row(s), found 2: 2 unexpected"


def test_each_found_row_matches_one_expected_row_only() -> None:
    twice = [{"status": "issued"}, {"status": "issued"}]
    assert compare_rows(twice, FOUND[:1], ordered=False) == (
        "no row with status=issued among the 1 row(s) the query found"
    )
    assert compare_rows(twice, [FOUND[0], FOUND[0]], ordered=False) is None


def test_ordered_rows_must_match_position_by_position() -> None:
    expected = [{"id": 1}, {"id": 2}]
    assert compare_rows(expected, FOUND, ordered=True) is None
    assert compare_rows(expected[::-1], FOUND, ordered=True) == "row 1 differs"
    assert compare_rows([{"id": 1}, {"id": 3}], FOUND, ordered=True) == "row 2 differs"
    assert compare_rows(expected, FOUND[:1], ordered=True) == "expected 2 row(s), found 1"
    assert compare_rows(expected[:1], FOUND, ordered=True) == "expected 1 row(s), found 2"


def test_unordered_rows_match_whenever_some_pairing_exists() -> None:
    expected = [{"status": "issued"}, {"status": "issued", "amount": "10"}]
    found = [{"status": "issued", "amount": 10}, {"status": "issued", "amount": 20}]
    assert compare_rows(expected, found, ordered=False) is None


# --------------------------------------------------------------------------- same_state


def _observation(*wordings: list[str]) -> Observation:
    def obs(texts: list[str]) -> Observation:
        return Observation(
            session_id="s", turns=[TurnRecord(index=i, text=t) for i, t in enumerate(texts)]
        )

    first = obs(wordings[0])
    first.variants = [obs(w) for w in wordings[1:]]
    return first


SAME = m.SameStateCheck(type="same_state", requirements=["T-001"], query="select 1")


def test_same_state_passes_when_every_rewording_left_the_same_rows_in_any_order() -> None:
    rows = [{"status": "issued", "amount": Decimal("5.00")}, {"status": "rejected", "amount": 1}]
    states = [rows, rows[::-1]]
    result = same_state(SAME, "same", states, _observation(["refund 5"], ["give back 5"]))
    assert (result.verdict, result.message, result.category) == (Verdict.PASS, "", "state")
    assert [f["turns"] for f in result.found] == [["refund 5"], ["give back 5"]]


def test_same_state_names_the_variants_that_differ() -> None:
    base = [{"status": "issued"}]
    states = [base, base, [{"status": "pending_approval"}], []]
    obs = _observation(["a"], ["b"], ["c"], ["d"])
    result = same_state(SAME, "same", states, obs)
    assert result.verdict == Verdict.FAIL
    assert result.message == (
        "variant(s) 2, 3 left different rows than the scenario's own wording (1 row(s) vs 1, 0)"
    )
    assert result.expected == base
    assert [f["variant"] for f in result.found] == [0, 1, 2, 3]


# --------------------------------------------------------------------------- scoped invariants


def test_scoped_query_keeps_only_the_rows_of_the_given_ids() -> None:
    query = "select o.id as order_id from orders o where o.total < 0;\n  "
    assert scoped_query(query, {"order_id": "orders"}) == (
        "select * from (select o.id as order_id from orders o where o.total < 0) as _inv "
        'where _inv."order_id" = any(%s)'
    )


def test_scoped_query_with_exclude_keeps_the_rows_no_case_owns() -> None:
    query = "select order_id, customer_id from refunds"
    assert scoped_query(
        query, {"order_id": "orders", "customer_id": "customers"}, exclude=True
    ) == (
        "select * from (select order_id, customer_id from refunds) as _inv where not coalesce("
        '_inv."order_id" = any(%s) or _inv."customer_id" = any(%s), false)'
    )


def test_scoped_query_keeps_the_invariants_own_percent_signs_literal() -> None:
    query = "select r.order_id from audit_log r where r.action like 'refund_%'"
    scoped = scoped_query(query, {"order_id": "orders"})
    assert "like 'refund_%%'" in scoped
    assert scoped.count("%s") == 1  # the only placeholder left is the scope's own


def _scenario() -> m.Scenario:
    return m.Scenario.model_validate(
        {
            "id": "refund",
            "title": "t",
            "turns": ["hi"],
            "setup": {
                "buyer": {"table": "customers"},
                "order": {"table": "orders"},
                "other_order": {"table": "orders"},
                "note": {"table": "notes"},
            },
            "checks": [{"type": "contains", "requirements": ["T-001"], "value": "x"}],
        }
    )


def _entities(order: int, other: int, buyer: int) -> Observation:
    return Observation(
        session_id="s",
        entities={
            "buyer": {"id": buyer, "email": f"b{buyer}@example.com"},
            "order": {"id": order, "ref": f"R-{order}"},
            "other_order": {"id": other, "ref": f"R-{other}"},
            "note": {"id": 999},
        },
    )


def test_scope_ids_are_the_ids_each_observation_inserted_per_scope_column() -> None:
    inv = m.Invariant(
        id="inv",
        requirements=["T-001"],
        description="d",
        query="select 1",
        scope={"order_id": "orders", "customer_id": "customers.id", "order_ref": "orders.ref"},
    )
    observations = [_entities(10, 11, 1), _entities(20, 21, 2)]  # a case and its variant
    assert scope_ids(inv, _scenario(), observations) == [
        [10, 11, 20, 21],
        [1, 2],
        ["R-10", "R-11", "R-20", "R-21"],
    ]
    assert scope_ids(inv, _scenario(), []) == [[], [], []]


def test_a_value_scope_compares_the_column_as_text_in_and_out_of_the_sweep() -> None:
    scope = {"order_id": "orders", "session_id": "{{ case.session_id }}"}
    assert scoped_query("select order_id, session_id from refunds", scope) == (
        "select * from (select order_id, session_id from refunds) as _inv where "
        '_inv."order_id" = any(%s) or _inv."session_id"::text = any(%s)'
    )
    assert 'not coalesce(_inv."order_id" = any(%s) or _inv."session_id"::text = any(%s)' in (
        scoped_query("select 1", scope, exclude=True)
    )


def test_value_scopes_are_what_each_conversation_of_the_case_owns() -> None:
    """The case's session id, a captured conversation id and a reply's field, for the case's
    own conversation and its variant's; a conversation that never got the value ties nothing."""
    inv = m.Invariant(
        id="inv",
        requirements=["T-001"],
        description="d",
        query="select 1",
        scope={
            "session_id": "{{ case.session_id }}",
            "conversation": "{{ session.conversation_id }}",
            "ticket": "{{ reply.ticket }}",
            "order_id": "orders",
        },
    )
    own = _entities(10, 11, 1)
    own.session_id, own.session = "h-abc", {"conversation_id": "c-1"}
    own.turns = [TurnRecord(index=1, text="hi", data={"ticket": 42})]
    variant = _entities(20, 21, 1)
    variant.session_id = "h-abc-v1"  # the agent gave it no conversation id, no reply
    ctx = {"params": {}, "case": {"id": "refund-1", "session_id": "h-abc"}}
    assert scope_ids(inv, _scenario(), [own, variant], ctx) == [
        ["h-abc", "h-abc-v1"],
        ["c-1"],
        ["42"],
        [10, 11, 20, 21],
    ]
