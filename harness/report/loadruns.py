"""Pass rates and invariant violations per load level, read from a stored load run, for
the sign-off's load and invariants gates.

What a load run must store for this (the run log's contract, runlog/models.py): a run
folder whose manifest has `kind: load`, and either
- `levels` in the manifest: `[{users: N, trials: T, passes: P, invariant_violations: V}]`,
- or, in `cases.jsonl`, trial records with `load: {users: N}`; which level a record
  belongs to and whether it passed follow the one rule of runlog/levels.py.
The records, when present, also name the requirements that failed and the
invariants violated. The peak is the level with the most users, low load the one
with the fewest above 0 (0 users is a profile ramping down); a level with no judged
trial is no measurement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.runlog.levels import level_of, levels_of
from harness.runlog.models import LoadLevel, LoadManifest, TrialRecord
from harness.runlog.read import RunFolder


@dataclass
class LoadLevels:
    levels: list[LoadLevel]  # by users, fewest first
    failing_requirements: list[str] = field(default_factory=list)  # at the peak
    violated: list[str] = field(default_factory=list)  # "invariant (requirements)", any level

    @property
    def low(self) -> LoadLevel:
        return self.levels[0]

    @property
    def peak(self) -> LoadLevel:
        return self.levels[-1]

    @property
    def violations(self) -> int:
        return sum(lv.violations for lv in self.levels)


def _add(names: list[str], new: list[str] | tuple[str, ...]) -> None:
    names.extend(n for n in new if n not in names)


def load_levels(run: RunFolder) -> LoadLevels | None:
    """The pass rate and violations at each load level of a load run, or None when it
    stores none; with what failed, when its records say which level they ran at."""
    records = [r for r in run.records() if isinstance(r, TrialRecord)]
    failing: dict[int, list[str]] = {}
    violated: list[str] = []
    for record in records:
        users = level_of(record.load)
        if users is None:
            continue  # no level, or failed by the agent process's death (no measure of load)
        for check in record.checks:
            if check.verdict.value == "pass":
                continue
            _add(failing.setdefault(users, []), check.requirements)
            if check.category == "invariant" and check.verdict.value == "fail":
                _add(violated, [f"{check.check_id} ({','.join(check.requirements)})"])
    stored = run.manifest.levels if isinstance(run.manifest, LoadManifest) else []
    levels = list(stored) or levels_of(records)
    # 0 users is a profile ramping down, no level: low load is the fewest users above 0
    levels = sorted(
        (lv for lv in levels if lv.trials > 0 and lv.users > 0), key=lambda lv: lv.users
    )
    if not levels:
        return None
    return LoadLevels(levels, failing.get(levels[-1].users, []), violated)
