"""A load run's numbers as a table (`load.parquet`): one row per time window or level and
requirement ("*": every check)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.report.load import ALL, LoadSummary

LOAD_COLUMNS = [
    "run_id",
    "kind",  # window | level
    "window",  # window number (0 from the start); -1 on level rows
    "start_s",
    "end_s",
    "users",  # window: most users running in it; level: the users the profile drove
    "requirement",  # "*": every check; else one requirement's checks
    "conversations",
    "passes",
    "pass_rate",
    "requests",
    "rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "ttfb_p50_ms",  # time to first byte, over the turns that recorded one (else null)
    "ttfb_p95_ms",
    "errors",
    "error_rate",
    "invariant_violations",  # failed invariant checks of its conversations (a pair's once)
    "sampled_violations",  # new violating rows in whole-database samples taken in it
]


def load_frame(s: LoadSummary) -> pd.DataFrame:
    """The numbers as a table (load.parquet): one row per window or level and requirement."""
    rows: list[dict[str, Any]] = []
    run_id = s.manifest.run_id
    for kind, buckets in (("window", s.windows), ("level", s.levels)):
        for b in buckets:
            common = {
                "run_id": run_id,
                "kind": kind,
                "window": b.key if kind == "window" else -1,
                "start_s": b.start if kind == "window" else None,
                "end_s": b.end if kind == "window" else None,
                "users": b.users,
                "requests": b.requests,
                "rps": b.rps,
                "p50_ms": b.percentile(0.5),
                "p95_ms": b.percentile(0.95),
                "p99_ms": b.percentile(0.99),
                "ttfb_p50_ms": b.first_byte(0.5),
                "ttfb_p95_ms": b.first_byte(0.95),
                "errors": b.errors,
                "error_rate": b.error_rate,
                "invariant_violations": b.violations,
                "sampled_violations": b.sampled,
            }
            rows.append(
                {
                    **common,
                    "requirement": ALL,
                    "conversations": b.conversations,
                    "passes": b.passes,
                    "pass_rate": b.pass_rate,
                }
            )
            for rid in s.requirements:
                n, p = b.by_requirement.get(rid, (0, 0))
                if n:
                    rows.append(
                        {
                            **common,
                            "requirement": rid,
                            "conversations": n,
                            "passes": p,
                            "pass_rate": p / n,
                        }
                    )
    frame = pd.DataFrame(rows, columns=LOAD_COLUMNS)
    return frame.astype({"ttfb_p50_ms": "float64", "ttfb_p95_ms": "float64"})  # None: NaN
