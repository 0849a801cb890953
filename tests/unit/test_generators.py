"""The generators for the hard parts: spec boundaries, formats, traps, dates, personas."""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.generate import traps
from harness.generate.personas import write_turn
from harness.generate.strategies import strategy
from harness.generate.values import ValueGenerator
from harness.run.regressions import _literal
from harness.spec import models as m
from harness.spec.relative import DateEdge, DateText, DaysAgo, TimeEdge, date_edge, time_edge
from harness.spec.template import Template, format_value


def test_boundaries_come_from_the_spec_parameter_and_its_kind() -> None:
    amount = m.BoundaryGen(
        boundary="limit", edges=["below", "at", "above", "zero", "negative", "huge"]
    )
    assert traps.boundary_values(amount, Decimal("500.00"), "amount") == [
        Decimal("499.99"),
        Decimal("500.00"),
        Decimal("500.01"),
        Decimal(0),
        Decimal("-500.00"),
        Decimal("500000000.00"),
    ]
    days = m.BoundaryGen(boundary="window")
    assert traps.boundary_values(days, 30, "days") == [29, 30, 31]
    # a spec change moves the tests with it
    assert traps.boundary_values(days, 14, "days") == [13, 14, 15]


def test_boundary_values_are_written_in_the_parameters_unit_and_stay_usable() -> None:
    every = ["below", "at", "above", "zero", "negative", "huge"]
    # an amount keeps its cents, as a customer writes it: 500.00, not 500.0
    shown = [str(v) for v in traps.boundary_values(m.BoundaryGen(boundary="x", edges=every),
                                                   Decimal("500.0"), "amount")]  # fmt: skip
    assert shown == ["499.99", "500.00", "500.01", "0.00", "-500.00", "500000000.00"]
    # a huge window is still a date: a century back, not a million windows
    huge = traps.boundary_values(m.BoundaryGen(boundary="w", edges=["huge"]), 30, "days")
    assert huge == [traps.HUGE_DAYS]
    assert dt.date.today() - dt.timedelta(days=int(huge[0])) > dt.date.min


def test_a_spec_parameter_keeps_the_digits_it_was_written_with(tmp_path: Path) -> None:
    from harness.spec.suite import load_suite
    from tests.helpers import DEMO

    suite = load_suite(DEMO)
    assert str(suite.params["approval_limit"]) == "500.00"


def test_amount_formats() -> None:
    written = {
        f: traps.format_amount("1234.5", f)
        for f in (
            "point",
            "comma",
            "thousands_comma_point",
            "thousands_point_comma",
            "thousands_space_comma",
            "euro_prefix",
            "whole",
        )
    }
    assert written == {
        "point": "1234.50",
        "comma": "1234,50",
        "thousands_comma_point": "1,234.50",
        "thousands_point_comma": "1.234,50",
        "thousands_space_comma": "1 234,50",
        "euro_prefix": "€1234.50",
        "whole": "1234.50",
    }
    assert traps.format_amount("49", "whole") == "49"


def test_text_traps() -> None:
    name = "Zoë Müller"
    assert unicodedata.normalize("NFC", traps.apply_trap(name, "nfd")) == name
    assert traps.apply_trap(name, "nfd") != name
    assert traps.apply_trap(name, "strip_accents") == "Zoe Muller"
    assert "\u200b" in traps.apply_trap(name, "zero_width")
    assert traps.apply_trap(name, "rtl_mark").startswith("\u200f")
    assert traps.apply_trap("Peace", "confusable") != "Peace"  # looks the same, is not
    assert traps.apply_trap(name, "whitespace_only").strip() == ""
    assert traps.apply_trap("anna", "mixed_case") == "aNnA"
    assert len(traps.apply_trap(name, "long")) > 1000


def test_date_formats_read_both_ways() -> None:
    day = dt.date(2026, 1, 12)
    assert traps.format_date(day, "eu") == "12/01/2026"
    assert traps.format_date(day, "us") == "01/12/2026"
    # a relative date stays relative: its text is the day it means when used
    written = traps.format_date(DaysAgo(0), "iso")
    assert written == DateText(DaysAgo(0), "iso")
    assert format_value(written) == dt.date.today().isoformat()


def test_date_and_time_edges() -> None:
    today = dt.date(2024, 3, 10)
    assert date_edge("month_end", today) == dt.date(2024, 2, 29)
    assert date_edge("leap_day", today) == dt.date(2024, 2, 29)
    assert date_edge("leap_day", dt.date(2026, 11, 26)) == dt.date(2024, 2, 29)
    assert date_edge("year_end", today) == dt.date(2023, 12, 31)
    moment = time_edge("before_midnight", dt.date(2026, 3, 28), dt.UTC)
    assert moment.isoformat() == "2026-03-28T23:59:59+00:00"
    late = TimeEdge("before_midnight", "Pacific/Kiritimati").resolve()
    assert late.utcoffset() == dt.timedelta(hours=14)


def test_relative_values_survive_a_regression_file() -> None:
    for value in (DaysAgo(12), DateEdge("month_end"), TimeEdge("after_midnight", "Asia/Tokyo", 2)):
        stored = value.stored()
        spec = (
            m.ScenariosFile.model_validate(
                {
                    "scenarios": [
                        {
                            "id": "s",
                            "title": "t",
                            "turns": ["x"],
                            "vars": {"v": stored},
                            "checks": [{"type": "contains", "value": "x", "requirements": ["A-1"]}],
                        }
                    ]
                }
            )
            .scenarios[0]
            .vars["v"]
        )
        assert _literal(spec) == value


def test_seeded_sampling_is_reproducible_and_plain_mode_has_no_traps() -> None:
    spec = m.FormatGen(amount_text="1234.50")
    ctx = {"params": {}, "vars": {}}
    a = [ValueGenerator(7).value(spec, ctx) for _ in range(3)]
    assert a == [ValueGenerator(7).value(spec, ctx) for _ in range(3)]
    assert {ValueGenerator(s, plain=True).value(spec, ctx) for s in range(20)} == {"1234.50"}
    trap = m.TrapGen(text_trap="Zoë", traps=["nfd", "upper"])
    assert {ValueGenerator(s, plain=True).value(trap, ctx) for s in range(20)} == {"Zoë"}


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_hypothesis_strategies_draw_only_declared_values(data: st.DataObject) -> None:
    ctx = {"params": {"limit": Decimal("500.00")}, "vars": {}}
    kinds = {"limit": "amount"}
    filler = ValueGenerator(1, kinds=kinds)
    edge = data.draw(strategy(m.BoundaryGen(boundary="limit"), ctx, filler))
    assert edge in {Decimal("499.99"), Decimal("500.00"), Decimal("500.01")}
    amount = data.draw(strategy(m.DecimalGen(decimal=["1.00", "2.00"]), ctx, filler))
    assert Decimal("1.00") <= amount <= Decimal("2.00") and amount.as_tuple().exponent == -2
    name = data.draw(strategy(m.PoolGen(pool="names_hard"), ctx, filler))
    assert name in traps.NAMES_HARD


def test_personas_change_only_the_scenarios_own_words() -> None:
    tpl = Template("Hello, please refund {{ amount }} EUR for order {{ order }}.")
    ctx = {"amount": "49,90", "order": 12}
    assert (
        write_turn(tpl, ctx, "shouting", 1, 0, 1) == "HELLO, PLEASE REFUND 49,90 EUR FOR ORDER 12."
    )
    assert write_turn(tpl, ctx, "terse", 1, 0, 1) == "Refund 49,90 EUR for order 12."
    typo = write_turn(tpl, ctx, "typos", 3, 0, 1)
    plain = tpl.render_text(ctx)
    assert typo != plain and sorted(typo) == sorted(plain) and "49,90" in typo
    assert (
        write_turn(Template("I'm Ann, PIN 1234."), {}, "out_of_order", 1, 0, 1)
        == "PIN 1234, I'm Ann."
    )
    assert (
        write_turn(Template("Hi. Refund order 7."), {}, "out_of_order", 1, 0, 1)
        == "Refund order 7. Hi."
    )
    last = write_turn(tpl, ctx, "change_of_mind", 1, 1, 2)
    assert last.endswith(plain) and last != plain
    assert write_turn(tpl, ctx, "change_of_mind", 1, 0, 2) == plain  # only the last turn
