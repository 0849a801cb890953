import datetime as dt
from decimal import Decimal

import pytest

from harness.spec.template import Template, TemplateError, format_value


def test_single_expression_keeps_type() -> None:
    assert Template("{{ params.limit }}").render(
        {"params": {"limit": Decimal("500.00")}}
    ) == Decimal("500.00")


def test_text_with_expressions_and_filters() -> None:
    ctx = {"order": {"id": 7, "total": Decimal("49.9")}}
    t = Template("refund {{ order.total | comma_decimal }} EUR for #{{ order.id }}")
    assert t.render(ctx) == "refund 49,90 EUR for #7"


def test_arithmetic_filters_are_exact_decimals() -> None:
    t = Template("{{ params.limit | add(0.01) | money }}")
    assert t.render({"params": {"limit": 500}}) == Decimal("500.01")


def test_unicode_filters() -> None:
    nfd = Template("{{ n | nfd }}").render({"n": "Zoë"})
    assert nfd != "Zoë" and len(nfd) == 4
    assert Template("{{ n | strip_accents }}").render({"n": "Zoë Müller"}) == "Zoe Muller"


def test_unknown_filter_and_unclosed_brace_are_errors() -> None:
    with pytest.raises(TemplateError, match="unknown filter 'mony'"):
        Template("{{ x | mony }}")
    with pytest.raises(TemplateError, match="no closing"):
        Template("hello {{ x ")


def test_missing_name_is_an_error_naming_the_path() -> None:
    with pytest.raises(TemplateError, match=r"order\.idd is not defined"):
        Template("{{ order.idd }}").render({"order": {"id": 1}})


def test_nothing_is_evaluated_as_code() -> None:
    with pytest.raises(TemplateError):
        Template("{{ __import__('os').system('true') }}")


def test_format_value() -> None:
    assert format_value(True) == "true"
    assert format_value(Decimal("1E+2")) == "100"
    assert format_value(dt.date(2026, 1, 2)) == "2026-01-02"
    assert format_value(None) == ""
