"""Two stored runs side by side: new failures first, then fixed, newly flaky, the known
regressions that got worse, then the change of every requirement's pass@1 and pass^k, and
whether each change is beyond noise.

A check's status in a run is pass (every trial passed), fail (none did) or flaky
(some did); an error is never a pass. Counted are each run's own cases, as in its
report; replayed known regression cases are compared apart, by the check each one
broke when it was found. Noise is judged from the counts with Fisher's exact test
(two-sided, p < 0.05, each requirement on its own): pass@1 on passing vs not-passing
trials; pass^k on the cases whose first k trials all passed vs the other cases with at
least k trials (each such case is one outcome with chance pass^k).

HEAD is red (exit 1 in the CLI) when it has new failures, a check newly flaky in a
requirement that was reliable in BASE (none of its checks flaky or failing there), a known
regression that got worse, or a requirement whose pass@1 or pass^k fell beyond noise. A
requirement that was already flaky in BASE moves its flakiness from case to case at random;
its newly flaky checks are listed but are not, on their own, a reason to be red, and a check
that was flaky and passed every trial this time is listed as steady this time, not fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from harness.empty import empty_list
from harness.errors import ConfigError
from harness.report.driftruns import DriftComparison, compare_drift, played
from harness.report.faultruns import FaultComparison, compare_faults
from harness.report.reliability import (
    MARKS,
    REGRESSION_ORIGIN,
    Rate,
    Reliability,
    RequirementReliability,
    compute,
    fisher_exact,
    natural_key,
)
from harness.report.view import cap
from harness.runlog.frame import Row, results_rows, rows_frame
from harness.runlog.history import KILLED
from harness.runlog.read import RunFolder

ALPHA = 0.05
NOISE_RULES = (
    "Fisher's exact test, two-sided, p < 0.05, each requirement on its own: pass@1 on "
    "passing vs not-passing trials; pass^k on the cases whose first k trials all passed vs "
    "the other cases with at least k trials."
)
COUNTED = (
    "Counted: each run's own cases, as in its report; replayed known regression cases are "
    "compared apart, under Known regressions."
)


@dataclass
class CheckChange:
    requirements: str
    case_id: str
    check_id: str
    base: str  # pass | fail | flaky | absent (no such case) | unjudged (its `when:` held not)
    head: str
    outcomes: str  # the head's marks per trial: P pass, F fail, E error
    message: str = ""  # the head's first non-pass message, capped
    reliable_before: bool = True  # none of its requirements had a flaky or failing check in BASE


@dataclass
class MetricChange:
    requirement: str
    severity: str
    title: str
    base_at_1: Rate
    head_at_1: Rate
    base_counts: tuple[int, int]  # (trials, passes)
    head_counts: tuple[int, int]
    base_at_k: Rate
    head_at_k: Rate
    p_value: float | None = None
    base_k_counts: tuple[int, int] = (0, 0)  # (cases with >= k trials, all first k passed)
    head_k_counts: tuple[int, int] = (0, 0)
    p_value_k: float | None = None

    @property
    def delta(self) -> float | None:
        if self.base_at_1.value is None or self.head_at_1.value is None:
            return None
        return self.head_at_1.value - self.base_at_1.value

    @property
    def delta_k(self) -> float | None:
        if self.base_at_k.value is None or self.head_at_k.value is None:
            return None
        return self.head_at_k.value - self.base_at_k.value

    @property
    def direction(self) -> str:
        """worse, better or same: by pass@1, else by pass^k."""
        for d in (self.delta, self.delta_k):
            if d is not None and abs(d) > 1e-12:
                return "worse" if d < 0 else "better"
        return "same"

    @property
    def beyond_noise(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA

    @property
    def beyond_noise_k(self) -> bool:
        return self.p_value_k is not None and self.p_value_k < ALPHA

    def moved(self, way: str) -> bool:
        """pass@1 or pass^k moved this way ("worse" or "better") beyond noise."""
        sign = -1 if way == "worse" else 1
        return any(
            beyond and d is not None and d * sign > 0
            for beyond, d in ((self.beyond_noise, self.delta), (self.beyond_noise_k, self.delta_k))
        )


@dataclass
class Comparison:
    base: RunFolder
    head: RunFolder
    k: int
    new_failures: list[CheckChange] = field(default_factory=empty_list)
    fixed: list[CheckChange] = field(default_factory=empty_list)
    newly_flaky: list[CheckChange] = field(default_factory=empty_list)
    #: flaky before, every trial passed
    steady: list[CheckChange] = field(default_factory=empty_list)
    regressions: list[CheckChange] = field(default_factory=empty_list)  # known ones that changed
    metrics: list[MetricChange] = field(default_factory=empty_list)
    notes: list[str] = field(default_factory=empty_list)
    added: list[RequirementReliability] = field(default_factory=empty_list)  # in HEAD's spec only
    removed: list[RequirementReliability] = field(default_factory=empty_list)  # in BASE's spec only
    drift: DriftComparison | None = None  # two drift runs: each requirement's first degraded length
    faults: FaultComparison | None = None  # a faulted run among them: R_fault per requirement

    @property
    def worse(self) -> list[MetricChange]:
        return [m for m in self.metrics if m.direction == "worse"]

    @property
    def better(self) -> list[MetricChange]:
        return [m for m in self.metrics if m.direction == "better"]

    @property
    def regressions_worse(self) -> list[CheckChange]:
        """Known regression cases failing again, or newly saved ones still failing."""
        return [
            c for c in self.regressions if c.head != "pass" and (c.base, c.head) != ("fail", "fail")
        ]

    @property
    def red(self) -> list[str]:
        """Why HEAD fails the comparison (exit 1), or nothing."""
        reasons = []
        if self.new_failures:
            reasons.append(f"{len(self.new_failures)} new failure(s)")
        unreliable = [c for c in self.newly_flaky if c.reliable_before]
        if unreliable:
            reqs = sorted({r for c in unreliable for r in c.requirements.split(",") if r})
            reasons.append(
                f"{len(unreliable)} newly flaky check(s) in requirement(s) reliable before: "
                f"{', '.join(reqs)}"
            )
        if self.regressions_worse:
            reasons.append(f"{len(self.regressions_worse)} known regression(s) failing anew")
        worse = [m.requirement for m in self.metrics if m.moved("worse")]
        if worse:
            reasons.append(f"worse beyond noise: {', '.join(worse)}")
        if self.drift is not None and self.drift.worse:
            shorter = ", ".join(c.requirement for c in self.drift.worse)
            reasons.append(f"holds less far into a conversation: {shorter}")
        if self.faults is not None and self.faults.worse:
            worse_f = ", ".join(c.requirement for c in self.faults.worse)
            reasons.append(f"degrades under faults beyond noise: {worse_f}")
        if self.faults is not None and self.faults.new_degraded:
            new_f = ", ".join(c.requirement for c in self.faults.new_degraded)
            reasons.append(f"degrades under faults, not judged under faults in BASE: {new_f}")
        return reasons


def comparable(base: RunFolder, head: RunFolder, *, force: bool = False) -> None:
    """Refuse inputs that cannot be compared (ConfigError, exit 2): anything but two suite
    runs or two drift runs, or runs of two different suites unless they judge the same spec
    (a suite and one that extends it through another interface: same spec hash) or forced."""
    if "drift" in (base.kind, head.kind) and base.kind != head.kind:
        raise ConfigError(
            f"BASE {base.run_id} is {base.described} and HEAD {head.run_id} is "
            f"{head.described}: a drift run is compared with another drift run",
            hint="pass the ids of two harness drift runs, or of two harness run runs",
        )
    for name, run in (("BASE", base), ("HEAD", head)):
        if run.kind not in ("run", "drift"):
            raise ConfigError(
                f"{name} {run.run_id} is {run.described}; harness compare compares two "
                "suite runs (harness run) or two drift runs (harness drift)",
                hint="pass the ids or folders of two suite runs (a hunt or load run joins a "
                "sign-off with --group or --with instead)",
            )
    if base.kind == "drift" and not force:
        lengths = {r.run_id: played(r) for r in (base, head)}
        if lengths[base.run_id] != lengths[head.run_id]:
            raise ConfigError(
                f"drift runs BASE {base.run_id} ({lengths[base.run_id]}) and HEAD "
                f"{head.run_id} ({lengths[head.run_id]}) played different lengths: every "
                "point one played and the other did not would read as a new failure or a fix",
                hint="compare drift runs of the same lengths (harness drift --lengths), or "
                "pass --force to compare them anyway",
            )
    same_spec = bool(base.manifest.spec_hash) and (
        base.manifest.spec_hash == head.manifest.spec_hash
    )
    if base.suite != head.suite and not same_spec and not force:
        raise ConfigError(
            f"BASE {base.run_id} is a run of suite {base.suite!r} and HEAD {head.run_id} of "
            f"suite {head.suite!r}, with different specs: their requirements are not the same",
            hint="compare two runs of one suite (or of suites of the same spec), or pass "
            "--force to compare them anyway",
        )


def check_status(frame: pd.DataFrame) -> dict[tuple[str, str], tuple[str, str, str, str]]:
    """(case, check) -> (status, requirements, marks per trial, first non-pass message), in
    one pass over the rows in trial order: linear, no filter of the whole frame per check."""
    ordered = frame.sort_values("trial", kind="stable")
    columns = ("case_id", "check_id", "verdict", "requirements", "message")
    found: dict[tuple[str, str], list[Any]] = {}  # key -> [requirements, marks, first bad message]
    for case_id, check_id, verdict, reqs, message in zip(
        *(ordered[c].tolist() for c in columns), strict=True
    ):
        key = (str(case_id), str(check_id))
        entry = found.setdefault(key, [str(reqs), [], None])
        entry[1].append(MARKS.get(str(verdict), "E"))
        if verdict != "pass" and entry[2] is None:
            entry[2] = (message,)
    out = {}
    for key, (reqs, marks, bad) in found.items():
        passes = marks.count("P")
        status = "pass" if passes == len(marks) else ("fail" if passes == 0 else "flaky")
        out[key] = (status, reqs, "".join(marks), cap(bad[0], 300) if bad else "")
    return out


def regression_status(frame: pd.DataFrame) -> dict[tuple[str, str], tuple[str, str, str, str]]:
    """check_status of each replayed known regression case, on the checks it broke when it
    was found (its targets) only, as the run's report judges it."""
    regs = frame[frame["origin"] == REGRESSION_ORIGIN]
    pairs = zip(regs["check_id"], regs["target"], strict=True)
    wanted = pd.Series(
        [check in str(target).split(",") for check, target in pairs], index=regs.index, dtype=bool
    )
    return check_status(regs[wanted])


def _notes(base: RunFolder, head: RunFolder, k: int) -> list[str]:
    b, h = base.manifest, head.manifest
    notes = []
    if base.suite != head.suite and b.spec_hash and b.spec_hash == h.spec_hash:
        notes.append(
            f"different suites of the same spec: {base.suite} vs {head.suite} (the same "
            "requirements through two interfaces; cases compared where their ids match)"
        )
    elif base.suite != head.suite:
        notes.append(f"different suites (compared with --force): {base.suite} vs {head.suite}")
    if b.spec_hash != h.spec_hash:
        notes.append(f"the spec changed between the runs (sha256 {b.spec_hash} -> {h.spec_hash})")
    if b.seed != h.seed:
        notes.append(
            f"different seeds ({b.seed} vs {h.seed}): the same case ids hold "
            "different generated inputs"
        )
    for run in (base, head):
        if run.status != "finished":
            notes.append(
                f"run {run.run_id} was killed and did not finish"
                if run.status == KILLED
                else f"run {run.run_id} is {run.status}, not finished"
            )
    trials = {run.run_id: run.manifest.trials or 1 for run in (base, head)}
    short = [f"{rid} ({n})" for rid, n in trials.items() if n < k]
    if short:
        notes.append(
            f"pass^{k} needs at least {k} trials per case in both runs; fewer in "
            f"{' and '.join(short)}, so pass^{k} is not compared there (only pass@1)"
        )
    elif k == 1:
        notes.append(
            "k = 1: pass^1 is pass@1; runs with --trials k (k >= 2) compare reliability too"
        )
    return notes


def _changes(
    before: dict[tuple[str, str], tuple[str, str, str, str]],
    after: dict[tuple[str, str], tuple[str, str, str, str]],
) -> list[CheckChange]:
    out = []
    cases = {case for case, _ in before}  # a check of one of these with no verdict: `when:`
    for key, (status, reqs, marks, message) in after.items():
        missing = "unjudged" if key[0] in cases else "absent"
        was = before[key][0] if key in before else missing
        out.append(CheckChange(reqs, key[0], key[1], was, status, marks, message))
    nat = natural_key  # case#2 before case#13, as in the reports
    return sorted(out, key=lambda c: (c.requirements, nat(c.case_id), nat(c.check_id)))


def _read(run: RunFolder) -> tuple[pd.DataFrame, list[Row] | None, list[Any] | None]:
    """A run's results frame, and its rows and records when it kept cases.jsonl (read once)."""
    if run.parquet_only:
        return run.frame(), None, None
    records = run.records()
    rows = results_rows(records, run.manifest)
    return rows_frame(rows), rows, records


def compare_runs(base: RunFolder, head: RunFolder, k: int | None = None) -> Comparison:
    base_frame, base_rows, base_records = _read(base)
    head_frame, head_rows, head_records = _read(head)
    trials = min(base.manifest.trials or 1, head.manifest.trials or 1)
    k = k or trials
    result = Comparison(base, head, k, notes=_notes(base, head, k))
    own = [f[f["origin"] != REGRESSION_ORIGIN] for f in (base_frame, head_frame)]
    before, after = check_status(own[0]), check_status(own[1])
    shaky = {
        r
        for status, reqs, _, _ in before.values()
        if status in ("fail", "flaky")
        for r in reqs.split(",")
        if r
    }
    for change in _changes(before, after):
        change.reliable_before = not (set(change.requirements.split(",")) & shaky)
        if change.head == "fail" and change.base != "fail":
            result.new_failures.append(change)
        elif change.head == "pass" and change.base == "fail":
            result.fixed.append(change)
        elif change.head == "pass" and change.base == "flaky":
            result.steady.append(change)
        elif change.head == "flaky" and change.base != "flaky":
            result.newly_flaky.append(change)
    result.regressions = [
        c
        for c in _changes(regression_status(base_frame), regression_status(head_frame))
        if c.base != c.head
    ]
    gone = len(set(before) - set(after))
    if gone:
        result.notes.append(
            f"{gone} (case, check) pair(s) of the base run are not in the head run (a case it "
            "did not play, or a check whose `when:` did not hold there)"
        )
    rel_base = compute(base_frame if base_rows is None else base_rows, base.manifest, k=k)
    rel_head = compute(head_frame if head_rows is None else head_rows, head.manifest, k=k)
    result.metrics = _metrics(rel_base, rel_head)
    result.added = [r for r in rel_head.requirements if rel_base.requirement(r.requirement) is None]
    result.removed = [
        r for r in rel_base.requirements if rel_head.requirement(r.requirement) is None
    ]
    if base.kind == head.kind == "drift":
        result.drift = compare_drift(base, head)
    result.faults = compare_faults(base, head, (base_records, head_records))
    return result


def _metrics(base: Reliability, head: Reliability) -> list[MetricChange]:
    out = []
    for h in head.requirements:
        b = base.requirement(h.requirement)
        if b is None:
            continue
        p = p_k = None
        if b.trials and h.trials:
            p = fisher_exact(b.passes, b.trials - b.passes, h.passes, h.trials - h.passes)
        bk, hk = base.all_k(h.requirement), head.all_k(h.requirement)
        if bk[0] and hk[0]:
            p_k = fisher_exact(bk[1], bk[0] - bk[1], hk[1], hk[0] - hk[1])
        out.append(
            MetricChange(
                h.requirement,
                h.severity,
                h.title,
                b.pass_at_1,
                h.pass_at_1,
                (b.trials, b.passes),
                (h.trials, h.passes),
                b.pass_hat_k,
                h.pass_hat_k,
                p,
                bk,
                hk,
                p_k,
            )
        )
    return out
