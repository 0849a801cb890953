"""Concrete values from the suite's value generators, reproducibly from a seed."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

from faker import Faker

from harness.spec import models as m
from harness.spec.template import Template, render_deep, to_decimal


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (Python's hash() is salted per process)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


@lru_cache(maxsize=64)
def faker_for(locale: str) -> Faker:
    return Faker(locale)


def faker_provider_exists(name: str, locale: str = "en_US") -> bool:
    return callable(getattr(faker_for(locale), name, None))


class ValueGenerator:
    """Turns ValueSpecs into values; one per case (or table), seeded."""

    def __init__(self, seed: int, locales: list[str] | None = None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.locales = locales or ["en_US"]
        self._templates: dict[str, Template] = {}
        self._calls = 0

    def _faker(self, locale: str | None) -> Faker:
        loc = locale or self.rng.choice(self.locales)
        fake = faker_for(loc)
        # faker keeps one random per instance; reseed per call so values never depend on order
        # of use across cases.
        self._calls += 1
        fake.seed_instance(derive_seed(self.seed, self._calls))
        return fake

    def _render(self, value: Any, context: Mapping[str, Any]) -> Any:
        return render_deep(value, context, self._templates)

    def value(
        self,
        spec: Any,
        context: Mapping[str, Any],
        *,
        n: int = 0,
        ref: Callable[[str], Any] | None = None,
    ) -> Any:
        """One value. Literals (and templates in them) are returned unchanged."""
        if isinstance(spec, m.FakerGen):
            fake = self._faker(spec.locale)
            provider = getattr(fake, spec.faker)
            args = self._render(spec.args, context)
            kwargs = self._render(spec.kwargs, context)
            return provider(*args, **kwargs)
        if isinstance(spec, m.ChoiceGen):
            picked = self.rng.choices(spec.choice, weights=spec.weights)[0]
            return self._render(picked, context)
        if isinstance(spec, m.IntegerGen):
            a, b = (int(to_decimal(self._render(v, context))) for v in spec.integer)
            return self.rng.randint(min(a, b), max(a, b))
        if isinstance(spec, m.DecimalGen):
            lo, hi = (to_decimal(self._render(v, context)) for v in spec.decimal)
            quantum = Decimal(1).scaleb(-spec.places)
            steps = self.rng.randint(int(min(lo, hi) / quantum), int(max(lo, hi) / quantum))
            return (steps * quantum).quantize(quantum)
        if isinstance(spec, m.DaysAgoGen):
            raw = spec.days_ago
            if isinstance(raw, list):
                a, b = (int(to_decimal(self._render(v, context))) for v in raw)
                days = self.rng.randint(min(a, b), max(a, b))
            else:
                days = int(to_decimal(self._render(raw, context)))
            return dt.date.today() - dt.timedelta(days=days)
        if isinstance(spec, m.SequenceGen):
            return spec.sequence.format(n=n)
        if isinstance(spec, m.RefGen):
            if ref is None:
                raise ValueError("ref values exist only in seed data")
            return ref(spec.ref)
        return spec


def is_generator(spec: Any) -> bool:
    return isinstance(
        spec,
        m.FakerGen
        | m.ChoiceGen
        | m.IntegerGen
        | m.DecimalGen
        | m.DaysAgoGen
        | m.SequenceGen
        | m.RefGen,
    )
