"""Faker as the suite format names it: one instance per locale, and which provider names exist.

A suite's `faker: NAME` is checked when the suite loads (spec/references.py), like a
timezone's name; the generators (generate/values.py) draw from the same instances.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faker import Faker


@lru_cache(maxsize=64)
def faker_for(locale: str) -> Faker:
    from faker import Faker  # loaded by the suites that name or generate faker values

    return Faker(locale)


def provider_exists(name: str, locale: str = "en_US") -> bool:
    try:
        return not name.startswith("_") and callable(getattr(faker_for(locale), name, None))
    except Exception:
        return False


def providers(locale: str = "en_US") -> list[str]:
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
