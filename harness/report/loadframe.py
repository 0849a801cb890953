"""A load run's numbers as a table (`load.parquet`): one row per time window or level and
requirement ("*": every check), and one per fault window and phase (before, during, after)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.report.load import ALL, LoadSummary

if TYPE_CHECKING:
    import pandas as pd

LOAD_COLUMNS = [
    "run_id",
    "kind",  # window | level | fault
    "window",  # window number (0 from the start); -1 on level rows; fault rows: the fault's
    "phase",  # fault rows: before | during | after (else null)
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
    "recovery_s",  # fault rows: seconds from the window's end until back (null: not measured)
    "not_judged",  # fault rows: conversations none of whose own checks was judged (no pass;
    # pass_rate is passes over the judged ones)
    "non_2xx",  # fault rows: turns answered with a non-2xx status, accepted ones included
    "accepted",  # fault rows: of those, the ones a window's accept_status allowed
]


def load_frame(s: LoadSummary) -> pd.DataFrame:
    """The numbers as a table (load.parquet): one row per window or level and requirement
    (pandas imported here: only a load run writes it)."""
    import pandas as pd

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
    for fault in s.faults:
        for phase in fault.phases:
            rows.append(
                {
                    "run_id": run_id, "kind": "fault", "window": fault.number, "phase": phase.name,
                    "start_s": phase.start, "end_s": phase.end, "requirement": ALL,
                    "conversations": phase.conversations, "passes": phase.passes,
                    "pass_rate": phase.pass_rate, "requests": len(phase.latencies),
                    "p50_ms": phase.percentile(0.5), "p95_ms": phase.percentile(0.95),
                    "p99_ms": phase.percentile(0.99), "errors": phase.errors,
                    "error_rate": phase.error_rate, "recovery_s": fault.recovery_s,
                    "not_judged": phase.not_judged, "non_2xx": phase.non_2xx,
                    "accepted": sum(phase.accepted.values()),
                }
            )  # fmt: skip
    frame = pd.DataFrame(rows, columns=LOAD_COLUMNS)
    floats = ("ttfb_p50_ms", "ttfb_p95_ms", "recovery_s")  # None: NaN
    counts = ("not_judged", "non_2xx", "accepted")  # null on window and level rows
    return frame.astype(
        dict.fromkeys(floats, "float64") | dict.fromkeys(counts, "Int64") | {"phase": "string"}
    )
