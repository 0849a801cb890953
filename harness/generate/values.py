"""Concrete values from the suite's value generators, reproducibly from a seed.

`harness run` samples every generator with a seeded random; `harness hunt` draws
the same generators through hypothesis (generate/strategies.py). Both read their
hard values from generate/traps.py. In `plain` mode, boundaries, formats, traps
and pools are replaced by plain random values: the baseline the hunt is
measured against.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

from faker import Faker

from harness.generate import traps
from harness.spec import models as m
from harness.spec.relative import DateEdge, DaysAgo, TimeEdge
from harness.spec.template import Template, format_value, render_deep, to_decimal


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (Python's hash() is salted per process)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


@lru_cache(maxsize=64)
def faker_for(locale: str) -> Faker:
    return Faker(locale)


def faker_call(
    provider: str, seed: int, locale: str, args: list[Any], kwargs: dict[str, Any]
) -> Any:
    """One faker value, fully determined by its seed (never by the order of earlier calls)."""
    fake = faker_for(locale)
    fake.seed_instance(seed)
    return getattr(fake, provider)(*args, **kwargs)


def faker_provider_exists(name: str, locale: str = "en_US") -> bool:
    try:
        return not name.startswith("_") and callable(getattr(faker_for(locale), name, None))
    except Exception:
        return False


def faker_providers(locale: str = "en_US") -> list[str]:
    """Provider names (for suggestions); some faker attributes raise when touched."""
    fake = faker_for(locale)
    names = []
    for name in dir(fake):
        if name.startswith("_") or name.startswith("seed"):
            continue
        try:
            if callable(getattr(fake, name, None)):
                names.append(name)
        except Exception:  # faker's proxy raises for deprecated attributes
            continue
    return names


def days_ago(days: int) -> DaysAgo:
    return DaysAgo(days)


def decimal_steps(bounds: tuple[Decimal, Decimal], places: int) -> tuple[int, int, Decimal]:
    """A decimal range as whole steps of its smallest unit, so every value is exact."""
    lo, hi = bounds
    quantum = Decimal(1).scaleb(-places)
    return int(min(lo, hi) / quantum), int(max(lo, hi) / quantum), quantum


class ValueGenerator:
    """Turns ValueSpecs into values; one per case (or seed table), seeded."""

    def __init__(
        self,
        seed: int,
        locales: list[str] | None = None,
        *,
        kinds: Mapping[str, str | None] | None = None,
        plain: bool = False,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.locales = locales or ["en_US"]
        self.kinds = kinds or {}
        self.plain = plain
        self._templates: dict[str, Template] = {}
        self._calls = 0

    def _render(self, value: Any, context: Mapping[str, Any]) -> Any:
        return render_deep(value, context, self._templates)

    def _number(self, value: Any, context: Mapping[str, Any]) -> Decimal:
        return to_decimal(self._render(value, context))

    def value(
        self,
        spec: Any,
        context: Mapping[str, Any],
        *,
        n: int = 0,
        ref: Callable[[str], Any] | None = None,
    ) -> Any:
        """One value. Literals (and templates in them) are returned unchanged."""
        rng = self.rng
        if isinstance(spec, m.FakerGen):
            self._calls += 1
            locale = spec.locale or rng.choice(spec.locales or self.locales)
            args, kwargs = self._render(spec.args, context), self._render(spec.kwargs, context)
            return faker_call(spec.faker, derive_seed(self.seed, self._calls), locale, args, kwargs)
        if isinstance(spec, m.ChoiceGen):
            return self._render(rng.choices(spec.choice, weights=spec.weights)[0], context)
        if isinstance(spec, m.IntegerGen):
            a, b = (int(self._number(v, context)) for v in spec.integer)
            return rng.randint(min(a, b), max(a, b))
        if isinstance(spec, m.DecimalGen):
            bounds = (
                self._number(spec.decimal[0], context),
                self._number(spec.decimal[1], context),
            )
            lo, hi, quantum = decimal_steps(bounds, spec.places)
            return (rng.randint(lo, hi) * quantum).quantize(quantum)
        if isinstance(spec, m.DaysAgoGen):
            raw = spec.days_ago
            if isinstance(raw, list):
                a, b = (int(self._number(v, context)) for v in raw)
                return days_ago(rng.randint(min(a, b), max(a, b)))
            return days_ago(int(self._number(raw, context)))
        if isinstance(spec, m.SequenceGen):
            return spec.sequence.format(n=n)
        if isinstance(spec, m.RefGen):
            if ref is None:
                raise ValueError("ref values exist only in seed data")
            return ref(spec.ref)
        if isinstance(spec, m.BoundaryGen):
            return self._boundary(spec, context)
        if isinstance(spec, m.FormatGen):
            fmt = "point" if self.plain else rng.choice(spec.formats)
            return traps.format_amount(self._render(spec.amount_text, context), fmt, spec.places)
        if isinstance(spec, m.TrapGen):
            text = format_value(self._render(spec.text_trap, context))
            return traps.apply_trap(text, "none" if self.plain else rng.choice(spec.traps))
        if isinstance(spec, m.DateEdgeGen):
            edges = _as_list(spec.date_edge)
            return DateEdge("today" if self.plain else rng.choice(edges))
        if isinstance(spec, m.TimeEdgeGen):
            edge = "noon" if self.plain else rng.choice(_as_list(spec.time_edge))
            return TimeEdge(edge, rng.choice(_as_list(spec.timezones)), spec.days_ago)
        if isinstance(spec, m.DateTextGen):
            day_fmt = "iso" if self.plain else rng.choice(spec.formats)
            return traps.format_date(self._render(spec.date_text, context), day_fmt)
        if isinstance(spec, m.PoolGen):
            if self.plain:
                return self._plain_pool(spec.pool)
            return rng.choice(traps.POOLS[spec.pool])
        return spec

    def _boundary(self, spec: m.BoundaryGen, context: Mapping[str, Any]) -> Decimal:
        value = context["params"][spec.boundary]
        kind = self.kinds.get(spec.boundary)
        if not self.plain:
            return self.rng.choice(traps.boundary_values(spec, value, kind))
        # the baseline: any value of the parameter's unit between zero and twice the parameter
        unit = traps.boundary_step(spec, value, kind)
        top = abs(to_decimal(value)) * 2 or Decimal(100)
        return self.rng.randint(0, int(top / unit)) * unit

    def _plain_pool(self, pool: str) -> str:
        self._calls += 1
        seed = derive_seed(self.seed, self._calls)
        if pool.startswith("names"):
            return str(faker_call("name", seed, "en_US", [], {}))
        return str(faker_call("sentence", seed, "en_US", [], {}))


def _as_list(value: str | list[Any]) -> list[Any]:
    return [value] if isinstance(value, str) else list(value)


def is_generator(spec: Any) -> bool:
    """Generators are models; anything else in a value position is a literal or a template."""
    return isinstance(spec, m.Model)
