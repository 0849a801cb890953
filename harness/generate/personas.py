"""Personas: the same request written by different people.

A persona rewrites only the literal words of a turn; whatever a template puts in
(names, amounts, order ids) reaches the agent exactly as generated, so the
request keeps its meaning and the spec's expected outcome still holds.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from harness.generate.values import derive_seed

FILLER = (
    "Sorry to bother you, it has been a long week and I only now found a moment to write. ",
    "I hope you are having a good day, the weather here is awful. ",
    "My neighbour told me you were helpful last time, so here I am. ",
)
_POLITE_WORDS = re.compile(
    r"\b(please|hi|hello|hey|thanks|thank you|kindly|could you|would you|i'd like|"
    r"i would like|could i have|can i get|i want)\b[,!.]?\s*",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z]{6,}")

Transform = Callable[[str], str]


def persona(name: str, seed: int, turn: int) -> tuple[Transform, str, str]:
    """(transform for the literal parts, prefix, suffix) of one turn."""
    if name == "polite":
        return (lambda s: s), "Hello, I hope you are well. ", " Thank you very much for your help."
    if name == "terse":
        return (lambda s: _POLITE_WORDS.sub("", s)), "", ""
    if name == "rambling":
        rng = random.Random(derive_seed(seed, turn, "ramble"))
        return (lambda s: s), rng.choice(FILLER), " Anyway, that is all, I think."
    if name == "shouting":
        return str.upper, "", ""
    if name == "typos":
        rng = random.Random(derive_seed(seed, turn, "typos"))
        return (lambda s: _typo(s, rng)), "", ""
    return (lambda s: s), "", ""


def _typo(text: str, rng: random.Random) -> str:
    """Swap two neighbouring letters in one longer word, as fast typists do."""
    words = list(_WORD.finditer(text))
    if not words:
        return text
    w = rng.choice(words)
    i = rng.randrange(w.start() + 1, w.end() - 2)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
