"""A requirement's severity: a word of the suite format (spec.yaml, the sign-off policy) and
the one order every report, hunt and gate sorts by. `harness.core` re-exports it."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """How much a broken requirement matters; the one order every report, hunt and gate
    sorts by."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @staticmethod
    def rank_of(value: str | None) -> int:
        """0 for critical ... 2 for minor; anything unknown sorts last."""
        try:
            return _SEVERITY_RANK[Severity(value or "")]
        except ValueError:
            return len(_SEVERITY_RANK)


_SEVERITY_RANK = {Severity.CRITICAL: 0, Severity.MAJOR: 1, Severity.MINOR: 2}
