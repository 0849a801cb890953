"""The parts of a faulted run's numbers (`faults.py`): one requirement clean vs faulted, with
its verdict in words, and one fault (link, toxic) over the trials it was applied in."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.empty import empty_dict, empty_list
from harness.report.faultstats import Comparison, median
from harness.report.reliability import percent


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
    def unjudged(self) -> bool:
        """No faulted trial judged it (its checks apply only without faults): it neither
        holds nor fails under the profile."""
        return not self.numbers.faulted_trials

    @property
    def verdict(self) -> str:
        n = self.numbers
        if self.unjudged:
            return "not judged under faults: no faulted trial judged it"
        if not n.clean_trials:
            return "not measured: no clean trial judged it"
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
        elif n.underpowered and lower(n):
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
    names: list[str] = field(default_factory=empty_list)
    windows: int = 0
    trials: int = 0  # trials it was applied in
    hit_trials: int = 0  # of those, trials where it hit a connection (`down`: every one)
    connections: int = 0
    affected: int = 0
    recovered_ms: list[float] = field(default_factory=empty_list)
    #: trials whose recovery check failed with no recovery, and what it said ("not recovered
    #: within 5 s")
    not_recovered: int = 0
    not_within: str = ""
    #: per requirement, the trials it hit against the clean phase (profiles of several faults)
    by_requirement: dict[str, Comparison] = field(default_factory=empty_dict)

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


def lower(n: Comparison) -> bool:
    """The faulted rate is below the clean one (beyond noise or not)."""
    return n.faulted_passes * n.clean_trials < n.clean_passes * n.faulted_trials


def r_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"
