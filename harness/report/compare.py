"""Two stored runs side by side: new failures first, then fixed, newly flaky, then the change
of every requirement's pass@1 and pass^k, and whether each change is beyond noise.

A check's status in a run is pass (every trial passed), fail (none did) or flaky
(some did); an error is never a pass. Noise is judged from the trial counts:
a pass@1 change is beyond noise when Fisher's exact test on the two runs'
passing and not-passing trials gives p < 0.05 (two-sided); a pass^k change when
the two 95% intervals do not overlap (a stricter rule, as pass^k rests on fewer
observations: one per case).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from harness.report.reliability import MARKS, Rate, Reliability, compute, percent
from harness.report.reliability import fisher_exact as fisher_exact  # here since it moved
from harness.report.runs import StoredRun, run_frame
from harness.report.view import cap

ALPHA = 0.05
NOISE_RULES = (
    "pass@1: Fisher's exact test on passing vs not-passing trials, two-sided, p < 0.05, "
    "each requirement on its own; pass^k: the two 95% intervals do not overlap."
)


@dataclass
class CheckChange:
    requirements: str
    case_id: str
    check_id: str
    base: str  # pass | fail | flaky | absent
    head: str
    outcomes: str  # the head's marks per trial: P pass, F fail, E error
    message: str = ""  # the head's first non-pass message, capped


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
        b, h = self.base_at_k, self.head_at_k
        if None in (b.low, b.high, h.low, h.high):
            return False
        assert b.low is not None and b.high is not None and h.low is not None
        assert h.high is not None
        return h.high < b.low or h.low > b.high


@dataclass
class Comparison:
    base: StoredRun
    head: StoredRun
    k: int
    new_failures: list[CheckChange] = field(default_factory=list)
    fixed: list[CheckChange] = field(default_factory=list)
    newly_flaky: list[CheckChange] = field(default_factory=list)
    metrics: list[MetricChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def worse(self) -> list[MetricChange]:
        return [m for m in self.metrics if m.direction == "worse"]


def check_status(frame: pd.DataFrame) -> dict[tuple[str, str], tuple[str, str, str, str]]:
    """(case, check) -> (status, requirements, marks per trial, first non-pass message)."""
    out = {}
    ordered = frame.sort_values("trial", kind="stable")
    for (case_id, check_id), rows in ordered.groupby(["case_id", "check_id"], sort=False):
        marks = "".join(MARKS.get(str(v), "E") for v in rows["verdict"])
        passes = marks.count("P")
        status = "pass" if passes == len(marks) else ("fail" if passes == 0 else "flaky")
        bad = rows[rows["verdict"] != "pass"]
        message = cap(bad["message"].iloc[0], 300) if len(bad) else ""
        out[(str(case_id), str(check_id))] = (
            status,
            str(rows["requirements"].iloc[0]),
            marks,
            message,
        )
    return out


def _notes(base: StoredRun, head: StoredRun, k: int) -> list[str]:
    b, h = base.manifest, head.manifest
    notes = []
    if b.get("suite") != h.get("suite"):
        notes.append(f"different suites: {b.get('suite')} vs {h.get('suite')}")
    if b.get("spec_hash") != h.get("spec_hash"):
        notes.append(
            f"the spec changed between the runs (sha256 {b.get('spec_hash')} -> "
            f"{h.get('spec_hash')})"
        )
    if b.get("seed") != h.get("seed"):
        notes.append(
            f"different seeds ({b.get('seed')} vs {h.get('seed')}): the same case ids hold "
            "different generated inputs"
        )
    for run in (base, head):
        if run.manifest.get("status") != "finished":
            notes.append(f"run {run.run_id} is {run.manifest.get('status')}, not finished")
    trials = (int(b.get("trials") or 1), int(h.get("trials") or 1))
    if min(trials) < 2:
        notes.append(
            f"trials per case {trials[0]} vs {trials[1]}: pass^k needs k >= 2 trials in both "
            f"runs, so only pass@1 is compared (k = {k})"
        )
    return notes


def compare_runs(base: StoredRun, head: StoredRun, k: int | None = None) -> Comparison:
    base_frame, head_frame = run_frame(base), run_frame(head)
    trials = min(int(base.manifest.get("trials") or 1), int(head.manifest.get("trials") or 1))
    k = k or trials
    result = Comparison(base, head, k, notes=_notes(base, head, k))
    before, after = check_status(base_frame), check_status(head_frame)
    for key, (status, reqs, marks, message) in after.items():
        was = before.get(key, ("absent", "", "", ""))[0]
        change = CheckChange(reqs, key[0], key[1], was, status, marks, message)
        if status == "fail" and was != "fail":
            result.new_failures.append(change)
        elif status == "pass" and was in ("fail", "flaky"):
            result.fixed.append(change)
        elif status == "flaky" and was != "flaky":
            result.newly_flaky.append(change)
    for items in (result.new_failures, result.fixed, result.newly_flaky):
        items.sort(key=lambda c: (c.requirements, c.case_id, c.check_id))
    gone = len(set(before) - set(after))
    if gone:
        result.notes.append(f"{gone} (case, check) pair(s) of the base run are not in the head run")
    rel_base = compute(base_frame, base.manifest, k=k)
    rel_head = compute(head_frame, head.manifest, k=k)
    result.metrics = _metrics(rel_base, rel_head)
    return result


def _metrics(base: Reliability, head: Reliability) -> list[MetricChange]:
    out = []
    for h in head.requirements:
        b = base.requirement(h.requirement)
        if b is None:
            continue
        p = None
        if b.trials and h.trials:
            p = fisher_exact(b.passes, b.trials - b.passes, h.passes, h.trials - h.passes)
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
            )
        )
    return out


def _change_line(c: CheckChange) -> str:
    from harness.report.markdown import code  # renderers import the statistics, not back

    why = f": {code(c.message)}" if c.message and c.head != "pass" else ""
    return (
        f"- {c.requirements} · {code(c.case_id)} · check {code(c.check_id)}: "
        f"{c.base} -> {c.head} ({c.outcomes}){why}"
    )


def render_comparison(c: Comparison) -> str:
    """Markdown: new failures first, then fixed, newly flaky, then metric changes."""
    out = [
        f"# harness compare: {c.base.run_id} -> {c.head.run_id}",
        "",
        f"Suite {c.head.manifest.get('suite')}; base {c.base.manifest.get('trials') or 1} and "
        f"head {c.head.manifest.get('trials') or 1} trial(s) per case; k = {c.k}.",
        "",
    ]
    out += [f"> note: {n}" for n in c.notes]
    if c.notes:
        out.append("")
    for title, items in (
        ("New failures", c.new_failures),
        ("Fixed", c.fixed),
        ("Newly flaky", c.newly_flaky),
    ):
        out += [f"## {title} ({len(items)})", ""]
        out += [_change_line(i) for i in items] or ["None."]
        out.append("")
    out += [
        "## Metric changes per requirement",
        "",
        f"Beyond noise: {NOISE_RULES}",
        "",
        f"| requirement | severity | pass@1 base -> head | change | p | beyond noise | "
        f"pass^{c.k} base -> head | beyond noise |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in c.metrics:
        delta = "—" if m.delta is None else f"{m.delta * 100:+.1f} pts"
        p = "—" if m.p_value is None else f"{m.p_value:.3g}"
        mark = {"worse": "▼ ", "better": "▲ "}.get(m.direction, "")
        out.append(
            f"| {mark}{m.requirement} | {m.severity} | "
            f"{percent(m.base_at_1.value)} ({m.base_counts[1]}/{m.base_counts[0]}) -> "
            f"{percent(m.head_at_1.value)} ({m.head_counts[1]}/{m.head_counts[0]}) | {delta} | "
            f"{p} | {'yes' if m.beyond_noise else 'no'} | "
            f"{percent(m.base_at_k.value)} -> {percent(m.head_at_k.value)} | "
            f"{'yes' if m.beyond_noise_k else 'no'} |"
        )
    worse = [m for m in c.worse if m.beyond_noise or m.beyond_noise_k]
    out += [
        "",
        f"Worse: {', '.join(m.requirement for m in c.worse) or 'none'}; beyond noise: "
        f"{', '.join(m.requirement for m in worse) or 'none'}.",
    ]
    return "\n".join(out) + "\n"
