"""A template rendered often is compiled to a Python function (spec/compiled.py): it must give
exactly what the interpreter gives, value or error, for every template and context, and
never run anything a template or a context holds."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from harness.spec.compiled import compile_parts
from harness.spec.template import COMPILE_AFTER, Template, TemplateError, format_value


class Unplayed(dict[str, Any]):
    """A dict of another type (like the judge's turns by number): never indexed directly."""

    def __missing__(self, key: str) -> None:
        return None


CONTEXTS: list[dict[str, Any]] = [
    {"case": {"index": 7, "id": "echo#7"}, "turn": {"text": "hi"}},
    {"case": {"index": None, "id": ""}, "turn": {"text": Decimal("49.90")}},
    {"case": {"index": dt.date(2026, 1, 2), "id": True}, "turn": {"text": 1.5}},
    {"case": {"index": [1, 2], "id": {"a": 1}}, "turn": {}},  # turn.text missing
    {"case": Unplayed(index=3), "turn": {"text": "x"}},  # a Mapping of another type
    {"case": ["zero", "one"], "turn": "not a mapping"},  # a list where a dict was
    {"replies": {"1": {"state": "ok"}}, "case": {"index": 0, "id": "c"}, "turn": {"text": ""}},
]
TEMPLATES = [
    "{{ case.index }}",
    "hello {{ case.index }}",
    "{{ case.id }}-{{ case.index }}!",
    "{{ turn.text }}",
    "said {{ turn.text }} at {{ case.index }}",
    "{{ case.1 }}",
    "{{ replies.1.state }} then {{ case.id }}",
    "{{ case.index | default('none') }}",  # filters: never compiled
]


def outcome(template: Template, ctx: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "value", template.render(ctx)
    except TemplateError as exc:
        return "error", str(exc)


@pytest.mark.parametrize("source", TEMPLATES)
def test_a_compiled_template_gives_the_interpreters_value_or_error(source: str) -> None:
    interpreted, compiled = Template(source), Template(source)
    for _ in range(COMPILE_AFTER):  # rendered enough to be compiled (when it can be)
        outcome(compiled, CONTEXTS[0])
    assert (compiled._fast is not None) == ("|" not in source)
    for ctx in CONTEXTS:
        want: tuple[str, Any]
        try:
            want = ("value", interpreted._interpret(ctx))
        except TemplateError as exc:
            want = ("error", str(exc))
        got = outcome(compiled, ctx)
        assert got == want, (source, ctx)
        assert type(got[1]) is type(want[1])


def test_a_template_rendered_once_is_not_compiled() -> None:
    template = Template("hello {{ case.index }}")
    template.render(CONTEXTS[0])
    assert template._fast is None
    for _ in range(COMPILE_AFTER):
        template.render(CONTEXTS[0])
    assert template._fast is not None


def test_nothing_a_template_or_a_context_holds_is_run_as_code() -> None:
    # text that would be code if pasted into the generated source, and a context whose
    # values would be code if evaluated: both stay text
    source = '\')); import os; os._exit(3) #{{ case.index }}\\n"""{{ case.id }}'
    template = Template(source)
    ctx = {"case": {"index": "__import__('os')._exit(4)", "id": "{{ case.index }}"}}
    for _ in range(COMPILE_AFTER + 2):
        rendered = template.render(ctx)
    assert template._fast is not None
    assert rendered == (
        "')); import os; os._exit(3) #__import__('os')._exit(4)\\n\"\"\"{{ case.index }}"
    )


def test_compile_parts_refuses_filters_and_plain_text() -> None:
    with_filter = Template("{{ a | money }}")
    assert compile_parts(with_filter.parts, format_value, with_filter._interpret) is None
    text = Template("no expression here")
    assert compile_parts(text.parts, format_value, text._interpret) is None
