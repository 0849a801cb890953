"""Personas: the same request written by different people.

A persona rewrites only the literal words of a turn; whatever a template puts in
(names, amounts, order ids) reaches the agent exactly as generated, so the
request keeps its meaning and the spec's expected outcome still holds. Two
personas work on whole turns: `out_of_order` gives the details of a turn in
another order, `change_of_mind` starts the last turn with a retracted thought.
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
    r"i would like|could i have|can i get|i want)\b[,!.]?\s*",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z]{6,}")
_SENTENCE = re.compile(r"[.!?]\s+")
_CLAUSE = re.compile(r",\s+")

Transform = Callable[[str], str]


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
        literal = lambda s: _POLITE_WORDS.sub("", s)  # noqa: E731
    elif name == "rambling":
        prefix, suffix = rng.choice(FILLER), " Anyway, that is all, I think."
    elif name == "shouting":
        literal = str.upper
    elif name == "typos":
        literal = lambda s: _typo(s, rng)  # noqa: E731
    elif name == "change_of_mind" and turn == turns - 1:
        prefix = rng.choice(HESITATION)
    if name == "out_of_order":
        return _reorder(template, context)
    return prefix + template.render_text(context, literal) + suffix


def _typo(text: str, rng: random.Random) -> str:
    """Swap two neighbouring letters in one longer word, as fast typists do."""
    words = list(_WORD.finditer(text))
    if not words:
        return text
    w = rng.choice(words)
    i = rng.randrange(w.start() + 1, w.end() - 2)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def _reorder(template: Template, context: Mapping[str, Any]) -> str:
    """Details in another order: sentences reversed, or else the clauses of one sentence.
    Only the template's own words are split; an inserted value ("Mr. Ray") stays whole."""
    pieces: list[tuple[str, bool]] = []  # (text, is the template's own words)
    for part in template.parts:
        if isinstance(part, str):
            pieces.append((part, True))
        else:
            pieces.append((format_value(part.evaluate(context)), False))
    text = "".join(p for p, _ in pieces)
    for boundary in (_SENTENCE, _CLAUSE):
        cuts, pos = [], 0
        for piece, own in pieces:
            if own:
                cuts += [(pos + m.start(), pos + m.end()) for m in boundary.finditer(piece)]
            pos += len(piece)
        if cuts:
            chunks, start = [], 0
            for begin, end in cuts:
                chunks.append(text[start:begin])
                start = end
            chunks.append(text[start:])
            chunks = [c.strip().rstrip(".!?,") for c in chunks if c.strip()]
            ending = text.rstrip()[-1] if text.rstrip().endswith((".", "!", "?")) else ""
            return (". " if boundary is _SENTENCE else ", ").join(reversed(chunks)) + ending
    return text
