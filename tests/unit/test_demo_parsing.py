"""Fast tests of the demo refund desk's pure parts: text parsing, the defect switch, the rules."""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal
from typing import Any

import pytest

from fixtures.refund_desk.config import ConfigError, Settings
from fixtures.refund_desk.defects import KNOWN_DEFECTS, Defect, Defects, UnknownDefectError
from fixtures.refund_desk.desk import RefundDesk
from fixtures.refund_desk.parsing import (
    AmountError,
    format_amount,
    name_candidates,
    normalise_name,
    parse_amount,
    parse_message,
    parse_name,
    parse_order_id,
    parse_pin,
    parse_refund_method,
    to_decimal,
)
from fixtures.refund_desk.store import Order

# ----------------------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("49.90 EUR", "49.90"),
        ("49,90 EUR", "49.90"),
        ("€49.90", "49.90"),
        ("€ 49,9", "49.90"),
        ("EUR 12", "12.00"),
        ("49.90 euros", "49.90"),
        ("49.90 Euro", "49.90"),
        ("1.234,50 EUR", "1234.50"),
        ("1,234.50 EUR", "1234.50"),
        ("1 234,50 EUR", "1234.50"),
        ("1\u202f234,50 €", "1234.50"),
        ("1,234 EUR", "1234.00"),
        ("1.234 EUR", "1234.00"),
        ("1.234.567,89 EUR", "1234567.89"),
        ("620 EUR", "620.00"),
    ],
)
def test_amounts_as_customers_write_them(text: str, expected: str) -> None:
    amount = parse_amount(f"please refund {text} thanks")
    assert amount is not None
    assert amount.value == Decimal(expected)
    assert amount.currency == "EUR"


@pytest.mark.parametrize("raw", ["1.2.3", "49.9999", "1,23,45", "12.345,6.7", "1.234,567"])
def test_ambiguous_numbers_are_not_guessed(raw: str) -> None:
    with pytest.raises(AmountError):
        to_decimal(raw)


def test_amount_sources_in_order_of_preference() -> None:
    assert parse_amount("refund 50 for it") == parse_amount("refund of 50")
    bare = parse_amount("refund 49,90 please")
    assert bare is not None and bare.value == Decimal("49.90") and bare.currency is None
    assert parse_amount("refund my order please") is None
    assert parse_amount("it took 3 days") is None  # a bare integer is not an amount
    foreign = parse_amount("refund $20")
    assert foreign is not None and foreign.currency == "USD"
    with pytest.raises(AmountError):
        parse_amount("refund -5 EUR")


def test_comma_decimal_defect_reads_commas_as_thousands() -> None:
    assert to_decimal("49,90", comma_is_thousands=True) == Decimal("4990.00")
    assert to_decimal("49.90", comma_is_thousands=True) == Decimal("49.90")
    message = parse_message("refund 49,90 EUR for order 7", comma_is_thousands=True)
    assert message.amount is not None and message.amount.value == Decimal("4990.00")


def test_format_amount() -> None:
    assert format_amount(Decimal("49.9")) == "49.90 EUR"
    assert format_amount(Decimal("620"), "EUR") == "620.00 EUR"


# ---------------------------------------------------------------- names, PIN, order id


def _reads_as(text: str, name: str, *, ascii_only: bool = False) -> bool:
    typed = parse_name(text, ascii_only=ascii_only)
    if typed is None:
        return False
    return normalise_name(name) in {normalise_name(c) for c in name_candidates(typed)}


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("I'm Zoë Müller-Łukasiewicz, PIN 4821", "Zoë Müller-Łukasiewicz"),
        ("Hi, my name is Seán O'Brien and my PIN is 1234", "Seán O'Brien"),
        ("this is Nguyễn Thị Ánh pin: 4821", "Nguyễn Thị Ánh"),
        ("I am Zoë Müller my pin 1111", "Zoë Müller"),
        ("name: John  Smith.", "John Smith"),
        ("I’m Ann Lee. Refund order 5", "Ann Lee"),
        ("I am Ann Lee. I want my money back", "Ann Lee"),
        ("i am maria pinto", "maria pinto"),
        ("I'm Zoë Müller please refund order 5", "Zoë Müller"),
        ("I'm not happy. My name is Ann Lee", "Ann Lee"),
        ("Hi, this is Dr. David Swanson, my PIN is 1234.", "Dr. David Swanson"),
        ("I'm Dipl.-Ing. Walter Oderwald B.A., PIN 1234", "Dipl.-Ing. Walter Oderwald B.A."),
        ("I'm Isabella Siering MBA., PIN 1234", "Isabella Siering MBA."),
        ("I'm Connell Mac a' Bhuí-de Nógla, PIN 1234", "Connell Mac a' Bhuí-de Nógla"),
        ("Hi, I am An Hoàng and my PIN is 1234", "An Hoàng"),
    ],
)
def test_names(text: str, name: str) -> None:
    assert _reads_as(text, name)
    assert _reads_as(unicodedata.normalize("NFD", text), name)


def test_name_candidates() -> None:
    assert name_candidates("Ann Lee. I want a") == ["Ann Lee. I want a", "Ann Lee."]
    assert name_candidates("Dr. Ann Lee") == ["Dr. Ann Lee", "Dr."]
    assert name_candidates("Zoë Müller") == ["Zoë Müller"]


@pytest.mark.parametrize("text", ["I'm not happy", "this is about order 12", "hello", "I am 42"])
def test_no_name(text: str) -> None:
    assert parse_name(text) is None


def test_diacritics_defect_truncates_non_ascii_names() -> None:
    assert parse_name("I'm Zoë Müller, PIN 4821", ascii_only=True) == "Zo"
    assert parse_name("this is Nguyễn Thị Ánh", ascii_only=True) == "Nguy"
    assert parse_name("I'm John O'Neil-Smith, PIN 1", ascii_only=True) == "John O'Neil-Smith"
    assert _reads_as("I'm Dr. Ann Lee, PIN 1234", "Dr. Ann Lee", ascii_only=True)


def test_name_normalisation() -> None:
    nfd = unicodedata.normalize("NFD", "ZOË  Müller")
    assert normalise_name(nfd) == normalise_name("zoë müller") == "zoë müller"
    assert normalise_name("Seán O’Brien") == normalise_name("seán o'brien")
    assert normalise_name("Dr. Ann Lee Jr.") == normalise_name("dr ann lee jr")


@pytest.mark.parametrize(
    ("text", "pin"),
    [
        ("PIN 4821", "4821"),
        ("pin: 4821", "4821"),
        ("my PIN is 4821", "4821"),
        ("PIN is: 0042", "0042"),
        ("PIN4821", "4821"),
        ("PIN 48211", None),
        ("spinning 4821", None),
        ("order 4821", None),
    ],
)
def test_pins(text: str, pin: str | None) -> None:
    assert parse_pin(text) == pin


@pytest.mark.parametrize(
    ("text", "order_id"),
    [
        ("order 123", 123),
        ("Order #123", 123),
        ("order no. 123", 123),
        ("order number: 123", 123),
        ("for #123 please", 123),
        ("refund 49.90 EUR", None),
        ("border 12", None),
    ],
)
def test_order_ids(text: str, order_id: int | None) -> None:
    assert parse_order_id(text) == order_id


def test_message_reads_intents_and_keeps_numbers_apart() -> None:
    message = parse_message("I'm Ann Lee, PIN 4821. Express refund of order #1234 please")
    assert (message.name, message.pin, message.order_id) == ("Ann Lee", "4821", 1234)
    assert message.amount is None and message.express and message.wants_refund
    assert parse_message("What is your refund policy?").wants_refund is False
    assert parse_message("What is your refund policy?").wants_policy is True
    assert parse_message("where is order 5?").wants_status is True
    assert parse_message("how long for a refund on order 5").wants_refund is True


# ------------------------------------------------------------------- refund method


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Whatever happens, refund to my original card, not store credit.", "original_payment"),
        ("Refund to my original payment method please", "original_payment"),
        ("put it back on my credit card", "original_payment"),
        ("I don't want store credit", "original_payment"),
        ("no vouchers, thanks", "original_payment"),
        ("Store credit is fine.", "store_credit"),
        ("a voucher would be great", "store_credit"),
        ("not to my card please, store credit", "store_credit"),
        ("Instead of my card, give me store credit", "store_credit"),
        ("refund order 12, 49.90 EUR", None),
        ("Do you sell gift cards?", None),
        ("Do I need the original packaging to send something back?", None),
        ("Can I change the email address on my account?", None),
        ("I'm not sure", None),
    ],
)
def test_refund_method(text: str, expected: str | None) -> None:
    assert parse_refund_method(text) == expected
    assert parse_message(text).refund_method == expected


def test_no_filler_line_states_a_refund_method_an_order_or_a_pin() -> None:
    """The demo's drift depends on it: filler between the customer's preference and the
    refund must not change the preference, name an order or give a PIN."""
    from harness.generate.filler import POOLS

    for pool, lines in POOLS.items():
        for line in lines:
            parsed = parse_message(line)
            assert parsed.refund_method is None, (pool, line)
            assert parsed.order_id is None and parsed.pin is None, (pool, line)


# ------------------------------------------------------------------- defect switch


def test_defect_switch() -> None:
    assert Defects.parse(None).names() == list(KNOWN_DEFECTS)
    assert Defects.parse("none").names() == []
    assert Defects.parse(" all ").names() == list(KNOWN_DEFECTS)
    chosen = Defects.parse("refund_race, comma_decimal")
    assert Defect.REFUND_RACE in chosen and Defect.DIACRITICS not in chosen
    assert chosen.names() == ["comma_decimal", "refund_race"]
    assert Defect.MEMORY_WINDOW in Defects.parse("all")
    assert Defects.parse("memory_window").names() == ["memory_window"]
    with pytest.raises(UnknownDefectError, match="compliance_bypass"):
        Defects.parse("comma_decimal,nope")


def test_settings_from_env() -> None:
    env = {"DATABASE_URL": "postgresql://x", "REDIS_URL": "redis://x", "PORT": "9000"}
    settings = Settings.from_env(env | {"REFUND_DESK_APPROVAL_LIMIT": "250"})
    assert settings.port == 9000 and settings.approval_limit == Decimal("250.00")
    assert settings.defects.names() == list(KNOWN_DEFECTS)
    with pytest.raises(ConfigError):
        Settings.from_env({"REDIS_URL": "redis://x"})
    with pytest.raises(ConfigError):
        Settings.from_env(env | {"PORT": "eighty"})
    assert Settings.from_env(env).context_messages == 24
    assert Settings.from_env(env | {"REFUND_DESK_CONTEXT_MESSAGES": "40"}).context_messages == 40
    with pytest.raises(ConfigError, match="REFUND_DESK_CONTEXT_MESSAGES"):
        Settings.from_env(env | {"REFUND_DESK_CONTEXT_MESSAGES": "1"})


# ----------------------------------------------------------------------- the rules


def _desk(defects: str = "none") -> RefundDesk:
    settings = Settings("postgresql://x", "redis://x", defects=Defects.parse(defects))
    nothing: Any = None  # decide() does no I/O
    return RefundDesk(settings, nothing, nothing)


def _order(total: str = "1000.00", delivered_days_ago: int = 5, **kw: Any) -> Order:
    values: dict[str, Any] = {
        "id": 7,
        "customer_id": 1,
        "total": Decimal(total),
        "currency": "EUR",
        "status": "delivered",
        "ordered_on": dt.date(2024, 1, 1),
        "delivered_on": dt.date(2024, 1, 5),
        "days_since_order": delivered_days_ago + 10,
        "days_since_delivery": delivered_days_ago,
    }
    return Order(**(values | kw))


@pytest.mark.parametrize(
    ("message", "order", "refunded", "count", "outcome"),
    [
        ("refund 500.00 EUR", _order(), "0", 1, "refund_issued"),
        ("refund 500.01 EUR", _order(), "0", 1, "refund_pending_approval"),
        ("refund 10 EUR", _order(delivered_days_ago=30), "0", 1, "refund_issued"),
        ("refund 10 EUR", _order(delivered_days_ago=31), "0", 1, "refund_refused"),
        ("refund 10 EUR", _order(), "0", 6, "refund_refused"),
        ("refund 10 EUR", _order(status="shipped"), "0", 1, "refund_refused"),
        ("refund 10.01 EUR", _order(total="20.00"), "10.00", 1, "refund_refused"),
        ("refund 10.00 EUR", _order(total="20.00"), "10.00", 1, "refund_issued"),
        ("refund please", _order(total="20.00"), "20.00", 1, "refund_refused"),
    ],
)
def test_rules(message: str, order: Order, refunded: str, count: int, outcome: str) -> None:
    decision = _desk().decide(order, Decimal(refunded), count, parse_message(message), vip=False)
    assert decision.outcome == outcome, decision


def test_rule_defects_in_decide() -> None:
    big = parse_message("refund 620 EUR")
    assert _desk().decide(_order(), Decimal(0), 1, big, vip=True).outcome == (
        "refund_pending_approval"
    )
    bypass = _desk("compliance_bypass")
    assert bypass.decide(_order(), Decimal(0), 1, big, vip=True).outcome == "refund_issued"
    assert bypass.decide(_order(), Decimal(0), 1, big, vip=False).outcome == (
        "refund_pending_approval"
    )
    late = _order(delivered_days_ago=20, days_since_order=40)
    small = parse_message("refund 10 EUR")
    assert _desk().decide(late, Decimal(0), 1, small, vip=False).outcome == "refund_issued"
    drifted = _desk("window_from_order_date").decide(late, Decimal(0), 1, small, vip=False)
    assert drifted.outcome == "refund_refused" and "30-day refund window" in drifted.reason
