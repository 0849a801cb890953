"""Faulted run folders written by the run log's own writer from hand-built trials, so that the
fault report's numbers are tested through the real reader.

Per requirement, a pair of lists (clean, faulted): one string per case, one mark per trial
(P pass, F fail, E error). Case i is played clean as `refund#i` and faulted as
`refund#i~<profile>`; every faulted trial records the profile's fault windows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.core import Case, CaseResult, CheckResult, Observation, TurnRecord, Verdict
from harness.core.events import Status
from harness.core.types import FaultWindow
from harness.runlog.models import RequirementInfo, RunManifest
from harness.runlog.store import RunLog

VERDICT = {"P": Verdict.PASS, "F": Verdict.FAIL, "E": Verdict.ERROR}
Phases = tuple[Sequence[str], Sequence[str]]


def window(
    link: str = "db",
    toxic: str = "reset_peer",
    *,
    profile: str = "reset",
    connections: int = 2,
    affected: int = 2,
    toxicity: float = 1.0,
    recovered_ms: float | None = None,
) -> FaultWindow:
    return FaultWindow(
        link=link,
        toxic=toxic,
        name=f"{link}-{toxic}",
        toxicity=toxicity,
        source=f"profile:{profile}",
        started_ns=1,
        ended_ns=2,
        first_turn=1,
        last_turn=2,
        connections=connections,
        affected=affected,
        recovered_ms=recovered_ms,
    )


def fault_run(
    root: Path,
    tables: Mapping[str, Phases],
    *,
    profile: str = "reset",
    windows: Sequence[FaultWindow] | None = None,
    per_trial: Mapping[tuple[int, int], Sequence[FaultWindow]] | None = None,
    severities: Mapping[str, str] | None = None,
    suite: str = "s",
    group: str | None = None,
    spec_hash: str = "h",
    started_at: str = "2026-12-05T10:00:00+00:00",
    record_profile: bool = True,
    turns: Sequence[TurnRecord] | None = None,
    unplayed: Sequence[str] = (),
) -> Path:
    """A finished run with --faults `profile`; `tables` by requirement id. `per_trial` gives
    the windows of one faulted (case index, trial), else `windows` (default one reset);
    `turns`, every trial's conversation (default one turn). Its one scenario, `refund`, is
    the profile's; `unplayed`: the selected scenarios the profile does not play."""
    manifest = RunManifest(
        suite=suite,
        seed=7,
        trials=max(len(m) for c, f in tables.values() for m in [*c, *f]),
        spec_hash=spec_hash,
        started_at=started_at,
        group=group,
        requirements=[
            RequirementInfo(
                id=rid, title=f"title of {rid}", severity=(severities or {}).get(rid, "critical")
            )
            for rid in tables
        ],
    )
    if record_profile:
        manifest.fault_profile = profile
        manifest.fault_scenarios = ["refund"]
        manifest.fault_unplayed = list(unplayed)
    log = RunLog.create(root, manifest)
    default = list(windows) if windows is not None else [window(profile=profile)]
    cases = max(len(p) for c, f in tables.values() for p in (c, f))
    for phase in (0, 1):
        for index in range(cases):
            cid = f"refund#{index + 1}" + (f"~{profile}" if phase else "")
            case = Case(
                id=cid, scenario="refund", index=index, seed=index, fault=profile if phase else None
            )
            lengths = [len(t[phase][index]) for t in tables.values() if index < len(t[phase])]
            if not lengths:
                continue
            trials = max(lengths)
            for trial in range(1, trials + 1):
                faults = []
                if phase:
                    faults = list((per_trial or {}).get((index, trial), default))
                obs = Observation(
                    session_id=f"h-{cid}-{trial}",
                    turns=list(turns or [TurnRecord(index=1, text="refund please", reply="ok")]),
                    faults=faults,
                )
                checks = []
                for rid, table in tables.items():
                    marks = table[phase]
                    if index >= len(marks) or trial > len(marks[index]):
                        continue
                    verdict = VERDICT[marks[index][trial - 1]]
                    checks.append(
                        CheckResult(
                            check_id=f"refund#{rid}",
                            check_type="sql",
                            category="state",
                            requirements=(rid,),
                            verdict=verdict,
                            message="" if verdict is Verdict.PASS else "two refund rows",
                        )
                    )
                log.append(CaseResult(case=case, trial=trial, observation=obs, checks=checks))
    log.update(status=Status.FINISHED, finished_at="2026-12-05T10:01:00+00:00")
    log.close()
    return log.dir
