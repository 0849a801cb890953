"""A load run's fault windows, from its stored records and manifest only: pass rate and latency
before, during and after each window (the dip), and how long after its end they came back
(the recovery).

For a window on [start, end) of the load's clock (as applied; planned when it never was):
- before: the conversations wholly between the previous window's end (or the load's start)
  and `start`, and their turns;
- during: the conversations that overlap it (a conversation with one turn inside is hit: as
  the feeder marked them on the exact clock, their records' `load.faults`; by their stored
  times in records without marks), and the turns sent inside it;
- after: the conversations started from `end` until the next window starts (or the load's
  end), and their turns.
The before phase sets the interval: its pass rate's Wilson 95% interval and its turns' p95
latency. Recovery is the time from `end` to the start of the first conversation from which on
the conversations started within one results window (`window_s`) pass at least at the before
interval's low end, their median turn latency is at most the before p95 and their non-2xx
share at most the before's high end; None when that never happens before the next window or
the run's end. Conversations failed by the agent process's death are left out. A conversation
none of whose own checks was judged (all skipped by `when:`) is no pass: counted apart ("not
judged"), out of the pass rates and the recovery. Each phase gives its turns' non-2xx share,
those a window's `accept_status` allowed included ("503 accepted: N"): an allowed outage shows.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.core.failures import Category
from harness.core.types import FaultWindow, Verdict
from harness.empty import empty_dict, empty_list
from harness.report.reliability import wilson
from harness.report.text import quantile
from harness.runlog.levels import passed
from harness.runlog.models import (
    AnyManifest,
    LoadFaultWindow,
    LoadInfo,
    LoadManifest,
    SweepRecord,
    TrialRecord,
)

PHASES = ("before", "during", "after")


@dataclass(frozen=True)
class Conv:
    """One judged conversation on the load's clock."""

    start: float
    end: float
    passed: bool
    turns: tuple[Turn, ...]
    faults: tuple[int, ...] = ()  # the windows the feeder found it overlapped (its record's)
    judged: bool = True  # one of its own checks was judged (else not a pass: "not judged")


@dataclass(frozen=True)
class Turn:
    at: float  # sent at, on the load's clock
    ms: float  # latency
    errored: bool
    status: int | None = None  # a non-2xx HTTP status it was answered with (else None)
    accepted: bool = False  # recorded without an error: a window's accept_status allowed it


@dataclass
class Phase:
    name: str
    start: float
    end: float
    conversations: int = 0
    passes: int = 0  # of the judged conversations
    latencies: list[float] = field(default_factory=empty_list)
    errors: int = 0
    not_judged: int = 0  # conversations none of whose own checks was judged: no pass
    non_2xx: int = 0  # turns answered with a non-2xx status, accepted ones included
    accepted: dict[int, int] = field(default_factory=empty_dict)  # status -> turns accepted

    @property
    def judged(self) -> int:
        return self.conversations - self.not_judged

    @property
    def pass_rate(self) -> float | None:
        return self.passes / self.judged if self.judged else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.passes, self.judged) if self.judged else None

    @property
    def error_rate(self) -> float | None:
        return self.errors / len(self.latencies) if self.latencies else None

    @property
    def non_2xx_rate(self) -> float | None:
        return self.non_2xx / len(self.latencies) if self.latencies else None

    def count(self, turn: Turn) -> None:
        self.latencies.append(turn.ms)
        self.errors += turn.errored
        self.non_2xx += turn.status is not None
        if turn.accepted and turn.status is not None:  # with no error: accept_status
            self.accepted[turn.status] = self.accepted.get(turn.status, 0) + 1

    def percentile(self, q: float) -> float | None:
        return quantile(self.latencies, q)


@dataclass
class WindowNumbers:
    """One fault window and what the conversations around it showed."""

    number: int  # 1-based, in the profile's order
    window: LoadFaultWindow
    start: float
    end: float
    before: Phase
    during: Phase
    after: Phase
    recovery_s: float | None = None  # seconds from the end until back within before's interval
    why_not: str = ""  # why no recovery time was measured

    @property
    def phases(self) -> tuple[Phase, Phase, Phase]:
        return (self.before, self.during, self.after)

    @property
    def dipped(self) -> bool:
        """The pass rate during fell below the before interval, latency rose above it, or
        the share of non-2xx answers above its interval (an outage the checks allow)."""
        low, p95 = _bounds(self.before)
        rate, median = self.during.pass_rate, self.during.percentile(0.5)
        share, high = self.during.non_2xx_rate, _non_2xx_high(self.before)
        return (
            (rate is not None and low is not None and rate < low)
            or (median is not None and p95 is not None and median > p95)
            or (share is not None and share > high)
        )

    def sentence(self) -> str:
        w = self.window
        what = f"Fault {self.number} ({w.toxic} on {w.link}, {self.start:g}–{self.end:g} s)"
        b, d, a = self.phases
        rates = (
            f"pass rate of judged conversations {_judged(b)} before, {_judged(d)} during, "
            f"{_judged(a)} after; non-2xx answers {_answers(b)} / {_answers(d)} / "
            f"{_answers(a)} of turns; p50 latency {_ms(b)} / {_ms(d)} / {_ms(a)} ms"
        )
        if w.started is None:
            return f"{what} was never applied ({w.error or 'the load ended before it'})."
        if self.recovery_s is not None:
            back = f"back within the before interval {self.recovery_s:.1f} s after it ended"
        else:
            back = f"no recovery measured: {self.why_not}"
        return f"{what}: {'dipped; ' if self.dipped else ''}{rates}; {back}."


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _judged(p: Phase) -> str:
    """A phase's pass rate over its judged conversations, and how many were not judged."""
    return _pct(p.pass_rate) + (f" ({p.not_judged} not judged)" if p.not_judged else "")


def _answers(p: Phase) -> str:
    """A phase's share of non-2xx answers, with the accepted ones counted per status."""
    said = ", ".join(f"{s} accepted: {n}" for s, n in sorted(p.accepted.items()))
    return _pct(p.non_2xx_rate) + (f" ({said})" if said else "")


def _non_2xx_high(before: Phase) -> float:
    """The high end of the before phase's non-2xx share (Wilson 95%; 0 without turns)."""
    turns = len(before.latencies)
    return wilson(before.non_2xx, turns)[1] if turns else 0.0


def _ms(phase: Phase) -> str:
    value = phase.percentile(0.5)
    return "—" if value is None else f"{value:.0f}"


def _bounds(before: Phase) -> tuple[float | None, float | None]:
    """The before interval: its pass rate's Wilson low end, its turns' p95 latency."""
    interval = before.interval
    return (interval[0] if interval else None), before.percentile(0.95)


def conversations(records: Sequence[TrialRecord | SweepRecord]) -> list[Conv]:
    out = []
    for r in records:
        info = r.load if isinstance(r, TrialRecord) else None
        if info is None or info.start is None or info.agent_exited is not None:
            continue
        assert isinstance(r, TrialRecord)
        turns = tuple(
            Turn(float(at), float(t.latency_ms or 0.0), t.error is not None, bad, not t.error)
            for t, at in zip(r.observation.turns, info.at, strict=False)
            for bad in [t.status if t.status is not None and not 200 <= t.status < 300 else None]
        )
        end = max([info.start] + [t.at + t.ms / 1000.0 for t in turns])
        # judged: one of its own checks was (a skipped check is absent), or a check failed
        judged = any(
            c.category != Category.INVARIANT or c.verdict is not Verdict.PASS for c in r.checks
        )
        out.append(
            Conv(float(info.start), end, passed(r.checks), turns, tuple(info.faults), judged)
        )
    return sorted(out, key=lambda c: c.start)


def _add(phase: Phase, conv: Conv, turns: bool = True) -> None:
    phase.conversations += 1
    phase.passes += conv.passed and conv.judged
    phase.not_judged += not conv.judged
    if turns:
        for t in conv.turns:
            phase.count(t)


def fault_windows(
    load: LoadInfo, records: Sequence[TrialRecord | SweepRecord], until: float
) -> list[WindowNumbers]:
    """Each fault window of a load run with its before, during and after numbers."""
    if not load.faults:
        return []
    convs = conversations(records)
    marked = any(c.faults for c in convs)  # the feeder's marks, exact, rule over the times
    spans = [_span(w) for w in load.faults]
    order = sorted(range(len(spans)), key=lambda i: spans[i])
    out = []
    for k, i in enumerate(order):
        start, end = spans[i]
        previous = max([spans[j][1] for j in order[:k]] + [0.0])
        following = min([spans[j][0] for j in order[k + 1 :]] + [max(until, end)])
        n = WindowNumbers(
            i + 1,
            load.faults[i],
            start,
            end,
            Phase("before", previous, start),
            Phase("during", start, end),
            Phase("after", end, following),
        )
        after: list[Conv] = []
        for c in convs:
            inside = n.number in c.faults if marked else c.start < end and c.end > start
            if previous <= c.start and c.end <= start and not inside:
                _add(n.before, c)
            if inside:
                _add(n.during, c, turns=False)
                for t in c.turns:
                    if start <= t.at < end:
                        n.during.count(t)
            if end <= c.start < following and not inside:
                _add(n.after, c)
                after.append(c)
        _recovery(n, after, float(load.window_s or 1.0))
        out.append(n)
    return sorted(out, key=lambda n: n.number)


def _span(w: LoadFaultWindow) -> tuple[float, float]:
    start = w.started if w.started is not None else w.at
    end = w.ended if w.ended is not None else w.at + w.for_s
    return start, max(start, end)


def _recovery(n: WindowNumbers, after: list[Conv], width: float) -> None:
    low, p95 = _bounds(n.before)
    if low is None:
        n.why_not = "no conversation was judged before it (no interval to return to)"
        return
    after = [c for c in after if c.judged]  # a conversation not judged shows no recovery
    if not after:
        n.why_not = "no judged conversation started after it"
        return
    high = _non_2xx_high(n.before)
    for k, first in enumerate(after):
        group = [c for c in after[k:] if c.start < first.start + width]
        rate = sum(c.passed for c in group) / len(group)
        turns = [t for c in group for t in c.turns]
        median = statistics.median(t.ms for t in turns) if turns else None
        share = sum(t.status is not None for t in turns) / len(turns) if turns else 0.0
        if rate >= low and (p95 is None or median is None or median <= p95) and share <= high:
            n.recovery_s = round(max(0.0, first.start - n.end), 3)
            return
    n.why_not = (
        f"the pass rate and latency did not return within the before interval by {n.after.end:g} s"
    )


# ---------------------------------------------------------------------------- rendering


def hit(w: LoadFaultWindow) -> str:
    """The connections its toxicity was drawn for and hit, with the link's seed."""
    if w.toxic == "down":
        return "every connection refused"
    share = "" if w.share is None else f" ({w.share * 100:.0f}%)"
    seed = "" if w.seed is None else f", seed {w.seed}"
    return f"{w.affected} of {w.connections}{share}{seed}"


def rows(faults: list[WindowNumbers]) -> list[dict[str, str]]:
    """Each window's three phases as table rows of formatted numbers (escaped by the
    renderer: a link's name and a toxic's are the suite's words)."""
    out = []
    for n in faults:
        w, first = n.window, ("fault", "link", "toxic", "hit")
        for k, p in enumerate(n.phases):
            i = p.interval
            rate = _pct(p.pass_rate) + (f" ({i[0] * 100:.0f}–{i[1] * 100:.0f}%)" if i else "")
            row = {
                "fault": str(n.number), "link": w.link, "toxic": _toxic(w), "hit": hit(w),
                "phase": p.name, "span": f"{p.start:g}–{p.end:g}",
                "conversations": str(p.conversations), "not_judged": str(p.not_judged),
                "pass_rate": rate, "p50": _num(p.percentile(0.5)),
                "p95": _num(p.percentile(0.95)), "error_rate": _pct(p.error_rate),
                "non_2xx": _answers(p), "dip": "yes" if p is n.during and n.dipped else "",
            }  # fmt: skip
            out.append(row | (dict.fromkeys(first, "") if k else {}))
    return out


def _toxic(w: LoadFaultWindow) -> str:
    if w.toxic == "down":
        return "down"
    attributes = ", ".join(f"{k} {v}" for k, v in w.attributes.items() if v)
    extra = f"; {attributes}" if attributes else ""
    return f"{w.toxic} ({w.stream}, toxicity {w.toxicity:g}{extra})"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


HEADINGS = {
    "fault": "fault",
    "link": "link",
    "toxic": "toxic",
    "hit": "connections hit",
    "phase": "phase",
    "span": "seconds",
    "conversations": "conversations",
    "not_judged": "not judged",
    "pass_rate": "pass rate of judged (95% interval)",
    "p50": "p50 ms",
    "p95": "p95 ms",
    "error_rate": "error rate",
    "non_2xx": "non-2xx answers",
}
EXPLAIN = (
    "Before: conversations wholly between the previous window (or the start) and this one; "
    "during: those with any part inside it (latency of the turns sent inside); after: those "
    "started from its end to the next window (or the end). Recovery: from the window's end to "
    "the first judged conversation from which on one results window passes at least at the "
    "before interval's low end with median latency at most the before p95 and non-2xx answers "
    "within the before interval. Not judged: conversations none of whose own checks was judged "
    "(all skipped by their when:); they are no pass, and the pass rate is over the judged ones. "
    "Non-2xx answers: the turns answered with a non-2xx status, those a window's accept_status "
    "allowed included (counted as accepted)."
)


def from_load(w: FaultWindow) -> bool:
    """A fault window of a load profile, as a conversation's observation records it."""
    return (w.source or "").startswith("load:")


def load_headline(manifest: AnyManifest, windowed: int) -> str | None:
    """A load run's faults in a line: its profile's windows as applied on the load's
    timeline, and the conversations that overlapped them (None: no load with windows)."""
    load = manifest.load if isinstance(manifest, LoadManifest) else None
    if load is None or not load.faults:
        return None
    applied = [w for w in load.faults if w.started is not None]
    said = "; ".join(
        f"{w.toxic} on {w.link} at {w.started:.1f} s for "
        f"{(w.ended if w.ended is not None else w.started) - w.started:.1f} s"
        for w in applied
        if w.started is not None
    )
    return (
        f"Load profile {load.profile}: {len(applied)} of {len(load.faults)} fault window(s) "
        f"applied on the load's timeline"
        + (f" ({said})" if said else "")
        + f"; {windowed} conversation(s) overlapped them (see Fault windows)."
    )
