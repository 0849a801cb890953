"""Personas keep a request's meaning: every value a template inserted reaches the agent
verbatim, in its own sentence, after its title; `out_of_order` only reorders whole
sentences (or, in a one-sentence turn, whole clauses)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from harness.generate.personas import write_turn
from harness.spec.models import Persona
from harness.spec.suite import load_suite
from harness.spec.template import Template, format_value
from tests.helpers import DEMO

PERSONAS = sorted(getattr(Persona, "__args__", ())) or [
    "plain", "polite", "terse", "rambling", "shouting", "typos", "out_of_order", "change_of_mind",
]  # fmt: skip
# what the test knows is not a sentence's end: titles, abbreviations, initials
_NOT_AN_END = re.compile(r"\b(dr|mr|mrs|ms|prof|st|jr|e\.g|i\.e|med|dec|no|[a-z])\.", re.IGNORECASE)
_END = re.compile(r"(?<=[.!?…])\s+")

# literal words that trip a naive ". " splitter, and the words personas touch
FRAGMENTS = [
    "Hi, I'm ", "Please ask Dr. ", "It is Mrs. ", "I mean e.g. ", "that is i.e. ",
    "I paid €12.50 for ", "at 9.30am, ", "it was 3.5 EUR for ", "mail ann.b@ex.com about ",
    "see https://ex.com/a.b?x=1 for ", "Refund ", "please refund ", "thanks, ", "order #",
    "Mr. J. R. ", "St. ", "Hello! Could you refund ", "and ", "",
    # real-world short forms (review of issue 12): degrees, months, a.m., numbers, countries
    "Book Prof. Dr. med. ", "see Dr. Smith on Dec. ", "at 9 a.m. on ", "flat No. ",
    "in the U.S. for ", "she has a Ph.D. ", "at 9 a.m. ",
]  # fmt: skip
VALUES = [
    "Dr. Who", "Who", "Smith", "José Ñúñez", "O'Brien", "9.30am", "€12.50", "3.5", "1.234,50",
    "ann.b@ex.com", "https://ex.com/a.b?x=1", "Acme Inc.", "Hi. Refund everything.", "Zoë",
    "12345", "49,90", "e.g. this", "ÉMILE", "approve it!", "24", "U.S.", "Prof. Dr. Ng",
]  # fmt: skip


def values_strategy(n: int) -> st.SearchStrategy[list[str]]:
    core = st.one_of(st.sampled_from(VALUES), st.from_regex(r"[A-Z][a-zà-ÿ]{2,9}", fullmatch=True))
    return st.lists(core, min_size=n, max_size=n, unique=True)


@st.composite
def templates(draw: st.DrawFn) -> tuple[Template, dict[str, Any]]:
    """A turn of 1 to 4 sentences, each one or more (literal, value) pairs and an end mark."""
    sentences = draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    values = draw(values_strategy(sum(sentences)))
    source, i = [], 0
    for count in sentences:
        for _ in range(count):
            source.append(draw(st.sampled_from(FRAGMENTS)) + f"{{{{ vars.v{i} }}}}")
            source.append(draw(st.sampled_from(["", " EUR", " for me", ","])) + " ")
            i += 1
        source[-1] = source[-1].rstrip(", ") + draw(st.sampled_from([".", "!", "?", "."])) + " "
    text = "".join(source).strip()
    return Template(text), {"vars": {f"v{k}": v for k, v in enumerate(values)}}


def inserted(template: Template, context: dict[str, Any]) -> list[tuple[str, str]]:
    """(the literal words just before, the value) for every value the template inserts."""
    out, before = [], ""
    for part in template.parts:
        if isinstance(part, str):
            before = part
        else:
            out.append((before, format_value(part.evaluate(context))))
            before = ""
    return out


def where(text: str, values: list[str]) -> list[int]:
    """The sentence each value is in, by the test's own reading of `text`: values and known
    abbreviations masked, then split at end marks followed by a space."""
    masked = text
    for k, value in enumerate(values):
        assert masked.count(value) == 1, f"{value!r} not exactly once in {text!r}"
        masked = masked.replace(value, f"\x00{k}\x00")
    parts = _END.split(_NOT_AN_END.sub(lambda m: m.group(0)[:-1] + "·", masked))
    return [next(i for i, p in enumerate(parts) if f"\x00{k}\x00" in p) for k in range(len(values))]


def pieces(text: str, values: list[str], sep: re.Pattern[str]) -> list[str]:
    """The sentences (or clauses) of `text`, normalised for comparing them as a multiset."""
    masked = text
    for k, value in enumerate(values):
        masked = masked.replace(value, f"\x00{k}\x00")
    masked = _NOT_AN_END.sub(lambda m: m.group(0)[:-1] + "·", masked)
    return sorted(p.strip().rstrip(".!?,").strip() for p in sep.split(masked) if p.strip())


def check_meaning(template: Template, context: dict[str, Any], persona: str, seed: int) -> None:
    pairs = inserted(template, context)
    values = [v for _, v in pairs]
    plain = template.render_text(context)
    literal = "".join(p for p in template.parts if isinstance(p, str))
    # a value found only once, and in no literal word, can be followed through a rewrite
    assume(all(plain.count(v) == 1 and v.lower() not in literal.lower() for v in values))
    assume(all(a == b or a not in b for a in values for b in values))
    for turn, turns in ((0, 1), (1, 2)):
        text = write_turn(template, context, persona, seed, turn, turns)
        for value in values:
            assert value in text, f"{persona}: {value!r} lost in {text!r}"
        before = where(plain, values)
        assert _same(before, where(text, values)) == before, (
            f"{persona}: a value left its sentence: {plain!r} -> {text!r}"
        )
        for before, value in pairs:
            title = re.search(r"(\b\w+\.(?:\w\.)*\s*)$", before)
            if title and _NOT_AN_END.search(title.group(1)):
                kept = text.lower().find(title.group(1).lower() + value.lower())
                assert kept >= 0 or (title.group(1) + value) in text, (
                    f"{persona}: {value!r} moved away from {title.group(1)!r}: {text!r}"
                )
        if persona == "out_of_order":
            sentences = pieces(plain, values, _END)
            if len(sentences) > 1:
                assert pieces(text, values, _END) == sentences, (plain, text)
            else:
                comma = re.compile(r",\s+")
                assert pieces(text, values, comma) == pieces(plain, values, comma), (plain, text)


def _same(before: list[int], after: list[int]) -> list[int]:
    """`after` renumbered as a partition: equal to `before`'s partition when the same values
    share a sentence (the sentences themselves may be in another order)."""
    mapping: dict[int, int] = {}
    out = []
    for b, a in zip(before, after, strict=True):
        mapping.setdefault(a, b)
        out.append(mapping[a])
    return out if len(set(mapping.values())) == len(mapping) else [-1] * len(after)


@settings(max_examples=300, deadline=None)
@given(templates(), st.sampled_from(PERSONAS), st.integers(0, 2**16))
def test_every_inserted_value_survives_verbatim_in_its_sentence(
    case: tuple[Template, dict[str, Any]], persona: str, seed: int
) -> None:
    template, context = case
    check_meaning(template, context, persona, seed)


DEMO_TURNS = sorted(
    {
        text
        for scenario in load_suite(DEMO).scenarios
        for turns in (scenario.turns, *scenario.variants)
        for turn in turns
        if "{{" in (text := turn if isinstance(turn, str) else (getattr(turn, "say", None) or ""))
    }
)


def demo_context(draw: st.DrawFn, template: Template) -> dict[str, Any]:
    """A value for every name the demo's template uses: names and texts from the hard lists,
    amounts as decimals, ids and PINs as numbers."""
    context: dict[str, Any] = {}
    for path in template.paths():
        leaf = path[-1]
        if leaf in {"amount", "total", "approval_limit"}:
            value: Any = draw(st.decimals("0.01", "99999.99", places=2))
        elif leaf in {"id", "pin"}:
            value = draw(st.integers(1000, 9_999_999))
        else:
            value = draw(st.sampled_from(VALUES))
        node = context
        for name in path[:-1]:
            node = node.setdefault(name, {})
        node[leaf] = value
    return context


@settings(max_examples=300, deadline=None)
@given(st.data(), st.sampled_from(DEMO_TURNS), st.sampled_from(PERSONAS), st.integers(0, 2**16))
def test_the_demos_turns_keep_their_values_under_every_persona(
    data: st.DataObject, source: str, persona: str, seed: int
) -> None:
    template = Template(source)
    context = demo_context(data.draw, template)
    check_meaning(template, context, persona, seed)


def test_a_title_stays_with_its_name_and_a_sentence_with_its_values() -> None:
    """The false alarm of issue 12: "Dr. Smith" split at ". " sent the request for another
    person."""
    tpl = Template(
        "Please refund {{ vars.a }} to Dr. {{ vars.who }}. It is for order {{ vars.o }}."
    )
    ctx = {"vars": {"a": Decimal("12.50"), "who": "Who", "o": 7}}
    assert write_turn(tpl, ctx, "out_of_order", 1, 0, 1) == (
        "It is for order 7. Please refund 12.50 to Dr. Who."
    )
    tpl = Template("Refund {{ vars.a }} EUR please. I'm {{ vars.who }}.")
    assert write_turn(tpl, ctx, "terse", 1, 0, 1) == "Refund 12.50 EUR. I'm Who."
    # an enumeration is never reordered: "2 and 3, items 1" would ask for something else
    tpl = Template("Refund items {{ vars.a }}, {{ vars.o }} and {{ vars.who }}.")
    assert write_turn(tpl, ctx, "out_of_order", 1, 0, 1) == tpl.render_text(ctx)


@pytest.mark.parametrize(
    ("source", "written"),
    [
        (  # the name stays with its titles; "9.30am." still ends a sentence
            "Book Prof. Dr. med. Müller at 9.30am. Thanks.",
            "Thanks. Book Prof. Dr. med. Müller at 9.30am.",
        ),
        (  # "Dec. 24": a digit never starts a sentence; one sentence, no clause to move
            "I'd like to see Dr. Smith on Dec. 24 at 2pm.",
            "I'd like to see Dr. Smith on Dec. 24 at 2pm.",
        ),
        (  # "a.m. on": a lowercase word never starts a sentence
            "Please book Dr. Smith at 9 a.m. on Monday. I am Ann.",
            "I am Ann. Please book Dr. Smith at 9 a.m. on Monday.",
        ),
        (  # "No." and "U.S." before capitals; "5." before a capital still ends one
            "Flat No. 5. It is on the U.S. Army base. Thanks.",
            "Thanks. It is on the U.S. Army base. Flat No. 5.",
        ),
        ("He has a Ph.D. Smith is his name. OK.", "OK. He has a Ph.D. Smith is his name."),
        ("Call me on Mon. Jan. 5, e.g. Ann. Thanks.", "Thanks. Call me on Mon. Jan. 5, e.g. Ann."),
        # a lowercase word after "Ann." keeps one sentence, whose clauses then stay put: a
        # careless "that is" may start a sentence that a clause must not cross
        ("Hi, I'm Ann. that is all.", "Hi, I'm Ann. that is all."),
        ("Hi, I'm Dr. Ann, a client.", "a client, I'm Dr. Ann, Hi."),
    ],
)
def test_out_of_order_keeps_real_world_abbreviations_with_what_follows(
    source: str, written: str
) -> None:
    """The reviewer's examples: each was cut inside a title, a date, "a.m." or "U.S."."""
    assert write_turn(Template(source), {}, "out_of_order", 1, 0, 1) == written


def test_shouting_leaves_urls_and_emails_as_written() -> None:
    """A URL's path and query are case-sensitive: "HTTPS://CLINIC.EXAMPLE.ORG/A.B?C=1" is
    another address; one completed by an inserted value is kept whole too."""
    tpl = Template(
        "Book via https://clinic.example.org/a.b?c=1, www.Ex.org/Q or mail ann.b@ex.com, "
        "see ex.com/{{ vars.p }} for {{ vars.who }}."
    )
    ctx = {"vars": {"p": "Slots?d=Mon", "who": "Dr. Who"}}
    assert write_turn(tpl, ctx, "shouting", 1, 0, 1) == (
        "BOOK VIA https://clinic.example.org/a.b?c=1, www.Ex.org/Q OR MAIL ann.b@ex.com, "
        "SEE ex.com/Slots?d=Mon FOR Dr. Who."
    )


def test_terse_starts_a_sentence_it_shortened_with_a_capital() -> None:
    ctx = {"vars": {"who": "ann", "co": "Acme Inc."}}
    cases = {
        "Please book Dr. Smith at 9 a.m. on Monday": "Book Dr. Smith at 9 a.m. on Monday",
        "Hi, could you book it. Thanks. please call me.": "Book it. Call me.",
        "Refund it, please send it.": "Refund it, send it.",  # not a sentence's start
        "Please {{ vars.who }} now": "ann now",  # an inserted value stays as written
        # the value's full stop is not the sentence's: the dropped word's mark stays
        "I'm {{ vars.co }} Hello! Could you refund it.": "I'm Acme Inc.! Refund it.",
    }
    for source, written in cases.items():
        assert write_turn(Template(source), ctx, "terse", 1, 0, 1) == written
