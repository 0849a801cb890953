"""A drift run's numbers for other readers: how far each requirement holds (for the sign-off's
drift gate and the traceability matrix), and the table `drift.parquet`: one row per
requirement, length and position (the curve's lengths at position start, then the other
positions at the position length), with trials, passes, errors, the pass rate and its 95%
interval, pass^k, the one-sided Fisher p against the baseline and its Holm-corrected
value, and tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.report.drift import DriftSummary

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Held:
    """For the sign-off: how far a requirement holds in a drift run."""

    requirement: str
    holds_to: int | None  # None: fails at the shortest length
    first_degraded: int | None
    lengths: tuple[int, ...]  # every length run
    verdict: str = ""  # what became of it, in words
    steady_to: int | None = None  # how far it is no worse than at the shortest length


def held(summary: DriftSummary) -> dict[str, Held]:
    """Per requirement, the longest length up to which it holds (the baseline passing and no
    length up to it degraded) and its first degraded length."""
    return {
        c.requirement: Held(
            c.requirement,
            c.holds_to,
            c.first_degraded,
            tuple(p.length for p in c.points if p.trials),
            c.verdict,
            c.steady_to,
        )
        for c in summary.curves
    }


DRIFT_COLUMNS = [
    "run_id", "suite", "requirement", "severity", "length", "position", "cases", "n", "passes",
    "errors", "rate", "lo", "hi", "k", "pass_k", "pass_k_lo", "pass_k_hi", "p", "p_holm",
    "degraded", "baseline", "first_degraded", "holds_to", "undetermined", "position_p", "tokens",
]  # fmt: skip


def drift_frame(summary: DriftSummary) -> pd.DataFrame:
    """The numbers as a table (drift.parquet): one row per requirement, length and position;
    the positions' rows are those at the position length (p and p_holm on the curve only;
    position_p, Fisher's two-sided best vs worst position, on the positions' rows)."""
    import pandas as pd

    m = summary.manifest
    rows = []
    for c in summary.curves:
        base = c.baseline
        seen = set()
        placed = {(p.length, p.position) for p in c.positions}
        for p in [*c.points, *c.positions]:
            if (p.length, p.position) in seen:
                continue
            seen.add((p.length, p.position))
            where = (p.length, p.position) in placed
            rows.append(
                {
                    "run_id": m.run_id, "suite": m.suite, "requirement": c.requirement,
                    "severity": c.severity, "length": p.length, "position": p.position,
                    "cases": p.cases, "n": p.trials, "passes": p.passes, "errors": p.errors,
                    "rate": p.rate.value, "lo": p.rate.low, "hi": p.rate.high,
                    "k": summary.k, "pass_k": p.pass_k.value, "pass_k_lo": p.pass_k.low,
                    "pass_k_hi": p.pass_k.high, "p": p.p, "p_holm": p.p_holm,
                    "degraded": p.degraded, "baseline": base is not None and p is base,
                    "first_degraded": c.first_degraded, "holds_to": c.holds_to,
                    "undetermined": c.undetermined,
                    "position_p": c.position_p if where else None, "tokens": p.tokens,
                }
            )  # fmt: skip
    frame = pd.DataFrame(rows, columns=DRIFT_COLUMNS)
    floats = ["rate", "lo", "hi", "pass_k", "pass_k_lo", "pass_k_hi", "p", "p_holm", "tokens"]
    floats.append("position_p")
    ints = {"first_degraded": "Int64", "holds_to": "Int64", "length": "int64"}
    return frame.astype({**ints, **dict.fromkeys(floats, "float64")})
