"""Drift run folders written by the run log's own writer from hand-built trials, so that the
drift report's numbers are tested through the real reader.

A table maps a point (length, position) to one string per case, one mark per trial: P
pass, F fail, E error. Each requirement has its own check in every trial; a failing check
fails at the probe turn (the turn after the filler), with `message` as its message.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from harness.core import Case, CaseResult, CheckResult, Observation, TurnRecord, Verdict
from harness.core.events import Status
from harness.runlog.models import DriftManifest, DriftPlan, RequirementInfo
from harness.runlog.store import RunLog

Table = Mapping[tuple[int, str], list[str]]
VERDICT = {"P": Verdict.PASS, "F": Verdict.FAIL, "E": Verdict.ERROR}


def turns(length: int, position: str, usage: bool) -> list[TurnRecord]:
    """The remembered turn, `length` filler turns (the remembered turn among them at its
    position), then the probe; with usage, the prompt grows with every turn."""
    filler = [("filler:small_talk", f"filler {i}") for i in range(length)]
    at = {"start": 0, "middle": length // 2, "end": length}[position]
    script = [*filler[:at], ("remember", "refund to my card"), *filler[at:], ("probe", "refund")]
    return [
        TurnRecord(
            index=i + 1,
            text=text,
            reply="ok",
            source=source,
            usage={"prompt_tokens": 100 * (i + 1), "completion_tokens": 5} if usage else None,
        )
        for i, (source, text) in enumerate(script)
    ]


def drift_run(
    root: Path,
    tables: Mapping[str, Table],
    *,
    scenario: str = "remember-card",
    trials: int = 1,
    usage: bool = False,
    message: str = "a refund went to store credit",
    position_length: int | None = None,
    suite: str = "s",
    spec_hash: str = "h",
    started_at: str = "2026-12-05T10:00:00+00:00",
) -> Path:
    """A finished drift run of one scenario; `tables` by requirement id."""
    points = sorted({p for table in tables.values() for p in table})
    lengths = sorted({n for n, pos in points if pos == "start"})
    positions = sorted({pos for _, pos in points})
    plan = DriftPlan(
        scenario=scenario,
        lengths=lengths,
        positions=positions,
        position_length=position_length if position_length is not None else max(lengths),
    )
    manifest = DriftManifest(
        suite=suite,
        seed=7,
        trials=trials,
        spec_hash=spec_hash,
        started_at=started_at,
        requirements=[
            RequirementInfo(id=rid, title=f"title of {rid}", severity="critical") for rid in tables
        ],
        drift=[plan],
    )
    log = RunLog.create(root, manifest)
    for length, position in points:
        cases = max(len(t.get((length, position), [])) for t in tables.values())
        for index in range(cases):
            cid = f"{scenario}#{index + 1}@{length}" + (
                "" if position == "start" else f"-{position}"
            )
            case = Case(id=cid, scenario=scenario, index=index, seed=index, length=length,
                        position=position)  # fmt: skip
            for trial in range(1, trials + 1):
                obs = Observation(
                    session_id=f"h-{cid}-{trial}", turns=turns(length, position, usage)
                )
                checks = []
                for rid, table in tables.items():
                    marks = table.get((length, position), [])
                    if index >= len(marks):
                        continue
                    verdict = VERDICT[marks[index][trial - 1]]
                    checks.append(
                        CheckResult(
                            check_id=f"{scenario}#{rid}",
                            check_type="sql",
                            category="state",
                            requirements=(rid,),
                            verdict=verdict,
                            message="" if verdict is Verdict.PASS else message,
                            turn=None if verdict is Verdict.PASS else length + 2,
                        )
                    )
                log.append(CaseResult(case=case, trial=trial, observation=obs, checks=checks))
    log.update(status=Status.FINISHED, finished_at="2026-12-05T10:01:00+00:00")
    log.close()
    return log.dir


def step(lengths: list[int], broken_from: int, cases: int = 6) -> Table:
    """Every case passes below `broken_from` and fails from it on (position start)."""
    return {(n, "start"): ["P" if n < broken_from else "F"] * cases for n in lengths}
