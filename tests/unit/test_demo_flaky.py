"""The demo's nondeterministic defect: switched on by name only, about one amount in ten."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from fixtures.refund_desk.defects import (
    KNOWN_DEFECTS,
    NONDETERMINISTIC_DEFECTS,
    Defect,
    Defects,
    UnknownDefectError,
)
from fixtures.refund_desk.parsing import MISREAD_RATE, misread, parse_message


def test_all_means_every_deterministic_defect_and_flaky_is_named_apart() -> None:
    assert Defect.FLAKY_MISREAD not in Defects.parse("all")
    assert Defect.FLAKY_MISREAD not in Defects.parse(None)
    assert "flaky_misread" not in KNOWN_DEFECTS and "flaky_misread" in NONDETERMINISTIC_DEFECTS
    both = Defects.parse("all,flaky_misread")
    assert both.names() == [*KNOWN_DEFECTS, "flaky_misread"]
    assert Defects.parse("flaky_misread").names() == ["flaky_misread"]
    assert Defects.parse("flaky_misread, comma_decimal").names() == [
        "comma_decimal",
        "flaky_misread",
    ]
    with pytest.raises(UnknownDefectError, match="by name only: flaky_misread"):
        Defects.parse("flaky")


def test_a_misread_amount_is_one_unit_off_and_nothing_else_changes() -> None:
    parsed = parse_message("Refund 49.90 EUR for order #12")
    wrong = misread(parsed, draw=lambda: 0.0)
    assert wrong.amount is not None and wrong.amount.value == Decimal("48.90")
    assert (wrong.order_id, wrong.wants_refund) == (12, True)
    assert misread(parsed, draw=lambda: MISREAD_RATE) == parsed  # the other nine in ten
    small = misread(parse_message("refund 0.50 EUR, order 3"), draw=lambda: 0.0)
    assert small.amount is not None and small.amount.value == Decimal("1.50")
    whole = parse_message("Please refund the whole order #12")
    assert misread(whole, draw=lambda: 0.0) == whole  # no amount stated, nothing to misread


def test_about_one_request_in_ten_is_misread() -> None:
    rng = random.Random(6)
    parsed = parse_message("Refund 49.90 EUR for order #12")
    misreads = sum(misread(parsed, draw=rng.random) != parsed for _ in range(10_000))
    assert 900 <= misreads <= 1100
