"""A faulted run's numbers for other readers: `faults.parquet`, one row per requirement (scope
"requirement": clean and faulted trials, passes, errors, rates with 95% intervals, R_fault
with its interval, the one-sided Fisher p and its Holm-corrected value, degraded,
underpowered), one per fault (scope "fault": its windows, trials, connections drawn and hit,
the observed share, recovery median and max), and one per fault and requirement when the
profile has several faults (scope "fault-requirement": over the trials the fault hit)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.report.faults import FaultNumbers, FaultsSummary
from harness.report.faultstats import Comparison
from harness.runlog.frame import save_table

if TYPE_CHECKING:
    import pandas as pd

FAULT_COLUMNS = [
    "run_id", "suite", "profile", "seed", "scope", "requirement", "severity", "link", "toxic",
    "source", "stream", "toxicity", "clean_trials", "clean_passes", "clean_errors",
    "faulted_trials", "faulted_passes", "faulted_errors", "clean_rate", "clean_lo", "clean_hi",
    "faulted_rate", "faulted_lo", "faulted_hi", "r_fault", "r_fault_lo", "r_fault_hi", "p",
    "p_holm", "degraded", "underpowered", "fails_clean", "windows", "trials", "hit_trials",
    "connections", "affected", "share", "recovery_median_ms", "recovery_max_ms", "recoveries",
]  # fmt: skip


def _numbers(n: Comparison) -> dict[str, Any]:
    return {
        "clean_trials": n.clean_trials, "clean_passes": n.clean_passes,
        "faulted_trials": n.faulted_trials, "faulted_passes": n.faulted_passes,
        "clean_rate": n.clean.value, "clean_lo": n.clean.low, "clean_hi": n.clean.high,
        "faulted_rate": n.faulted.value, "faulted_lo": n.faulted.low,
        "faulted_hi": n.faulted.high, "r_fault": n.r_fault.value, "r_fault_lo": n.r_fault.low,
        "r_fault_hi": n.r_fault.high, "p": n.p, "p_holm": n.p_holm, "degraded": n.degraded,
        "underpowered": n.underpowered,
    }  # fmt: skip


def _fault(f: FaultNumbers) -> dict[str, Any]:
    return {"link": f.link, "toxic": f.toxic, "source": f.source, "stream": f.stream,
            "toxicity": f.toxicity}  # fmt: skip


FLOATS = ["toxicity", "clean_rate", "clean_lo", "clean_hi", "faulted_rate", "faulted_lo",
          "faulted_hi", "r_fault", "r_fault_lo", "r_fault_hi", "p", "p_holm", "share",
          "recovery_median_ms", "recovery_max_ms"]  # fmt: skip
INTS = ["clean_trials", "clean_passes", "clean_errors", "faulted_trials", "faulted_passes",
        "faulted_errors", "windows", "trials", "hit_trials", "connections", "affected",
        "recoveries"]  # fmt: skip
BOOLS = ["degraded", "underpowered", "fails_clean"]
#: each column's Arrow type in faults.parquet; the numbers' are fixed (as pandas' astype did)
TYPES = {
    name: "double" if name in FLOATS else "int64" if name in INTS or name == "seed"
    else "bool" if name in BOOLS else "large_string"
    for name in FAULT_COLUMNS
}  # fmt: skip


def fault_frame(s: FaultsSummary) -> pd.DataFrame:
    """The numbers as a pandas table (pandas imported here)."""
    import pandas as pd

    frame = pd.DataFrame(fault_rows(s), columns=FAULT_COLUMNS)
    return frame.astype(
        {
            **dict.fromkeys(FLOATS, "float64"),
            **dict.fromkeys(INTS, "Int64"),
            **dict.fromkeys(BOOLS, "boolean"),
            "seed": "int64",
        }
    )


def save_faults(s: FaultsSummary, path: Path) -> Path:
    """faults.parquet, without pandas."""
    return save_table(fault_rows(s), TYPES, path, fixed=[*FLOATS, *INTS, *BOOLS, "seed"])


def fault_rows(s: FaultsSummary) -> list[dict[str, Any]]:
    """The numbers as rows (faults.parquet)."""
    m = s.manifest
    common = {"run_id": m.run_id, "suite": m.suite, "profile": s.profile, "seed": s.seed}
    rows: list[dict[str, Any]] = []
    for r in s.requirements:
        rows.append(
            {
                **common, "scope": "requirement", "requirement": r.requirement,
                "severity": r.severity, **_numbers(r.numbers), "clean_errors": r.clean_errors,
                "faulted_errors": r.faulted_errors, "fails_clean": r.fails_clean,
            }
        )  # fmt: skip
    for f in s.faults:
        rows.append(
            {
                **common, "scope": "fault", **_fault(f), "windows": f.windows,
                "trials": f.trials, "hit_trials": f.hit_trials, "connections": f.connections,
                "affected": f.affected, "share": f.share,
                "recovery_median_ms": f.recovery_median, "recovery_max_ms": f.recovery_max,
                "recoveries": len(f.recovered_ms),
            }
        )  # fmt: skip
        for rid, n in f.by_requirement.items():
            rows.append(
                {**common, "scope": "fault-requirement", "requirement": rid, **_fault(f),
                 **_numbers(n)}
            )  # fmt: skip
    return rows
