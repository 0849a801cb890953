"""Personas: the same request written by different people.

A persona rewrites only the literal words of a turn; whatever a template puts in
(names, amounts, order ids) reaches the agent exactly as generated, inside the sentence
it was written in, so the request keeps its meaning and the spec's expected outcome
still holds. Two personas work on whole turns: `out_of_order` gives the sentences of a
turn in another order (or, in a one-sentence turn, its clauses), `change_of_mind` starts
the last turn with a retracted thought.

A turn is cut only in the template's own words, never inside an inserted value: a
sentence ends at `.`, `!`, `?` or `…` followed by a space and a word that does not start
with a lowercase letter or a digit ("9 a.m. on Monday", "Dec. 24"), unless the word
before is an abbreviation: one with inner full stops ("a.m.", "U.S.", "Ph.D."), an initial
("J.") or a known title or short form (`ABBREVIATIONS`: "Dr.", "med.", "No.", "Dec.").
Decimals, times, amounts, emails and URLs have no space after their dots, so they are
never cut. Not cutting is always safe (a sentence stays whole), so the rule errs that way.
This small rule is written here because the segmenters tried were wrong exactly where it
matters: pysbd cuts a URL at "?x=1", sentencex cuts "Dr. Who" and keeps "for me. Hi"
together.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from typing import Any

from harness.generate.values import derive_seed
from harness.spec.template import Template, format_value

FILLER = (
    "Sorry to bother you, it has been a long week and I only now found a moment to write. ",
    "I hope you are having a good day, the weather here is awful. ",
    "My neighbour told me you were helpful last time, so here I am. ",
)
HESITATION = (
    "Hmm, actually, wait. No, never mind that, sorry. ",
    "Let me think... no, forget what I was going to ask. ",
    "Oh, one thing first - no, that can wait. ",
)
_POLITE_WORDS = re.compile(
    r"\b(please|hi|hello|hey|thanks|thank you|kindly|could you|would you|i'd like|"
    r"i would like|could i have|can i get|i want)\b([,!.?]?)(\s*)",
    re.IGNORECASE,
)
_SPACE_BEFORE_STOP = re.compile(r"[ \t]+(?=[.!?])")
#: what shouting leaves as written: URLs (with a scheme, `www.` or a path) and emails
_ADDRESS = re.compile(
    r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)[^\s<>\"']*[^\s<>\"'.,;:!?)]"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|\b(?:[\w-]+\.)+[a-z]{2,}/[^\s<>\"']*[^\s<>\"'.,;:!?)]",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z]{6,}")
_CLAUSE = re.compile(r",\s+")
_ENUMERATION = re.compile(r"\b(and|or|nor)\b", re.IGNORECASE)
#: words ending in a full stop that never end a sentence before a name or a word
TITLES = frozenset(
    {"dr", "mr", "mrs", "ms", "mx", "prof", "rev", "st", "sr", "jr", "mt", "ft", "nr", "vs"}
    | {"etc", "e.g", "i.e", "cf", "approx", "dept"}
)
#: titles, academic degrees (German "Prof. Dr. med."), short months, numbers and addresses,
#: companies, ranks: a full stop after them marks the short form, not a sentence's end
ABBREVIATIONS = TITLES | frozenset(
    {"hr", "fr", "hon", "gen", "col", "capt", "lt", "sgt", "gov", "sen", "rep", "pres", "fam"}
    | {"med", "dent", "rer", "nat", "phil", "jur", "pol", "oec", "vet", "theol", "habil"}
    | {"dipl", "ing", "mag", "univ", "em", "ret", "esq", "dott", "sra", "mme", "mlle"}
    | {"jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "okt", "nov"}
    | {"dec", "dez", "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun"}
    | {"no", "nos", "nr", "num", "tel", "ext", "fig", "vol", "ch", "pp", "ca", "min", "max"}
    | {"ave", "blvd", "rd", "str", "sq", "bldg", "apt", "ste", "fl", "hwy"}
    | {"inc", "ltd", "co", "corp", "llc", "gmbh", "bros", "assn", "est", "vgl", "bzw", "usw"}
    | {"resp", "incl", "excl", "cont", "misc", "ref", "viz", "al"}
)
_LAST_WORD = re.compile(r"(\S+)\.\s*$")
#: a short form with inner full stops: "a.m", "U.S", "e.g", "Ph.D", "z.B", "Dipl.-Ing"
_DOTTED = re.compile(r"^(?:[^\W\d_]{1,4}\.-?)+[^\W\d_]{1,4}$")
_SENTENCE_END = re.compile(r"[.!?…]+\s+")
_ENDING = ".!?…"

Transform = Callable[[str], str]
Span = tuple[int, int]


def write_turn(
    template: Template, context: Mapping[str, Any], name: str, seed: int, turn: int, turns: int
) -> str:
    """The text of turn `turn` (0-based, of `turns`) as persona `name` writes it."""
    rng = random.Random(derive_seed(seed, turn, name))
    literal: Transform | None = None
    prefix = suffix = ""
    if name == "polite":
        prefix, suffix = "Hello, I hope you are well. ", " Thank you very much for your help."
    elif name == "terse":
        return _terse(template, context)
    elif name == "rambling":
        prefix, suffix = rng.choice(FILLER), " Anyway, that is all, I think."
    elif name == "shouting":
        return _shout(template, context)
    elif name == "typos":
        literal = lambda s: _typo(s, rng)  # noqa: E731
    elif name == "change_of_mind" and turn == turns - 1:
        prefix = rng.choice(HESITATION)
    if name == "out_of_order":
        return _reorder(template, context)
    return prefix + template.render_text(context, literal) + suffix


def _pieces(template: Template, context: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """The turn as (text, is the template's own words) pieces."""
    return [
        (p, True) if isinstance(p, str) else (format_value(p.evaluate(context)), False)
        for p in template.parts
    ]


def _shout(template: Template, context: Mapping[str, Any]) -> str:
    """The template's own words in capitals, except URLs and emails written in them (a path
    or a mailbox can be case-sensitive), found in the whole turn so that one completed by
    an inserted value is kept too."""
    pieces = _pieces(template, context)
    text = "".join(p for p, _ in pieces)
    kept = [False] * len(text)
    for m in _ADDRESS.finditer(text):
        kept[m.start() : m.end()] = [True] * (m.end() - m.start())
    out: list[str] = []
    pos = 0
    for piece, own in pieces:
        if own:
            out.extend(c if kept[pos + i] else c.upper() for i, c in enumerate(piece))
        else:
            out.append(piece)
        pos += len(piece)
    return "".join(out)


def _terse(template: Template, context: Mapping[str, Any]) -> str:
    """Without the polite words. A word that ended a sentence leaves its full stop behind
    ("Refund 5 EUR please. I'm Ann" -> "Refund 5 EUR. I'm Ann"), so no two sentences merge;
    a sentence that started with one starts again in capitals ("Please book" -> "Book")."""
    out, value_end = "", -1
    for part in template.parts:
        if not isinstance(part, str):
            out += format_value(part.evaluate(context))
            value_end = len(out)
            continue
        kept, last, starts = "", 0, set[int]()
        for m in _POLITE_WORDS.finditer(part):
            kept += part[last : m.start()]
            last = m.end()
            prior = (out + kept).rstrip()
            # a value's own mark ("Acme Inc.") ends no sentence, nor does a comma
            marked = len(prior) != value_end and prior[-1:] in tuple(".!?")
            if m.group(2) in (".", "!", "?") and prior and not marked:
                if (
                    prior[-1] in ",:;"
                    and len(prior) != value_end
                    and kept.rstrip()[-1:] == prior[-1]
                ):
                    kept = kept.rstrip()[:-1]  # "Who, Hello! Could" -> "Who. Could"
                kept += m.group(2) + m.group(3)
            elif not prior or prior[-1] in _ENDING:
                starts.add(len(kept))  # the sentence now starts where the word was
        kept += part[last:]
        kept = "".join(c.upper() if i in starts else c for i, c in enumerate(kept))
        out += _SPACE_BEFORE_STOP.sub("", kept) if kept != part else kept
    return out


def _typo(text: str, rng: random.Random) -> str:
    """Swap two neighbouring letters in one longer word, as fast typists do."""
    words = list(_WORD.finditer(text))
    if not words:
        return text
    w = rng.choice(words)
    i = rng.randrange(w.start() + 1, w.end() - 2)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def _value_ends(text: str, pos: int, values: list[Span]) -> bool:
    """Whether the sentence before `pos` would end on a value's own character: a value's
    punctuation ("Acme Inc.", a pasted "Hi. Refund") never ends the template's sentence."""
    last = len(text[:pos].rstrip()) - 1
    return any(start <= last < end for start, end in values)


def _after_title(head: str) -> bool:
    """Whether `head` ends in an abbreviation: a known one ("Dr.", "med.", "Dec."), one with
    inner full stops ("e.g.", "a.m.", "U.S.", "Ph.D.") or an initial ("J.")."""
    word = _LAST_WORD.search(head)
    if word is None:
        return False
    token = word.group(1).lower().lstrip("(\"'[")
    return (
        token in ABBREVIATIONS
        or (len(token) == 1 and token.isalpha())
        or _DOTTED.match(token) is not None
    )


def _continues(text: str, pos: int) -> bool:
    """Whether the word at `pos` carries the sentence on: one starting with a lowercase
    letter or a digit ("9 a.m. on Monday", "Dec. 24", "No. 5") never starts a sentence."""
    first = text[pos : pos + 1]
    return first.isdigit() or first.islower()


def sentences(text: str, values: list[Span] | None = None) -> list[Span]:
    """The sentences of `text` as (start, end) spans covering it: cut after an end mark and
    its spaces, never inside a value, on a value's own mark, right after an abbreviation or
    before a word that starts in lowercase or with a digit."""
    values = values or []
    spans: list[Span] = []
    begin = 0
    for m in _SENTENCE_END.finditer(text):
        if m.end() >= len(text) or _value_ends(text, m.end(), values):
            continue
        if _continues(text, m.end()) or _after_title(text[begin : m.end()]):
            continue
        spans.append((begin, m.end()))
        begin = m.end()
    spans.append((begin, len(text)))
    return spans


def _ended(sentence: str) -> str:
    """A sentence that is no longer last keeps a full stop, so two never run together."""
    body = sentence.strip()
    return body if body.endswith(tuple(_ENDING)) else body + "."


def _reorder(template: Template, context: Mapping[str, Any]) -> str:
    """Details in another order: sentences reversed, or else the clauses of one sentence.
    Every sentence and every inserted value ("Mr. Ray", "9.30am") stays whole."""
    pieces = _pieces(template, context)
    text = "".join(p for p, _ in pieces)
    values: list[Span] = []
    own: list[Span] = []
    pos = 0
    for piece, literal in pieces:
        (own if literal else values).append((pos, pos + len(piece)))
        pos += len(piece)
    found = sentences(text, values)
    if len(found) > 1:
        parts = [text[a:b] for a, b in found]
        return " ".join(_ended(p) for p in reversed(parts)).strip()
    if _unsure(text, values):
        return text  # "Hi, I'm Ann. that is all": a clause could cross a sentence's end
    return _reorder_clauses(text, own, values)


def _unsure(text: str, values: list[Span]) -> bool:
    """Whether an end mark was left uncut only for the word after it ("Ann. that is", not
    "Dr. Who"): written carelessly, it may still end a sentence."""
    return any(
        m.end() < len(text)
        and not _value_ends(text, m.end(), values)
        and not _after_title(text[: m.end()])
        for m in _SENTENCE_END.finditer(text)
    )


def _reorder_clauses(text: str, own: list[Span], values: list[Span]) -> str:
    """One sentence's clauses reversed, when that cannot change what it asks: cut only at a
    comma of the template's own words, never in an enumeration ("A, B and C"), between two
    numbers or after a title; the sentence's closing mark stays at the end."""
    cuts: list[Span] = []
    for start, end in own:
        for m in _CLAUSE.finditer(text, start, end):
            before, after = text[: m.start()], text[m.end() : m.end() + 1]
            if before[-1:].isdigit() and after.isdigit():
                return text
            cuts.append((m.start(), m.end()))
    if not cuts or _ENUMERATION.search(text, cuts[0][1]):
        return text
    body = text.rstrip()
    ending = ""
    while body and body[-1] in _ENDING:
        if any(s <= len(body) - 1 < e for s, e in values):
            break  # a value's own last character, not the sentence's
        ending, body = body[-1] + ending, body[:-1]
    chunks, start = [], 0
    for begin, end in cuts:
        chunks.append(body[start:begin])
        start = end
    chunks.append(body[start:])
    chunks = [c.strip() for c in chunks if c.strip()]
    return ", ".join(reversed(chunks)) + ending
