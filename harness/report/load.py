"""A load run's numbers, from its stored records and manifest only: windows, levels, degradation.

Per time window and per level (the users the profile drove, never 0: conversations started
while a profile ramps down to no users are in the windows only): requests per second, latency
p50/p95/p99, time to first byte p50/p95 (of the turns that recorded one), error rate, the pass
rate of the conversations (a conversation passes when every check of it passes; an error is
never a pass), the pass rate per requirement, and invariant violations. Correctness first
degrades at the lowest level that shows an invariant violation (in a judged conversation, or
new violating rows in a whole-database sample taken at that level), or whose pass rate is
below the lowest level's beyond noise (Fisher's exact test, two-sided, p < 0.05, as `harness
compare`). `load.parquet` holds the same numbers, one row per window or level and requirement
("*": every check). Fault windows, before/during/after and recovery: loadfaults.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.empty import empty_list
from harness.report.loadbucket import Bucket
from harness.report.loadfaults import WindowNumbers, fault_windows
from harness.report.reliability import fisher_exact
from harness.report.text import num, pct
from harness.runlog.levels import level_of, passed, violations
from harness.runlog.models import (
    AgentExit,
    LoadInfo,
    LoadManifest,
    LoadSample,
    SweepRecord,
    TrialRecord,
)
from harness.runlog.read import RunFolder

ALL = "*"
NOISE = 0.05


@dataclass
class LoadSummary:
    manifest: LoadManifest
    windows: list[Bucket]
    levels: list[Bucket]  # by users, fewest first
    requirements: list[str]
    degraded_at: int | None = None
    degraded_reason: str = ""
    first_violations: list[dict[str, Any]] = field(default_factory=empty_list)  # sample evidence
    sampled_violations: int = 0  # most violating rows any sample saw
    agent_failed: int = 0  # conversations failed by the agent process's death: in no level
    ramping_down: int = 0  # conversations started while the profile asked for 0 users: no level
    faults: list[WindowNumbers] = field(default_factory=empty_list)  # the profile's fault windows
    faulted: int = 0  # conversations that overlapped a fault window: no level

    @property
    def agent_exit(self) -> AgentExit | None:
        """The agent process died during the load, which was cut short there."""
        return self.load.agent_exit

    @property
    def cut_short(self) -> str:
        """Why the levels end early, when the agent process died; else nothing."""
        died = self.agent_exit
        if died is None:
            return ""
        return (
            f"The agent process exited with code {died.code} at {died.at:.1f} s and the "
            "load was cut short there; the "
            f"{self.agent_failed} conversation(s) that failed because of it are errors in the "
            "report but left out of the levels, since they measure the crash, not the load."
        )

    @property
    def load(self) -> LoadInfo:
        return self.manifest.load

    @property
    def has_first_byte(self) -> bool:
        """Any turn has a time to first byte (every turn is in a window)."""
        return any(w.first_bytes for w in self.windows)

    @property
    def low(self) -> Bucket | None:
        """The baseline every level is compared with: the fewest users (always more than 0)."""
        return self.levels[0] if self.levels else None

    @property
    def peak(self) -> Bucket | None:
        return self.levels[-1] if self.levels else None

    @property
    def verdict(self) -> str:
        return " ".join(x for x in (self.cut_short, self._verdict) if x)

    @property
    def _verdict(self) -> str:
        if self.degraded_at is not None:
            return (
                f"Correctness first degrades at {self.degraded_at} users: {self.degraded_reason}."
            )
        if not self.levels:
            return "No conversation was judged under load, so nothing was measured."
        low, peak = self.levels[0], self.levels[-1]
        failing = [lv for lv in self.levels if lv.passes < lv.conversations]
        what = "; ".join(_shortfall(lv) for lv in failing)
        if len(self.levels) == 1:
            return (
                f"Only one level ran ({low.users} users), so degradation across levels cannot "
                f"be measured; {_shortfall(low)}."
            )
        if failing:
            return (
                f"No level is worse than the lowest ({low.users} users) beyond noise, but "
                f"correctness did not hold: {what}."
            )
        return f"Correctness held at every level, up to {peak.users} users (the peak reached)."

    @property
    def held(self) -> bool:
        """Every conversation at every level passed and nothing was cut short."""
        return (
            bool(self.levels)
            and self.degraded_at is None
            and self.agent_exit is None
            and all(lv.passes == lv.conversations for lv in self.levels)
        )

    def lines(self) -> list[str]:
        """A few lines for the terminal."""
        out = [f"load: {self.verdict}"] + [f"  {n.sentence()}" for n in self.faults]
        for lv in self.levels:
            out.append(
                f"  {lv.users:>5} users: {lv.conversations} conversations, pass "
                f"{pct(lv.pass_rate)}, {num(lv.rps, '.1f')} req/s, p95 "
                f"{num(lv.percentile(0.95), '.0f')} ms, errors {pct(lv.error_rate)}, "
                f"invariant violations {lv.violations} (+{lv.sampled} rows in samples)"
            )
        if self.faulted:
            out.append(
                f"  {self.faulted} conversation(s) overlapped a fault window: counted in no "
                "level's figures above (they measure the fault: the Fault lines count them)"
            )
        if self.ramping_down:
            out.append(
                f"  {self.ramping_down} conversation(s) started while the profile ramped down to "
                "0 users: in the time windows, counted in no level's figures above"
            )
        locust = self.load.locust
        if locust is not None:
            workers = locust.workers
            parts = (
                f" = {' + '.join(str(w.requests) for w in workers.values())} from "
                f"{len(workers)} workers"
                if workers
                else ""
            )
            out.append(
                f"  locust counted {locust.requests} requests{parts}, {locust.failures} failed"
            )
        return out


def _shortfall(lv: Bucket) -> str:
    """What a level's conversations showed: their pass rate, and what failed."""
    text = f"pass rate {pct(lv.pass_rate)} at {lv.users} users"
    if lv.passes == lv.conversations:
        return text
    failed = lv.conversations - lv.passes
    text += f" ({failed} of {lv.conversations} conversations failed or errored"
    if lv.errors:
        text += f"; errors in {pct(lv.error_rate)} of requests"
    if lv.violations:
        text += f"; {lv.violations} invariant violation(s)"
    return text + ")"


def _fill(bucket: Bucket, record: TrialRecord) -> None:
    checks = record.checks
    if not checks:  # a pair no scoped invariant covers: judged by nothing, so no pass
        return
    bucket.conversations += 1
    bucket.passes += passed(checks)
    bucket.violations += violations(checks, record.load)  # a pair's rows count once
    marks: dict[str, bool] = {}
    for c in checks:
        for rid in c.requirements:
            marks[rid] = marks.get(rid, True) and c.verdict.value == "pass"
    for rid, ok in marks.items():
        tally = bucket.by_requirement.setdefault(rid, [0, 0])
        tally[0] += 1
        tally[1] += ok


def summarize(
    run: RunFolder, records: Sequence[TrialRecord | SweepRecord] | None = None
) -> LoadSummary | None:
    """The load numbers of a stored run, or None when it is no load run."""
    manifest = run.manifest
    if not isinstance(manifest, LoadManifest):
        return None
    load = manifest.load
    width = float(load.window_s or 1.0)
    length = float(load.length_s or 0.0)
    timeline = [(float(t), int(u)) for t, u in load.users_timeline]
    windows: dict[int, Bucket] = {}
    levels: dict[int, Bucket] = {}
    end = 0.0  # when the last reply measured came back, on the load's clock
    agent_failed = ramping_down = faulted = 0
    for record in (records := list(run.records()) if records is None else records):
        info = record.load if isinstance(record, TrialRecord) else None
        if info is None or info.window is None:
            continue  # the run-wide sweep, or a case whose rows could not be set up
        assert isinstance(record, TrialRecord)
        level: Bucket | None = None
        users = level_of(info)
        if info.agent_exited is not None:  # failed by the agent's death: a time, not a level
            agent_failed += 1
        elif info.faults:  # overlapped a fault window: in the windows and the fault table
            faulted += 1
        elif users is None:  # started while the profile ramped down to no users
            ramping_down += 1
        else:
            level = levels.setdefault(users, Bucket(users))
            _fill(level, record)
        _fill(windows.setdefault(info.window, Bucket(info.window)), record)
        for turn, at in zip(record.observation.turns, info.at, strict=False):
            w = windows.setdefault(max(0, math.floor(at / width)), Bucket(0))
            latency = float(turn.latency_ms or 0.0)
            for bucket in (w, level) if level is not None else (w,):
                bucket.latencies.append(latency)
                bucket.errors += turn.error is not None
                if turn.first_byte_ms is not None:
                    bucket.first_bytes.append(float(turn.first_byte_ms))
            end = max(end, float(at) + latency / 1000.0)
    # rates are over the time actually measured: up to the last reply or the generator's last
    # report (an interrupted run ends early), never the planned length
    end = max([end] + [t for t, _ in timeline])
    for key, w in windows.items():
        w.key, w.start = key, key * width
        w.end = max(min((key + 1) * width, end), w.start)
        w.users = max(
            [u for t, u in timeline if w.start <= t < w.end] + [_users_at(timeline, w.start)]
        )
    ordered = _merge_sliver([windows[k] for k in sorted(windows)], width)
    for w in ordered:
        w.seconds = w.end - w.start
    schedule = [(float(s), float(e), int(u)) for s, e, u, _ in load.schedule]
    ran = min(length, end)  # the levels' clock stops at the profile's end or where it stopped
    if load.agent_exit is not None:
        ran = min(ran, load.agent_exit.at)
    for users, lv in levels.items():
        lv.users = users
        lv.seconds = sum(max(0.0, min(e, ran) - s) for s, e, u in schedule if u == users)
    summary = LoadSummary(
        manifest,
        ordered,
        [levels[k] for k in sorted(levels)],
        manifest.requirement_ids,
        agent_failed=agent_failed,
        ramping_down=ramping_down,
        faulted=faulted,
    )
    _samples(summary, load.samples, width, schedule, length)
    _degradation(summary)
    summary.faults = fault_windows(load, records, end)
    return summary


def _merge_sliver(windows: list[Bucket], width: float) -> list[Bucket]:
    """A last window under half a window (replies in flight at the end) joins the one before."""
    if len(windows) < 2 or windows[-1].end - windows[-1].start >= width / 2:
        return windows
    last, prev = windows[-1], windows[-2]
    if prev.key != last.key - 1:
        return windows
    prev.end = last.end
    prev.users = max(prev.users, last.users)
    prev.conversations += last.conversations
    prev.passes += last.passes
    prev.latencies += last.latencies
    prev.first_bytes += last.first_bytes
    prev.errors += last.errors
    prev.violations += last.violations
    prev.sampled += last.sampled
    for rid, (n, ok) in last.by_requirement.items():
        tally = prev.by_requirement.setdefault(rid, [0, 0])
        tally[0] += n
        tally[1] += ok
    return windows[:-1]


def _users_at(timeline: list[tuple[float, int]], t: float) -> int:
    users = 0
    for at, u in timeline:
        if at > t:
            break
        users = u
    return users


def _samples(
    s: LoadSummary, samples: list[LoadSample], width: float, schedule: list[Any], length: float
) -> None:
    """New violating rows per sample, placed in its window and level; the first rows of each
    invariant's first violation kept as evidence."""
    previous: dict[str, int] = {}
    by_window = {w.key: w for w in s.windows}
    by_level = {lv.users: lv for lv in s.levels}
    seen: set[str] = set()
    for sample in samples:
        at = sample.at
        counts = sample.violations
        s.sampled_violations = max(s.sampled_violations, sum(counts.values()))
        new = sum(max(0, n - previous.get(k, 0)) for k, n in counts.items())
        previous = counts
        for inv, n in counts.items():
            if n and inv not in seen:
                seen.add(inv)
                rows = sample.rows.get(inv, [])
                s.first_violations.append({"at": at, "invariant": inv, "count": n, "rows": rows})
        if not new:
            continue
        key = max(0, math.floor(at / width))
        if key not in by_window and s.windows and key == s.windows[-1].key + 1:
            key = s.windows[-1].key  # a sliver at the end, merged into the last window
        if (w := by_window.get(key)) is not None:
            w.sampled += new
        users = next((u for a, e, u in schedule if a <= at < e), None)
        if users is None and schedule and at >= length:
            users = schedule[-1][2]
        if users is not None and (lv := by_level.get(users)) is not None:
            lv.sampled += new


def _degradation(s: LoadSummary) -> None:
    low = s.low
    if low is None:
        return
    for lv in s.levels:
        if lv is not low and low.conversations and lv.conversations:
            lv.p_value = fisher_exact(
                low.passes, low.conversations - low.passes, lv.passes, lv.conversations - lv.passes
            )
        worse = (
            lv.p_value is not None
            and (lv.pass_rate or 0.0) < (low.pass_rate or 0.0)
            and lv.p_value < NOISE
        )
        reason = ""
        if lv.violations:
            reason = f"{lv.violations} invariant violation(s) in judged conversations"
        elif lv.sampled:
            reason = f"{lv.sampled} new violating row(s) in the database's samples"
        elif worse:
            reason = (
                f"pass rate {pct(lv.pass_rate)} vs {pct(low.pass_rate)} at {low.users} users "
                f"(Fisher p = {lv.p_value:.3g})"
            )
        if reason:
            lv.degraded = True
            if s.degraded_at is None:
                s.degraded_at, s.degraded_reason = lv.users, reason
