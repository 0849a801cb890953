"""The demo's payout cancellation rule (RD-012) and its planted boundary defect, without I/O."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from fixtures.refund_desk.defects import Defect, Defects
from fixtures.refund_desk.parsing import parse_message
from fixtures.refund_desk.payouts import BUFFER_SECONDS, Payout, may_cancel

DAY = 24 * 3600


@pytest.mark.parametrize(
    ("text", "cancel", "order"),
    [
        ("Please cancel the payout of my refund for order #12.", True, 12),
        ("I want to CANCEL order 7", True, 7),
        ("Cancellation of the payout for #3, please", True, 3),
        ("Can the refund for order #9 be cancelled?", True, 9),
        ("Please refund 20.00 EUR for order #12.", False, 12),
        ("Hi, I'm Chancellor Smith, PIN 1234", False, None),  # a word containing "cancel"
    ],
)
def test_a_cancellation_is_read_from_the_message(
    text: str, cancel: bool, order: int | None
) -> None:
    parsed = parse_message(text)
    assert parsed.wants_cancel is cancel
    assert parsed.order_id == order


def payout(lead_seconds: float) -> Payout:
    due = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)
    return Payout(1, 1, Decimal("80.00"), "EUR", 1, due, lead_seconds)


def test_a_payout_may_be_cancelled_until_the_cutoff_and_the_defect_moves_it() -> None:
    correct, buggy = Defects.none(), Defects(frozenset({Defect.PAYOUT_CUTOFF_BUFFER}))
    assert may_cancel(payout(DAY), DAY, correct)  # the cutoff itself is still inside
    assert may_cancel(payout(DAY + 180), DAY, correct)
    assert not may_cancel(payout(DAY - 1), DAY, correct)
    # the defect refuses what is inside by less than its buffer, and nothing else changes
    assert not may_cancel(payout(DAY + 180), DAY, buggy)
    assert may_cancel(payout(DAY + BUFFER_SECONDS), DAY, buggy)
    assert not may_cancel(payout(DAY - 180), DAY, buggy)
    assert "payout_cutoff_buffer" in Defects.all().names()
