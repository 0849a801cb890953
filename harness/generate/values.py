"""Concrete values from the suite's value generators, reproducibly from a seed.

`harness run` draws every generator's space (generate/spaces.py) with a seeded
random; `harness hunt` draws the same spaces through hypothesis
(generate/strategies.py). In `plain` mode the hard parts (boundaries, formats,
traps, pools, date and time edges) give plain values: the baseline the hunt is
measured against. Faker values are seeded per call, from the seed and a counter.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping
from typing import Any

from harness.generate import spaces
from harness.generate.spaces import is_generator as is_generator
from harness.spec.fakers import faker_for
from harness.spec.template import Template


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (Python's hash() is salted per process)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def faker_call(
    provider: str, seed: int, locale: str, args: list[Any], kwargs: dict[str, Any]
) -> Any:
    """One faker value, fully determined by its seed (never by the order of earlier calls)."""
    fake = faker_for(locale)
    fake.seed_instance(seed)
    return getattr(fake, provider)(*args, **kwargs)


class ValueGenerator:
    """Draws values of ValueSpecs with a seeded random; one per case (or seed table)."""

    def __init__(
        self,
        seed: int,
        locales: list[str] | None = None,
        *,
        kinds: Mapping[str, str | None] | None = None,
        plain: bool = False,
    ) -> None:
        self.seed = seed
        self._rng: random.Random | None = None
        self.locales = locales or ["en_US"]
        self.kinds = kinds or {}
        self.plain = plain
        self._templates: dict[str, Template] = {}
        self._calls = 0

    @property
    def rng(self) -> random.Random:
        """The case's random, seeded on first use: seeding costs more than the rest of a case
        without generated values or personas (a load prepares thousands a second)."""
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng

    def env(
        self, context: Mapping[str, Any], *, n: int = 0, ref: Callable[[str], Any] | None = None
    ) -> spaces.Env:
        """What the spaces of this generator's values depend on, given the values so far."""
        return spaces.Env(
            context, self.kinds, self.locales, self.fake, self._templates, self.plain, n, ref
        )

    def value(
        self,
        spec: Any,
        context: Mapping[str, Any],
        *,
        n: int = 0,
        ref: Callable[[str], Any] | None = None,
    ) -> Any:
        """One value. Literals (and templates in them) are returned unchanged."""
        if not is_generator(spec):
            return spec
        return self.draw(spaces.space(spec, self.env(context, n=n, ref=ref)))

    def draw(self, space: spaces.Space) -> Any:
        """A seeded value of a space (the hunt's filler draws through this too)."""
        return spaces.draw(space, self.rng)

    def fake(self, provider: str, locale: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """A faker value seeded by its own number, so faker never shifts the seeded random."""
        self._calls += 1
        return faker_call(provider, derive_seed(self.seed, self._calls), locale, args, kwargs)
