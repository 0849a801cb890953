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

from harness.core.types import CheckResult, FaultWindow
from harness.report.faultstats import METHODS, Comparison, compare_all, median, trials_needed
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
class RequirementFaults:
    """One requirement clean vs faulted."""

    requirement: str
    severity: str
    title: str
    cases: int  # cases judging it in both phases
    numbers: Comparison
    clean_errors: int = 0
    faulted_errors: int = 0

    @property
    def fails_clean(self) -> bool:
        """Some clean trial did not pass: it fails without any fault."""
        return self.numbers.clean_passes < self.numbers.clean_trials

    @property
    def verdict(self) -> str:
        n = self.numbers
        if not n.clean_trials or not n.faulted_trials:
            phase = "clean" if not n.clean_trials else "faulted"
            return f"not measured: no {phase} trial judged it"
        parts = []
        if self.fails_clean:
            parts.append(
                f"fails without faults ({n.clean_passes}/{n.clean_trials} clean trials passed)"
            )
        if n.degraded:
            parts.append(
                f"degrades under faults beyond noise ({percent(n.faulted.value)} vs "
                f"{percent(n.clean.value)} clean, Holm-corrected p = {n.p_holm:.3g})"
            )
        elif n.underpowered and _lower(n):
            parts.append(
                f"lower under faults ({percent(n.faulted.value)} vs {percent(n.clean.value)}) "
                "but too few cases to tell"
            )
        elif n.underpowered:
            parts.append("too few cases to tell a degradation from noise")
        elif not parts:
            parts.append("holds under faults within noise")
        return "; ".join(parts)


@dataclass
class FaultNumbers:
    """One fault (link, toxic) over the trials it was applied in."""

    link: str
    toxic: str
    source: str  # profile:<name> or scenario
    stream: str = ""
    toxicity: float = 1.0
    names: list[str] = field(default_factory=list)
    windows: int = 0
    trials: int = 0  # trials it was applied in
    hit_trials: int = 0  # of those, trials it hit: toxicity 1, or a connection drawn
    connections: int = 0
    affected: int = 0
    recovered_ms: list[float] = field(default_factory=list)
    #: trials whose recovery check failed with no recovery, and what it said ("not recovered
    #: within 5 s")
    not_recovered: int = 0
    not_within: str = ""
    #: per requirement, the trials it hit against the clean phase (profiles of several faults)
    by_requirement: dict[str, Comparison] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.link}: {self.toxic}"

    @property
    def samples(self) -> bool:
        """Its toxicity draws connections (below 1), so the observed share matters."""
        return self.toxicity < 1.0

    @property
    def share(self) -> float | None:
        return self.affected / self.connections if self.connections else None

    @property
    def recovery_median(self) -> float | None:
        return median(self.recovered_ms)

    @property
    def recovery_max(self) -> float | None:
        return max(self.recovered_ms) if self.recovered_ms else None


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
    other_profiles: list[str] = field(default_factory=list)  # left out: one profile a run
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
            lower = [r.requirement for r in self.measured if _lower(r.numbers)]
            parts.append(
                f"no requirement degrades beyond noise (lowest R_fault {_r(lowest)}"
                + (f"; lower under faults: {', '.join(lower)})" if lower else ")")
            )
            if self.undetermined:
                parts.append(
                    f"too few cases to tell for {', '.join(self.undetermined)} "
                    f"(about {self.needed} trials a phase would do)"
                )
        return f"Fault profile {self.profile}: " + "; ".join(parts) + "."

    def lines(self) -> list[str]:
        """A few lines for the terminal."""
        out = [f"faults: {self.headline}"]
        for r in self.requirements:
            n = r.numbers
            if not n.tested:  # judged in one phase only: no R_fault, said so
                out.append(f"  {r.requirement}: {r.verdict} (faulted {n.faulted_passes}/"
                           f"{n.faulted_trials} passed)")  # fmt: skip
                continue
            out.append(
                f"  {r.requirement}: clean {percent(n.clean.value)}, faulted "
                f"{percent(n.faulted.value)}, R_fault {_r(n.r_fault.value)} "
                f"[{_r(n.r_fault.low)}, {_r(n.r_fault.high)}]: {r.verdict}"
            )
        for f in self.faults:
            rec = (
                f", recovered in {f.recovery_median:.0f} ms median, {f.recovery_max:.0f} ms max"
                if f.recovered_ms and f.recovery_median is not None and f.recovery_max is not None
                else ""
            )
            share = f", hit {f.affected}/{f.connections} connections" if f.connections else ""
            if f.not_recovered:
                rec += f", {f.not_within} in {f.not_recovered} trial(s)"
            out.append(f"  {f.key} ({f.source}): {f.trials} trial(s){share}{rec}")
        return out


def _lower(n: Comparison) -> bool:
    """The faulted rate is below the clean one (beyond noise or not)."""
    return n.faulted_passes * n.clean_trials < n.clean_passes * n.faulted_trials


def _r(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


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
        never = next(  # the recovery check found no recovery
            (str(c.found) for c in record.checks
             if c.check_type == "recovery" and str(c.found).startswith("not recovered")),
            None,
        )  # fmt: skip
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
            # a toxicity of 1 hits whatever the link does (a `down` link refuses connections
            # the proxy never counts); below 1, the trials whose draw hit a connection
            if any(w.affected or w.toxicity >= 1.0 for w in ws):
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
