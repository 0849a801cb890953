"""Pass rates and invariant violations per load level, read from a stored load run, for
the sign-off's load and invariants gates.

What a load run must store for this (the run log's contract, runlog/models.py): a run
folder whose manifest has `kind: load`, and either
- `levels` in the manifest: `[{users: N, trials: T, passes: P, invariant_violations: V}]`,
- or, in `cases.jsonl`, trial records with `load: {users: N}`; which level a record
  belongs to and whether it passed follow the one rule of runlog/levels.py.
The records, when present, also name the requirements that failed, each requirement's
conversations and passes per level (a conversation passes for a requirement when every
check of that requirement passed in it), and the invariants violated. The peak is the
level with the most users, low load the one with the fewest above 0 (0 users is a profile
ramping down); a level with no judged trial is no measurement.

Which load runs a sign-off reads (`newest_loads`, one rule for its load and invariants
gates): the newest of each load profile among the group's and `--with`'s that ran to its
end; an older run of the same profile is superseded by it (a failing load run is superseded
by running that profile again in the group) and read by no gate; a newer run cut short
supersedes nothing and is read as not measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.empty import empty_dict, empty_list
from harness.runlog.levels import level_of, levels_of
from harness.runlog.models import LoadLevel, LoadManifest, SweepRecord, TrialRecord
from harness.runlog.read import RunFolder, run_status

#: the statuses of a load run that ran to its end (its agent's death ends it too: a failure)
ENDED = ("finished", "failed")


@dataclass
class LoadLevels:
    levels: list[LoadLevel]  # by users, fewest first
    failing_requirements: list[str] = field(default_factory=empty_list)  # at the peak
    violated: list[str] = field(default_factory=empty_list)  # "invariant (requirements)", any level
    #: users -> requirement -> [conversations that judged it, those it passed in]
    by_requirement: dict[int, dict[str, list[int]]] = field(default_factory=empty_dict)
    #: rows no judged conversation owned: the most the database's samples held during the
    #: load, and "invariant (requirements)" the samples or the run-wide sweep after it saw
    sampled_rows: int = 0
    outside: dict[str, list[str]] = field(default_factory=empty_dict)  # invariant -> requirements

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
    every = list(run.records())
    records = [r for r in every if isinstance(r, TrialRecord)]
    failing: dict[int, list[str]] = {}
    violated: list[str] = []
    by_requirement: dict[int, dict[str, list[int]]] = {}
    for record in records:
        users = level_of(record.load)
        if users is None:
            continue  # no level, or failed by the agent process's death (no measure of load)
        marks: dict[str, bool] = {}
        for check in record.checks:
            for rid in check.requirements:
                marks[rid] = marks.get(rid, True) and check.verdict.value == "pass"
        for rid, ok in marks.items():
            tally = by_requirement.setdefault(users, {}).setdefault(rid, [0, 0])
            tally[0] += 1
            tally[1] += ok
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
    out = LoadLevels(levels, failing.get(levels[-1].users, []), violated, by_requirement)
    _outside(out, run, [r for r in every if isinstance(r, SweepRecord)])
    return out


def _outside(levels: LoadLevels, run: RunFolder, sweeps: list[SweepRecord]) -> None:
    """What the database held that no judged conversation owned: the samples taken during
    the load (seed rows, conversations cut short, an unscoped invariant) and the sweep."""
    manifest = run.manifest
    samples = manifest.load.samples if isinstance(manifest, LoadManifest) else []
    levels.sampled_rows = max((sum(s.violations.values()) for s in samples), default=0)
    reqs = {c.check_id: c.requirements for c in manifest.checks or [] if c.category == "invariant"}
    for inv in sorted({inv for s in samples for inv, n in s.violations.items() if n}):
        levels.outside[inv] = list(reqs.get(inv, []))
    for sweep in sweeps:
        for c in sweep.checks:
            if c.verdict.value == "fail":
                levels.outside.setdefault(c.check_id, list(c.requirements))


def newest_loads(related: Sequence[RunFolder]) -> tuple[list[RunFolder], dict[str, str]]:
    """The load runs a sign-off reads, oldest first: the newest of each load profile (by
    start) that ran to its end, and any newer one that did not (interrupted, killed: read as
    not measured, superseding nothing, so a cut-short rerun never hides a failed run); and
    each older one, superseded, with the run that supersedes it."""
    loads = sorted((r for r in related if r.kind == "load"), key=lambda r: (r.started_at, r.run_id))
    ended = [r for r in loads if run_status(r.manifest) in ENDED]
    newest = {profile(r): r for r in ended}  # the last of each profile that ran to its end
    superseded: dict[str, str] = {}
    for r in loads:
        last = newest.get(profile(r))
        if last is not None and (r.started_at, r.run_id) < (last.started_at, last.run_id):
            superseded[r.run_id] = last.run_id
    return [r for r in loads if r.run_id not in superseded], superseded


def profile(run: RunFolder) -> str:
    """A load run's profile (its own id when the manifest names none: it supersedes nothing)."""
    m = run.manifest
    return (m.load.profile if isinstance(m, LoadManifest) else "") or f"run {run.run_id}"
