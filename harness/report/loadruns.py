"""Pass rates and invariant violations per load level, read from a stored load run, for
the sign-off's load and invariants gates.

What a load run must store for this (the contract `harness load` writes): a run
folder whose manifest has `kind: load`, and either
- `levels` in the manifest: `[{users: N, trials: T, passes: P, invariant_violations: V}]`,
- or, in `cases.jsonl`, a `load: {users: N}` entry on every trial record beside
  the usual `checks`; a trial passes when all its checks pass (an error is no pass);
  a record with `load.agent_exited` failed because the agent process died and is in
  no level.
The records, when present, also name the requirements that failed and the
invariants violated. The peak is the level with the most users, low load the one
with the fewest above 0 (0 users is a profile ramping down); a level with no judged
trial is no measurement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.report.runs import StoredRun
from harness.run.store import read_records


@dataclass(frozen=True)
class LoadLevel:
    users: int
    trials: int
    passes: int
    violations: int = 0  # invariant violations in the conversations judged at this level

    @property
    def rate(self) -> float:
        return self.passes / self.trials if self.trials else 0.0


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


def _from_manifest(levels: Any) -> list[LoadLevel]:
    out = []
    for item in levels if isinstance(levels, list) else []:
        try:
            out.append(
                LoadLevel(
                    int(item["users"]),
                    int(item["trials"]),
                    int(item["passes"]),
                    int(item.get("invariant_violations") or 0),
                )
            )
        except (KeyError, TypeError, ValueError):
            return []  # half a table is no measurement
    return out


def _add(names: list[str], new: Any) -> None:
    names.extend(n for n in new if n not in names)


def load_levels(run: StoredRun) -> LoadLevels | None:
    """The pass rate and violations at each load level of a load run, or None when it
    stores none; with what failed, when its records say which level they ran at."""
    per_users: dict[int, list[int]] = {}  # users -> [trials, passes, violations]
    failing: dict[int, list[str]] = {}
    violated: list[str] = []
    for record in read_records(run.dir):
        info = record.get("load") or {}
        users = info.get("users")
        if not isinstance(users, int) or "agent_exited" in info:
            continue  # no level, or failed by the agent process's death (no measure of load)
        checks = record.get("checks", [])
        bad = [c for c in checks if c.get("verdict") != "pass"]
        tally = per_users.setdefault(users, [0, 0, 0])
        tally[0] += 1
        tally[1] += not bad
        for check in bad:
            _add(failing.setdefault(users, []), check.get("requirements", []))
            if check.get("category") == "invariant" and check.get("verdict") == "fail":
                tally[2] += 1
                reqs = ",".join(check.get("requirements", []))
                _add(violated, [f"{check.get('check_id')} ({reqs})"])
    levels = _from_manifest(run.manifest.get("levels")) or [
        LoadLevel(u, t, p, v) for u, (t, p, v) in per_users.items()
    ]
    # 0 users is a profile ramping down, no level: low load is the fewest users above 0
    levels = sorted(
        (lv for lv in levels if lv.trials > 0 and lv.users > 0), key=lambda lv: lv.users
    )
    if not levels:
        return None
    return LoadLevels(levels, failing.get(levels[-1].users, []), violated)
