"""Output checks judge the agent's replies against the spec: every check type, which turn is
judged, templates in expected values, Unicode normalisation and case folding, evidence caps.

The oracle is called as the engine calls it, `evaluate_output(check, id, replies, context,
cache)`; only the returned verdict, message, expected and found values are looked at.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from typing import Any

import pytest

from harness.check.output import EVIDENCE_CHARS, evaluate_output, excerpt
from harness.core import CheckResult, Verdict
from harness.spec import models as m
from harness.spec.template import Template

REQ = ["T-001"]
CONTEXT: dict[str, Any] = {
    "params": {"limit": Decimal("500.00")},
    "vars": {"amount": Decimal("49.9"), "name": "Zoë Müller"},
}
NFD_ZOE = unicodedata.normalize("NFD", "Zoë Müller")


def judge(
    check: m.OutputCheck,
    *replies: str | None,
    context: dict[str, Any] | None = None,
    cache: dict[str, Template] | None = None,
) -> CheckResult:
    return evaluate_output(
        check,
        "c-1",
        list(replies),
        CONTEXT if context is None else context,
        {} if cache is None else cache,
    )


def equals(value: str, **extra: Any) -> m.EqualsCheck:
    return m.EqualsCheck(type="equals", requirements=REQ, value=value, **extra)


def contains(value: str | list[str], **extra: Any) -> m.ContainsCheck:
    return m.ContainsCheck(type="contains", requirements=REQ, value=value, **extra)


def not_contains(value: str | list[str], **extra: Any) -> m.NotContainsCheck:
    return m.NotContainsCheck(type="not_contains", requirements=REQ, value=value, **extra)


def regex(pattern: str, **extra: Any) -> m.RegexCheck:
    return m.RegexCheck(type="regex", requirements=REQ, pattern=pattern, **extra)


def number(expect: str, **extra: Any) -> m.NumberCheck:
    return m.NumberCheck(type="number", requirements=REQ, expect=expect, **extra)


def verdict(result: CheckResult) -> tuple[Verdict, str]:
    return result.verdict, result.message


# --------------------------------------------------------------------------- the result


def test_the_result_names_the_check_its_requirements_and_the_evidence() -> None:
    check = m.ContainsCheck(
        type="contains", requirements=["T-001", "T-002"], value="hello", id="greets"
    )
    result = evaluate_output(check, "greets", ["oh, hello there"], CONTEXT, {})
    assert result == CheckResult(
        check_id="greets",
        check_type="contains",
        category="output",
        requirements=("T-001", "T-002"),
        verdict=Verdict.PASS,
        message="",
        expected="hello",
        found="oh, hello there",
    )


def test_a_check_that_is_no_output_check_is_refused() -> None:
    sql = m.SqlCheck(type="sql", requirements=REQ, query="select 1", expect_value=1)
    with pytest.raises(TypeError, match="not an output check: SqlCheck"):
        judge(sql, "anything")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- equals


def test_equals_is_exact_but_for_surrounding_white_space() -> None:
    assert judge(equals("Refund issued."), "  Refund issued.\n").verdict == Verdict.PASS
    result = judge(equals("Refund issued."), "Refund issued!")
    assert verdict(result) == (Verdict.FAIL, "the reply is not exactly the expected text")
    assert (result.expected, result.found) == ("Refund issued.", "Refund issued!")


def test_equals_respects_case_unless_told_to_ignore_it() -> None:
    assert judge(equals("Refund issued."), "refund issued.").verdict == Verdict.FAIL
    assert judge(equals("Refund issued.", ignore_case=True), "REFUND ISSUED.").verdict == (
        Verdict.PASS
    )


def test_equals_compares_unicode_text_in_nfc() -> None:
    assert judge(equals("Zoë Müller"), NFD_ZOE).verdict == Verdict.PASS


# --------------------------------------------------------------------------- contains


def test_contains_passes_only_when_every_value_is_there() -> None:
    assert judge(contains(["refund", "49.90"]), "Your refund of 49.90 EUR").verdict == (
        Verdict.PASS
    )
    result = judge(contains(["refund", "49.90", "EUR"]), "Your refund of 49.90")
    assert verdict(result) == (Verdict.FAIL, "the reply lacks 'EUR'")
    assert result.expected == ["refund", "49.90", "EUR"]
    # one value is shown as itself, not as a list of one
    assert judge(contains("refund"), "no").expected == "refund"


def test_contains_folds_case_by_default_as_unicode_does() -> None:
    # casefold, not lower: ß folds to ss
    assert judge(contains("Straße"), "deliver to STRASSE 5").verdict == Verdict.PASS
    assert judge(contains("Straße", ignore_case=False), "deliver to STRASSE 5").verdict == (
        Verdict.FAIL
    )


def test_contains_finds_a_decomposed_name() -> None:
    assert judge(contains("{{ vars.name }}"), f"Hello {NFD_ZOE}!").verdict == Verdict.PASS


def test_not_contains_fails_on_the_first_value_present() -> None:
    assert judge(not_contains(["issued", "paid"]), "It is pending.").verdict == Verdict.PASS
    result = judge(not_contains(["issued", "paid"]), "Paid and ISSUED.")
    assert verdict(result) == (Verdict.FAIL, "the reply contains 'issued'")
    assert judge(not_contains("issued", ignore_case=False), "ISSUED").verdict == Verdict.PASS


def test_not_contains_sees_through_a_decomposed_spelling() -> None:
    assert judge(not_contains("Zoë"), NFD_ZOE).verdict == Verdict.FAIL


# --------------------------------------------------------------------------- regex


def test_regex_searches_the_reply_ignoring_case_by_default() -> None:
    assert judge(regex(r"refund #\d+ issued"), "OK: REFUND #17 ISSUED.").verdict == Verdict.PASS
    result = judge(regex(r"refund #\d+ issued", ignore_case=False), "OK: REFUND #17 ISSUED.")
    assert verdict(result) == (Verdict.FAIL, r"the reply does not match /refund #\d+ issued/")
    assert result.expected == r"refund #\d+ issued"


def test_not_regex_fails_when_the_pattern_matches() -> None:
    check = m.RegexCheck(type="not_regex", requirements=REQ, pattern="issu(ed)?")
    assert verdict(judge(check, "ISSUED")) == (Verdict.FAIL, "the reply matches /issu(ed)?/")
    assert judge(check, "pending approval").verdict == Verdict.PASS


def test_regex_matches_the_reply_in_nfc() -> None:
    assert judge(regex("^Zoë Müller$"), NFD_ZOE).verdict == Verdict.PASS


def test_regex_pattern_is_a_template() -> None:
    check = regex(r"limit is {{ params.limit }} EUR")
    result = judge(check, "The limit is 500.00 EUR.")
    assert result.verdict == Verdict.PASS and result.expected == "limit is 500.00 EUR"


# --------------------------------------------------------------------------- json_schema

SCHEMA = {
    "type": "object",
    "required": ["status", "amount"],
    "properties": {"status": {"enum": ["issued", "pending"]}, "amount": {"type": "number"}},
}


def json_schema(schema: dict[str, Any] = SCHEMA) -> m.JsonSchemaCheck:
    return m.JsonSchemaCheck.model_validate(
        {"type": "json_schema", "requirements": REQ, "schema": schema}
    )


def test_json_schema_passes_a_conforming_reply() -> None:
    result = judge(json_schema(), '{"status": "issued", "amount": 49.9}')
    assert result.verdict == Verdict.PASS and result.expected == SCHEMA


def test_json_schema_says_where_the_reply_breaks_it() -> None:
    result = judge(json_schema(), '{"status": "refunded", "amount": 49.9}')
    assert verdict(result) == (
        Verdict.FAIL,
        "at status: 'refunded' is not one of ['issued', 'pending']",
    )
    root = judge(json_schema(), "[1, 2]")
    assert verdict(root) == (Verdict.FAIL, "at (root): [1, 2] is not of type 'object'")


def test_json_schema_judges_by_the_draft_its_schema_declares() -> None:
    """Draft 4's boolean exclusiveMinimum (as it was checked at load): 3 is not above 3."""
    schema = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "integer",
        "minimum": 3,
        "exclusiveMinimum": True,
    }
    assert judge(json_schema(schema), "3").verdict is Verdict.FAIL
    assert judge(json_schema(schema), "4").verdict is Verdict.PASS


def test_json_schema_fails_a_reply_that_is_not_json() -> None:
    result = judge(json_schema(), "Refund issued.")
    assert result.verdict == Verdict.FAIL
    assert result.message.startswith("the reply is not JSON: ")


# --------------------------------------------------------------------------- number


@pytest.mark.parametrize(
    ("reply", "extra", "expect"),
    [
        ("Refunded 49.90 EUR", {}, "49.90"),
        ("Refunded 49.9 EUR", {}, "49.90"),  # by value, not by text
        ("Refunded -5 EUR", {}, "-5"),
        ("Refunded 1,234 EUR", {}, "1234"),  # a comma is a thousands separator by default
        ("Refunded 49,90 EUR", {"decimal_comma": True}, "49.90"),
        ("Refunded 1.234 EUR", {"decimal_comma": True}, "1234"),
        ("order 7: refund of 12.50", {"pattern": r"refund of (\S+)"}, "12.50"),  # group 1
        ("order 7: refund of 12.50", {"pattern": r"\d+\.\d+"}, "12.50"),  # no group: match
        ("Refunded 49.91 EUR", {"tolerance": "0.01"}, "49.90"),
        ("Refunded 49.89 EUR", {"tolerance": "0.01"}, "49.90"),
    ],
)
def test_number_reads_the_amount_the_reply_states(
    reply: str, extra: dict[str, Any], expect: str
) -> None:
    result = judge(number(expect, **extra), reply)
    assert verdict(result) == (Verdict.PASS, "")


def test_number_outside_its_tolerance_fails_saying_what_it_found() -> None:
    result = judge(number("49.90", tolerance="0.01"), "Refunded 49.92 EUR")
    assert verdict(result) == (Verdict.FAIL, "found 49.92, expected 49.90 ± 0.01")
    # without decimal_comma, "49,90" is forty-nine ninety thousand-ish: 4990
    result = judge(number("49.90"), "Refunded 49,90 EUR")
    assert verdict(result) == (Verdict.FAIL, "found 4990, expected 49.90 ± 0")


def test_number_without_a_number_or_with_a_non_number_fails() -> None:
    assert verdict(judge(number("1"), "no amount here")) == (
        Verdict.FAIL,
        "no number found in the reply",
    )
    assert verdict(judge(number("1", pattern=r"total: (\w+)"), "other")) == (
        Verdict.FAIL,
        "no number found in the reply",
    )
    assert verdict(judge(number("1", pattern=r"refund of (\S+)"), "refund of abc")) == (
        Verdict.FAIL,
        "'abc' is not a number",
    )


def test_number_expectation_is_a_template_shown_as_its_value() -> None:
    result = judge(number("{{ vars.amount }}"), "Refunded 49.9 EUR")
    assert result.verdict == Verdict.PASS and result.expected == "49.9"
    result = judge(number("{{ params.limit }}"), "Refunded 499.99 EUR")
    assert verdict(result) == (Verdict.FAIL, "found 499.99, expected 500.00 ± 0")


@pytest.mark.parametrize(
    ("reply", "decimal_comma"),
    [("Refunded 1,234.56 EUR", False), ("Refunded 1.234,56 EUR", True)],
)
def test_number_reads_an_amount_with_thousands_separator_and_decimals(
    reply: str, decimal_comma: bool
) -> None:
    result = judge(number("1234.56", decimal_comma=decimal_comma), reply)
    assert verdict(result) == (Verdict.PASS, "")


# --------------------------------------------------------------------------- turns

REPLIES = ("Hello, who are you?", "Thanks, verified.", "Refund issued.")


@pytest.mark.parametrize(
    ("turn", "value", "expected"),
    [
        ("last", "issued", Verdict.PASS),
        ("last", "hello", Verdict.FAIL),  # only the last reply is judged by default
        (1, "hello", Verdict.PASS),
        (1, "issued", Verdict.FAIL),
        (2, "verified", Verdict.PASS),
        ("any", "verified", Verdict.PASS),
        ("any", "rejected", Verdict.FAIL),
        ("all", "e", Verdict.PASS),
        ("all", "issued", Verdict.FAIL),
    ],
)
def test_the_turn_selects_the_replies_judged(
    turn: int | str, value: str, expected: Verdict
) -> None:
    assert judge(contains(value, turn=turn), *REPLIES).verdict == expected


def test_all_shows_the_first_reply_that_fails_as_evidence() -> None:
    result = judge(not_contains("verified", turn="all"), *REPLIES)
    assert result.verdict == Verdict.FAIL and result.found == REPLIES[1]
    passed = judge(not_contains("rejected", turn="all"), *REPLIES)
    assert passed.verdict == Verdict.PASS and passed.found == REPLIES[-1]


def test_any_that_fails_shows_the_first_reply() -> None:
    result = judge(contains("rejected", turn="any"), *REPLIES)
    assert verdict(result) == (Verdict.FAIL, "the reply lacks 'rejected'")
    assert result.found == REPLIES[0]


@pytest.mark.parametrize("turn", [0, 4, 99])
def test_a_turn_that_does_not_exist_is_an_error_not_a_fail(turn: int) -> None:
    result = judge(contains("hello", turn=turn), *REPLIES)
    assert verdict(result) == (
        Verdict.ERROR,
        f"turn {turn} does not exist (the case has 3 turns)",
    )
    assert result.found is None


NO_REPLY = "the agent gave no usable reply to a judged turn (see the turn's error)"


@pytest.mark.parametrize(
    ("turn", "expected"),
    [("last", Verdict.ERROR), (2, Verdict.ERROR), ("all", Verdict.ERROR), ("any", Verdict.ERROR)],
)
def test_a_missing_reply_in_a_judged_turn_is_an_error_never_a_pass(
    turn: int | str, expected: Verdict
) -> None:
    # a not_contains check would pass on an empty reply: a missing one must not
    result = judge(not_contains("issued", turn=turn), "Hello", None, None)
    assert verdict(result) == (expected, NO_REPLY)


def test_a_missing_reply_in_a_turn_not_judged_does_not_matter() -> None:
    result = judge(contains("hello", turn=1), "Hello", None)
    assert verdict(result) == (Verdict.PASS, "")


def test_a_case_whose_agent_was_never_called_is_an_error() -> None:
    assert verdict(judge(not_contains("issued"))) == (Verdict.ERROR, "the agent was never called")


# --------------------------------------------------------------------------- templates


def test_values_are_templates_rendered_from_the_case() -> None:
    check = contains(["{{ vars.amount | money }}", "limit {{ params.limit }}"])
    result = judge(check, "Refund of 49.90, under the limit 500.00.")
    assert verdict(result) == (Verdict.PASS, "")
    assert result.expected == ["49.90", "limit 500.00"]
    failed = judge(equals("{{ vars.amount | comma_decimal }} EUR"), "49.9 EUR")
    assert failed.verdict == Verdict.FAIL and failed.expected == "49,90 EUR"


def test_templates_are_parsed_once_per_cache() -> None:
    cache: dict[str, Template] = {}
    for ref in ("A-1", "B-2"):
        context = {"params": {}, "vars": {"ref": ref}}
        result = judge(contains("{{ vars.ref }}"), f"order {ref}", context=context, cache=cache)
        assert result.verdict == Verdict.PASS and result.expected == ref
    assert list(cache) == ["{{ vars.ref }}"]


@pytest.mark.parametrize("value", ["{{ vars.amount }}", "{{ vars.amount | money }}"])
def test_contains_a_number_given_as_one_template_expression(value: str) -> None:
    result = judge(contains(value), "Refund of 49.90 EUR issued.")
    assert result.verdict == Verdict.PASS


# --------------------------------------------------------------------------- evidence


def test_excerpt_caps_long_evidence_and_says_how_much_it_left_out() -> None:
    assert excerpt(None) is None
    assert excerpt("x" * EVIDENCE_CHARS) == "x" * EVIDENCE_CHARS
    assert excerpt("x" * (EVIDENCE_CHARS + 1)) == "x" * EVIDENCE_CHARS + "... [1 more characters]"
    assert excerpt("abcdef", limit=4) == "abcd... [2 more characters]"


def test_a_huge_reply_is_kept_as_a_capped_excerpt() -> None:
    reply = "issued " + "y" * 10_000
    result = judge(not_contains("issued"), reply)
    assert result.verdict == Verdict.FAIL
    assert (
        result.found
        == reply[:EVIDENCE_CHARS] + f"... [{len(reply) - EVIDENCE_CHARS} more characters]"
    )


# --------------------------------------------------------------------------- made once


def test_a_check_without_templates_is_made_once_a_templated_one_for_every_case() -> None:
    from harness.check.output import fixed

    literal, templated = contains("issued"), contains("order {{ vars.name }}")
    assert fixed(literal) and not fixed(templated)
    assert not fixed(number("{{ vars.amount }}")) and fixed(number("49.90"))
    first = {"vars": {"name": "A-1"}}
    second = {"vars": {"name": "B-2"}}
    for _ in range(3):  # the same check objects judged case after case
        assert judge(literal, "was issued", context=first).verdict is Verdict.PASS
        assert judge(literal, "was refused", context=second).verdict is Verdict.FAIL
        assert judge(templated, "order A-1", context=first).verdict is Verdict.PASS
        assert judge(templated, "order A-1", context=second).verdict is Verdict.FAIL
        assert judge(templated, "order B-2", context=second).expected == "order B-2"


def test_an_equal_check_of_another_suite_gets_its_own_expectation() -> None:
    # checks are remembered by identity: a new check object (a suite loaded again, edited)
    # is never judged by the expectation of one that was freed
    for value in ("alpha", "beta", "gamma"):
        result = judge(contains(value), f"has {value}")
        assert result.verdict is Verdict.PASS and result.expected == value


def test_a_check_of_a_field_names_the_field_it_judged() -> None:
    """`field:` judges a field of the reply's JSON: its failure says which field, not "the
    reply" (whose text may well read right)."""
    from harness.core import TurnRecord

    turns = [
        TurnRecord(index=1, text="t", reply="Booked with Dr Ng.", data={"slot": {"doctor": "Ng"}})
    ]
    check = equals("Dr Ng", field="slot.doctor")
    result = evaluate_output(check, "c-1", ["Booked with Dr Ng."], CONTEXT, {}, turns)
    assert result.verdict is Verdict.FAIL
    assert result.message == "the reply's field 'slot.doctor' is not exactly the expected text"
    assert result.found == "Ng"
    check = contains("Dr", field="slot.doctor")
    result = evaluate_output(check, "c-1", ["Booked with Dr Ng."], CONTEXT, {}, turns)
    assert result.message == "the reply's field 'slot.doctor' lacks 'Dr'"
    assert judge(equals("nope"), "Booked").message == "the reply is not exactly the expected text"
