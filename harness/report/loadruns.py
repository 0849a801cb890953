"""Pass rates per load level, read from a stored load run, for the sign-off's load gate.

What a load run must store for this (the contract, kept small so the load
runner can write it however it runs): a run folder whose manifest has
`kind: load`, and either
- `levels` in the manifest: `[{users: N, trials: T, passes: P}, ...]`, or
- in `cases.jsonl`, a `load: {users: N}` entry on every trial record, beside the
  usual `checks`; a trial passes when all its checks pass (an error is no pass).
The peak is the level with the most users, low load the one with the fewest.
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

    @property
    def rate(self) -> float:
        return self.passes / self.trials if self.trials else 0.0


@dataclass
class LoadLevels:
    levels: list[LoadLevel]  # by users, fewest first
    failing_requirements: list[str] = field(default_factory=list)

    @property
    def low(self) -> LoadLevel:
        return self.levels[0]

    @property
    def peak(self) -> LoadLevel:
        return self.levels[-1]


def _from_manifest(levels: Any) -> list[LoadLevel]:
    out = []
    for item in levels if isinstance(levels, list) else []:
        try:
            out.append(LoadLevel(int(item["users"]), int(item["trials"]), int(item["passes"])))
        except (KeyError, TypeError, ValueError):
            return []  # half a table is no measurement
    return out


def load_levels(run: StoredRun) -> LoadLevels | None:
    """The pass rate at each load level of a load run, or None when it stores none; with
    the requirements that failed at its peak, when its records say which level they ran at."""
    per_users: dict[int, list[int]] = {}
    failing: dict[int, list[str]] = {}
    for record in read_records(run.dir):
        users = (record.get("load") or {}).get("users")
        if not isinstance(users, int):
            continue
        checks = record.get("checks", [])
        ok = all(c.get("verdict") == "pass" for c in checks)
        tally = per_users.setdefault(users, [0, 0])
        tally[0] += 1
        tally[1] += ok
        names = failing.setdefault(users, [])
        for check in checks:
            if check.get("verdict") != "pass":
                names.extend(r for r in check.get("requirements", []) if r not in names)
    levels = _from_manifest(run.manifest.get("levels")) or [
        LoadLevel(u, t, p) for u, (t, p) in per_users.items()
    ]
    levels = sorted((lv for lv in levels if lv.trials > 0), key=lambda lv: lv.users)
    if not levels:
        return None
    return LoadLevels(levels, failing.get(levels[-1].users, []))
