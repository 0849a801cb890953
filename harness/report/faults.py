"""A faulted run's numbers, from its stored records and manifest only: per requirement the pass
rate clean and under the fault profile, R_fault with its interval, whether it degrades beyond
noise; per fault the trials it was applied in, the connections its toxicity drew and hit, its
recovery times.

`harness run --faults NAME` plays every selected case clean (its own id, `case.fault` None)
and faulted (`<id>~NAME`, `case.fault` NAME) in alternating phases. The faulted phase is every
trial whose case names the profile; the clean phase is every trial without a profile whose
case id is the base id of a faulted case (the part before `~`), so a case counts in both or
in neither. Replayed known regressions and the run-wide sweep are left out, as in the
reliability numbers. The statistics are in `faultstats.py`.

The run's profile is the one its manifest records (`fault_profile`); a run whose manifest
does not say is still read as faulted when any record's case names a profile (the most
common one), and the report says it was found that way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.check.recovery import not_recovered
from harness.core.types import CheckResult, FaultWindow
from harness.empty import empty_list
from harness.report.faultparts import FaultNumbers, RequirementFaults, lower, r_text
from harness.report.faultstats import METHODS, compare_all, trials_needed
from harness.report.loadfaults import from_load, load_headline
from harness.report.reliability import REGRESSION_ORIGIN, SWEEP_ORIGIN, percent
from harness.runlog.models import AnyManifest, RunManifest, TrialRecord

if TYPE_CHECKING:
    from harness.runlog.read import RunFolder

FAULTED_MARK = "~"  # a faulted case's id: <clean id>~<profile>
ALPHA = 0.05


def base_id(case_id: str, profile: str) -> str:
    """The clean case a faulted case id (`<id>~<profile>`) belongs to."""
    return case_id.removesuffix(f"{FAULTED_MARK}{profile}")


def profile_of(manifest: AnyManifest) -> str | None:
    """The fault profile the manifest records (`harness run --faults NAME`)."""
    return manifest.fault_profile if isinstance(manifest, RunManifest) else None


@dataclass
class FaultsSummary:
    manifest: AnyManifest
    profile: str | None  # None: only a scenario's own faults ran
    from_records: bool  # the manifest did not record the profile: found from the records
    seed: int
    requirements: list[RequirementFaults]
    faults: list[FaultNumbers]
    clean_trials: int = 0
    faulted_trials: int = 0
    other_profiles: list[str] = field(default_factory=empty_list)  # left out: one profile a run
    #: clean trials that had their scenario's own faults (those apply in both phases)
    clean_with_faults: int = 0
    windowed: int = 0  # a load run's conversations that overlapped its fault windows
    methods: str = METHODS

    @property
    def measured(self) -> list[RequirementFaults]:
        return [r for r in self.requirements if r.numbers.tested]

    @property
    def degraded(self) -> list[str]:
        return [r.requirement for r in self.requirements if r.numbers.degraded]

    @property
    def failing_clean(self) -> list[str]:
        return [r.requirement for r in self.requirements if r.fails_clean]

    @property
    def undetermined(self) -> list[str]:
        return [
            r.requirement
            for r in self.requirements
            if r.numbers.underpowered and not r.numbers.degraded
        ]

    @property
    def unjudged(self) -> list[str]:
        """Requirements no faulted trial judged: not judged under faults, never "holds"."""
        return [r.requirement for r in self.requirements if r.unjudged]

    @property
    def mine(self) -> list[FaultNumbers]:
        """The profile's faults (not a scenario's own)."""
        return [f for f in self.faults if self.profile and f.source == f"profile:{self.profile}"]

    @property
    def unfired(self) -> list[FaultNumbers]:
        """The profile's faults that hit no connection in any faulted trial (an `after_sent`
        that never matched, a link the agent never used); a `down` refuses connections the
        proxy cannot count, so it is never among them."""
        return [f for f in self.mine if f.toxic != "down" and not f.affected]

    @property
    def met_no_fault(self) -> bool:
        """The faulted phase ran but none of the profile's faults hit anything: R_fault then
        compares two clean phases."""
        if self.profile is None or not self.faulted_trials:
            return False
        return len(self.unfired) == len(self.mine)

    @property
    def warning(self) -> str | None:
        """What no reader may miss: the faulted phase met no fault (or some of its faults
        none), so R_fault says nothing about robustness to it."""
        if self.met_no_fault:
            seen = sum(f.connections for f in self.mine)
            return (
                f"WARNING: the faulted phase met no fault: profile {self.profile} hit 0 of "
                f"{seen} connection(s) in its {self.faulted_trials} faulted trial(s), so "
                "R_fault says nothing about robustness"
            )
        if self.unfired:
            each = ", ".join(f"{f.key} (0 of {f.connections})" for f in self.unfired)
            return (
                f"WARNING: some of profile {self.profile}'s faults hit no connection in any "
                f"faulted trial: {each}; R_fault says nothing about robustness to them"
            )
        return None

    @property
    def needed(self) -> int:
        """The trials per phase with which a total collapse would be seen beyond noise."""
        return trials_needed(max(1, len(self.measured)))

    @property
    def failing(self) -> bool:
        """The exit rule of a run with --faults: a requirement degrades beyond noise under
        the profile, or fails in the clean phase."""
        return bool(self.degraded or self.failing_clean)

    @property
    def headline(self) -> str:
        """The warning first, when there is one, then what the numbers say."""
        return self.said if self.warning is None else f"{self.warning}. {self.said}"

    @property
    def said(self) -> str:
        """What the numbers say (the headline without the warning)."""
        text = self._headline
        if self.unjudged and self.profile is not None:
            text = text.removesuffix(".") + (
                f"; not judged under faults (no faulted trial): {', '.join(self.unjudged)}."
            )
        return text

    @property
    def _headline(self) -> str:
        if self.profile is None and (said := load_headline(self.manifest, self.windowed)):
            return said
        if self.profile is None:
            return f"{len(self.faults)} fault(s) applied by the scenarios themselves; no profile."
        if not self.measured:
            return f"Fault profile {self.profile}: no requirement was judged in both phases."
        parts = []
        if self.degraded:
            parts.append(f"degraded beyond noise under faults: {', '.join(self.degraded)}")
        if self.failing_clean:
            parts.append(f"failing without faults: {', '.join(self.failing_clean)}")
        if not parts:
            values = [r.numbers.r_fault.value for r in self.measured]
            lowest = min((v for v in values if v is not None), default=None)
            dropped = [r.requirement for r in self.measured if lower(r.numbers)]
            parts.append(
                f"no requirement degrades beyond noise (lowest R_fault {r_text(lowest)}"
                + (f"; lower under faults: {', '.join(dropped)})" if dropped else ")")
            )
            if self.undetermined:
                parts.append(
                    f"too few cases to tell for {', '.join(self.undetermined)} "
                    f"(about {self.needed} trials a phase would do)"
                )
        return f"Fault profile {self.profile}: " + "; ".join(parts) + "."

    def lines(self) -> list[str]:
        """A few lines for the terminal (the warning is the caller's to show apart)."""
        out = [f"faults: {self.said}"]
        for r in self.requirements:
            n = r.numbers
            if not n.tested:  # judged in one phase only: no R_fault, said so
                phase, passes, trials = (
                    ("clean", n.clean_passes, n.clean_trials) if r.unjudged
                    else ("faulted", n.faulted_passes, n.faulted_trials)
                )  # fmt: skip
                out.append(f"  {r.requirement}: {r.verdict} ({phase} {passes}/{trials} passed)")
                continue
            out.append(
                f"  {r.requirement}: clean {percent(n.clean.value)}, faulted "
                f"{percent(n.faulted.value)}, R_fault {r_text(n.r_fault.value)} "
                f"[{r_text(n.r_fault.low)}, {r_text(n.r_fault.high)}]: {r.verdict}"
            )
        for f in self.faults:
            rec = (
                f", recovered in {f.recovery_median:.0f} ms median, {f.recovery_max:.0f} ms max"
                if f.recovered_ms and f.recovery_median is not None and f.recovery_max is not None
                else ""
            )
            # the hit count even when 0: a fault that never fired must be seen not to have
            share = "" if f.toxic == "down" else f", hit {f.affected}/{f.connections} connections"
            if f.not_recovered:
                rec += f", {f.not_within} in {f.not_recovered} trial(s)"
            out.append(f"  {f.key} ({f.source}): {f.trials} trial(s){share}{rec}")
        return out


def _marks(checks: Iterable[CheckResult]) -> dict[str, str]:
    """requirement -> P (every check of it passed), E (one errored), F."""
    seen: dict[str, set[str]] = {}
    for check in checks:
        for rid in check.requirements:
            seen.setdefault(rid, set()).add(check.verdict.value)
    return {
        rid: "P" if v == {"pass"} else ("E" if "error" in v else "F") for rid, v in seen.items()
    }


def _counted(record: TrialRecord) -> bool:
    return record.case.origin not in (REGRESSION_ORIGIN, SWEEP_ORIGIN)


def summarize_faults(
    run: RunFolder, records: Sequence[object] | None = None
) -> FaultsSummary | None:
    """The fault numbers of a stored run, or None when no fault ran in it."""
    stored = run.records() if records is None else records
    trials = [r for r in stored if isinstance(r, TrialRecord)]
    return faults_summary(run.manifest, trials)


def faults_summary(manifest: AnyManifest, trials: Sequence[TrialRecord]) -> FaultsSummary | None:
    recorded = profile_of(manifest)
    named: dict[str, int] = {}
    for r in trials:
        if r.case.fault:
            named[r.case.fault] = named.get(r.case.fault, 0) + 1
    profile = recorded or (max(named, key=lambda p: (named[p], p)) if named else None)
    windows = any(r.observation.faults for r in trials)
    if profile is None and not windows:
        return None
    own = [r for r in trials if _counted(r)]
    faulted = [r for r in own if profile is not None and r.case.fault == profile]
    bases = {base_id(r.case.id, profile or "") for r in faulted}
    clean = [r for r in own if r.case.fault is None and r.case.id in bases]
    requirements = _requirements(manifest, clean, faulted)
    faults = _faults(own, profile, clean)
    return FaultsSummary(
        manifest=manifest,
        profile=profile,
        from_records=profile is not None and recorded is None,
        seed=manifest.seed,
        requirements=requirements,
        faults=faults,
        clean_trials=len(clean),
        faulted_trials=len(faulted),
        other_profiles=sorted(p for p in named if p != profile),
        clean_with_faults=sum(1 for r in clean if r.observation.faults),
        windowed=sum(1 for r in own if any(from_load(w) for w in r.observation.faults)),
    )


def _tally(records: Iterable[TrialRecord]) -> dict[str, tuple[int, int, int, set[str]]]:
    """requirement -> (trials, passes, errors, case base ids)."""
    out: dict[str, tuple[int, int, int, set[str]]] = {}
    for record in records:
        for rid, mark in _marks(record.checks).items():
            n, c, e, cases = out.get(rid, (0, 0, 0, set()))
            cases.add(base_id(record.case.id, record.case.fault or ""))
            out[rid] = (n + 1, c + (mark == "P"), e + (mark == "E"), cases)
    return out


def _requirements(
    manifest: AnyManifest, clean: list[TrialRecord], faulted: list[TrialRecord]
) -> list[RequirementFaults]:
    before, under = _tally(clean), _tally(faulted)
    order = {r.id: i for i, r in enumerate(manifest.requirements)}
    rids = sorted(set(before) | set(under), key=lambda r: (order.get(r, len(order)), r))
    empty: tuple[int, int, int, set[str]] = (0, 0, 0, set())
    counts = [(before.get(r, empty)[:2] + under.get(r, empty)[:2]) for r in rids]
    numbers = compare_all([(cn, cp, fn, fp) for cn, cp, fn, fp in counts])
    info = {r.id: r for r in manifest.requirements}
    out = []
    for rid, n in zip(rids, numbers, strict=True):
        b, u = before.get(rid, empty), under.get(rid, empty)
        req = info.get(rid)
        out.append(
            RequirementFaults(
                rid,
                req.severity if req else "",
                req.title if req else "",
                len(b[3] & u[3]),
                n,
                clean_errors=b[2],
                faulted_errors=u[2],
            )
        )
    return out


def _faults(
    trials: list[TrialRecord], profile: str | None, clean: list[TrialRecord]
) -> list[FaultNumbers]:
    """Per (source, link, toxic): its windows, trials, connections and recovery times; for a
    profile of several faults, each requirement over the trials the fault hit vs clean."""
    by_key: dict[tuple[str, str, str], FaultNumbers] = {}
    hit: dict[tuple[str, str, str], list[TrialRecord]] = {}
    wanted = {"scenario", *([f"profile:{profile}"] if profile else [])}  # and a load's
    for record in trials:
        seen: dict[tuple[str, str, str], list[FaultWindow]] = {}
        for w in record.observation.faults:
            source = w.source or "scenario"
            if source not in wanted and not from_load(w):
                continue
            seen.setdefault((source, w.link, w.toxic), []).append(w)
        never = None  # the recovery check found no recovery: its found text, as shown
        for check in record.checks:
            if (never := not_recovered(check)) is not None:
                break
        for key, ws in seen.items():
            f = by_key.setdefault(key, FaultNumbers(key[1], key[2], key[0]))
            if never is not None and any(w.recovered_ms is None for w in ws):
                f.not_recovered, f.not_within = f.not_recovered + 1, never
            f.stream, f.toxicity = ws[0].stream, ws[0].toxicity
            f.names = sorted({*f.names, *(w.name for w in ws if w.name)})
            f.windows += len(ws)
            f.trials += 1
            f.connections += sum(w.connections for w in ws)
            f.affected += sum(w.affected for w in ws)
            f.recovered_ms += [w.recovered_ms for w in ws if w.recovered_ms is not None]
            # the trials where it hit a connection (an `after_sent` toxic counts only those
            # whose bytes matched); a `down` link refuses connections the proxy never counts:
            # every trial it was applied in
            if any(w.affected or w.toxic == "down" for w in ws):
                f.hit_trials += 1
                hit.setdefault(key, []).append(record)
    faults = sorted(by_key.values(), key=lambda f: (f.source != f"profile:{profile}", f.key))
    mine = [f for f in faults if profile and f.source == f"profile:{profile}"]
    if len(mine) > 1:  # which of the profile's faults the drop comes with
        before = _tally(clean)
        rows: list[tuple[FaultNumbers, str, tuple[int, int, int, int]]] = []
        for f in mine:
            under = _tally(hit.get((f.source, f.link, f.toxic), []))
            for rid in sorted(set(before) & set(under)):
                rows.append((f, rid, (*before[rid][:2], *under[rid][:2])))
        numbers = compare_all([c for *_, c in rows])
        for (f, rid, _), n in zip(rows, numbers, strict=True):
            f.by_requirement[rid] = n
    return faults


__all__ = [
    "FaultNumbers",
    "FaultsSummary",
    "RequirementFaults",
    "base_id",
    "faults_summary",
    "summarize_faults",
]
