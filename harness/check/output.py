"""Output checks: oracles on what the agent replied, judged against the spec's values."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from harness.agents.protocol import as_text, get_path
from harness.check.registry import CheckKind, Judging, register
from harness.core import Category, CheckResult, Verdict
from harness.spec import models as m
from harness.spec.template import Template, format_value, render_deep, to_decimal

EVIDENCE_CHARS = 2000
# a number as people write it: thousands grouped by , . or a space (1,234.56 1.234,56
# 1 234,56), or not grouped; the decimal part after the last separator
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:[,. ]\d{3})+|\d+)(?:[.,]\d+)?")

Replies = list[str | None]


def excerpt(text: str | None, limit: int = EVIDENCE_CHARS) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f"... [{len(text) - limit} more characters]"


def norm(text: str, ignore_case: bool) -> str:
    """Text as a `contains` or `equals` check compares it: NFC, case folded when asked."""
    if not text.isascii():  # ASCII is in NFC already
        text = unicodedata.normalize("NFC", text)
    return text.casefold() if ignore_case else text


def _selected(check: m.OutputCheck, replies: Replies) -> tuple[list[str], str | None]:
    """The replies the check judges, or an error saying why there is none to judge."""
    if not replies:
        return [], "the agent was never called"
    turn = check.turn
    if turn == "last":
        chosen = [replies[-1]]
    elif turn in ("all", "any"):
        chosen = list(replies)
    else:
        assert isinstance(turn, int)
        if not 1 <= turn <= len(replies):
            return [], f"turn {turn} does not exist (the case has {len(replies)} turns)"
        chosen = [replies[turn - 1]]
    if None in chosen:  # replies are text or None: `in` compares nothing else equal to None
        return [], "the agent gave no usable reply to a judged turn (see the turn's error)"
    return chosen, None  # type: ignore[return-value]  # no None left


class _NoField(str):
    """A judged reply without the field the check names (its text, to show as found)."""


def field_values(field: str, turns: Sequence[Any]) -> Replies:
    """Each turn's `field` (a JSON path into its reply) as text; a reply without it gives a
    _NoField (the check fails: the agent's reply lacks what its contract says)."""
    out: Replies = []
    for turn in turns:
        if turn.reply is None and turn.data is None:
            out.append(None)  # the turn failed: no usable reply (an error)
            continue
        value, found = get_path(turn.data, field)
        out.append(as_text(value) if found and value is not None else _NoField(turn.reply or ""))
    return out


def judged(check: Any) -> str:
    """What an output check judges, as its failure names it: the reply, or a field of it."""
    field = getattr(check, "field", None)
    return "the reply" if field is None else f"the reply's field {field!r}"


def _judge(
    check: m.OutputCheck, cid: str, replies: Replies, expected: Any, predicate: Predicate
) -> CheckResult:
    if check.turn == "last" and replies and replies[-1] is not None and check.field is None:
        return _judge_last(check, cid, replies, expected, predicate)  # the usual check
    chosen, problem = _selected(check, replies)
    if problem:
        return _result(check, cid, Verdict.ERROR, problem, expected, None)
    missing = None
    for r in chosen:
        if isinstance(r, _NoField):
            missing = r
            break
    if missing is not None and check.turn != "any":
        message = f"the reply has no field {check.field!r}"
        return _result(check, cid, Verdict.FAIL, message, expected, excerpt(str(missing)))
    outcomes = [predicate(r) for r in chosen]
    if check.turn == "any":
        ok = any(o[0] for o in outcomes)
        bad = None if ok else 0
    else:
        bad = None
        for i, o in enumerate(outcomes):
            if not o[0]:
                bad = i
                break
        ok = bad is None
    if ok:
        return _result(check, cid, Verdict.PASS, "", expected, excerpt(chosen[-1]))
    assert bad is not None
    result = _result(check, cid, Verdict.FAIL, outcomes[bad][1], expected, excerpt(chosen[bad]))
    # the reply that failed: its number for all, the one selected, else the last
    result.turn = bad + 1 if check.turn == "all" else len(replies)
    if isinstance(check.turn, int):
        result.turn = check.turn
    return result


def _judge_last(
    check: m.OutputCheck, cid: str, replies: Replies, expected: Any, predicate: Predicate
) -> CheckResult:
    """`_judge` of the last reply, there and with no `field` (no _NoField among the replies):
    the same verdict, message and evidence in fewer steps."""
    reply = replies[-1]
    assert reply is not None
    ok, message = predicate(reply)
    if ok:
        return _result(check, cid, Verdict.PASS, "", expected, excerpt(reply))
    result = _result(check, cid, Verdict.FAIL, message, expected, excerpt(reply))
    result.turn = len(replies)
    return result


def _result(
    check: m.CheckBase, cid: str, verdict: Verdict, message: str, expected: Any, found: Any
) -> CheckResult:
    return CheckResult(
        check_id=cid,
        check_type=check.type,  # type: ignore[attr-defined]
        category="output",
        requirements=tuple(check.requirements),
        verdict=verdict,
        message=message,
        expected=expected,
        found=found,
    )


def _as_list(value: Any) -> list[Any]:
    """A check's value or values; one template expression may render to a number or a date,
    which is one value, not a list of them."""
    return list(value) if isinstance(value, list | tuple) else [value]


Predicate = Callable[[str], tuple[bool, str]]
#: what an output check expects, and how it judges one reply
Expectation = tuple[Any, Predicate]
_EXPECTATIONS: dict[str, Callable[[Any, Mapping[str, Any], dict[str, Template]], Expectation]] = {}


@functools.cache
def _is_output(cls: type) -> bool:
    """isinstance(check, OutputCheck), asked once per class (pydantic's isinstance goes
    through the ABC machinery: a microsecond, for every check of every case)."""
    return issubclass(cls, m.OutputCheck)


#: the expectation of each check that reads nothing of the case (`fixed`), made once: by
#: id, with the check kept, so an id reused by a later check is never taken for it
_MADE: dict[int, tuple[Any, Expectation | None]] = {}
MADE_MAX = 10_000  # checks remembered at once (a process that loads suite after suite)


def fixed(check: m.OutputCheck) -> bool:
    """Whether the check's expectation is the same for every case: no template in any of
    its values, which are all plain data (no moment resolved against a case's clock)."""

    def plain(value: Any) -> bool:
        if isinstance(value, str):
            return "{{" not in value
        if value is None or isinstance(value, bool | int | float | Decimal):
            return True
        if isinstance(value, list | tuple):
            return all(plain(v) for v in value)
        if isinstance(value, dict):
            return all(plain(k) and plain(v) for k, v in value.items())
        return False

    return all(plain(getattr(check, name)) for name in type(check).model_fields)


def evaluate_output(
    check: m.OutputCheck,
    cid: str,
    replies: Replies,
    context: Mapping[str, Any],
    cache: dict[str, Template],
    turns: Sequence[Any] = (),
) -> CheckResult:
    """Judge one output check (the text of the replies, or with `field` that field of each
    reply's JSON, from `turns`); never raises for anything the agent said."""
    expectation = _EXPECTATIONS.get(getattr(check, "type", ""))
    if expectation is None or not _is_output(type(check)):
        raise TypeError(f"not an output check: {type(check).__name__}")
    made = _MADE.get(id(check))
    if made is None or made[0] is not check:  # first sight of this check
        if len(_MADE) >= MADE_MAX:
            _MADE.clear()
        once = expectation(check, context, cache) if fixed(check) else None
        made = _MADE[id(check)] = (check, once)
    expected, predicate = made[1] or expectation(check, context, cache)
    if check.field is not None:
        replies = field_values(check.field, turns)
    return _judge(check, cid, replies, expected, predicate)


def _judge_now(check: m.OutputCheck, cid: str, j: Judging) -> CheckResult:
    return evaluate_output(check, cid, j.replies, j.context, j.cache, j.observation.turns)


async def _registered_judge(check: m.OutputCheck, cid: str, j: Judging) -> CheckResult:
    return _judge_now(check, cid, j)


def output_check(
    *types: str,
) -> Callable[
    [Callable[[Any, Mapping[str, Any], dict[str, Template]], Expectation]],
    Callable[[Any, Mapping[str, Any], dict[str, Template]], Expectation],
]:
    """Register an output check type: `fn(check, context, cache) -> (expected, predicate)`."""

    def add(
        fn: Callable[[Any, Mapping[str, Any], dict[str, Template]], Expectation],
    ) -> Callable[[Any, Mapping[str, Any], dict[str, Template]], Expectation]:
        _EXPECTATIONS.update(dict.fromkeys(types, fn))
        register(CheckKind(types, Category.OUTPUT, _registered_judge, judge_now=_judge_now))
        return fn

    return add


@output_check("equals")
def _equals(
    check: m.EqualsCheck, context: Mapping[str, Any], cache: dict[str, Template]
) -> Expectation:
    want = format_value(render_deep(check.value, context, cache))
    said = f"{judged(check)} is not exactly the expected text"
    return want, lambda r: (
        norm(r.strip(), check.ignore_case) == norm(want.strip(), check.ignore_case),
        said,
    )


@output_check("contains", "not_contains")
def _contains(
    check: m.ContainsCheck | m.NotContainsCheck,
    context: Mapping[str, Any],
    cache: dict[str, Template],
) -> Expectation:
    wants = [format_value(v) for v in _as_list(render_deep(check.value, context, cache))]
    positive = check.type == "contains"
    ignore_case = check.ignore_case
    normed = [(w, norm(w, ignore_case)) for w in wants]  # once, not for every reply
    subject = judged(check)

    def contains(r: str) -> tuple[bool, str]:
        text = norm(r, ignore_case)
        for w, n in normed:
            if (n in text) != positive:
                return False, f"{subject} {'lacks' if positive else 'contains'} {w!r}"
        return True, ""

    return (wants if len(wants) > 1 else wants[0]), contains


@output_check("regex", "not_regex")
def _regex(
    check: m.RegexCheck, context: Mapping[str, Any], cache: dict[str, Template]
) -> Expectation:
    pattern = format_value(render_deep(check.pattern, context, cache))
    compiled = re.compile(pattern, re.IGNORECASE if check.ignore_case else 0)
    negate = check.type == "not_regex"
    said = f"{judged(check)} {'matches' if negate else 'does not match'} /{pattern}/"
    return pattern, lambda r: (
        (compiled.search(unicodedata.normalize("NFC", r)) is None) == negate,
        said,
    )


@output_check("json_schema")
def _schema(
    check: m.JsonSchemaCheck, context: Mapping[str, Any], cache: dict[str, Template]
) -> Expectation:
    return check.json_schema, lambda r: _json_schema(check, r)


@output_check("number")
def _number_check(
    check: m.NumberCheck, context: Mapping[str, Any], cache: dict[str, Template]
) -> Expectation:
    number = to_decimal(render_deep(check.expect, context, cache))
    return format_value(number), lambda r: _number(check, number, r)


def _json_schema(check: m.JsonSchemaCheck, reply: str) -> tuple[bool, str]:
    import jsonschema  # loaded by the suites that have such a check

    try:
        data = orjson.loads(reply)
    except orjson.JSONDecodeError as exc:
        return False, f"{judged(check)} is not JSON: {exc}"
    # the metaschema its $schema names, else draft 2020-12: as it was checked at load
    cls = jsonschema.validators.validator_for(
        check.json_schema, default=jsonschema.Draft202012Validator
    )
    validator = cls(check.json_schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is None:
        return True, ""
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return False, f"at {where}: {error.message[:300]}"


def _number(check: m.NumberCheck, want: Decimal, reply: str) -> tuple[bool, str]:
    if check.pattern:
        match = re.search(check.pattern, reply)
        raw = (match.group(1) if match and match.groups() else match.group(0)) if match else None
    else:
        match = _NUMBER.search(reply)
        raw = match.group(0) if match else None
    if raw is None:
        return False, f"no number found in {judged(check)}"
    text = raw.replace(" ", "")
    text = text.replace(".", "").replace(",", ".") if check.decimal_comma else text.replace(",", "")
    try:
        got = Decimal(text)
    except InvalidOperation:
        return False, f"{raw!r} is not a number"
    if abs(got - want) <= check.tolerance:
        return True, ""
    return False, f"found {format_value(got)}, expected {format_value(want)} ± {check.tolerance}"
