"""A drift run's numbers as data: per requirement a curve of points by length, its positions,
its first failures, and what became of it in words (computed by `drift.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.empty import empty_dict, empty_list
from harness.report.reliability import NOT_MEASURED, Rate
from harness.runlog.models import DriftManifest

MESSAGE_CAP = 300  # an agent-made message as the first failing turn shows it
POSITIONS = ("start", "middle", "end")
TOKEN_KEYS = ("prompt_tokens", "input_tokens")
METHODS = (
    "A trial passes a requirement when every check of it passed (an error is never a pass). "
    "95% intervals: Wilson score intervals (pass^k: over cases). Degraded: Fisher's exact "
    "test, one-sided, each length against the shortest one, per scenario judging the "
    "requirement, p-values Holm-corrected across every scenario and length of the "
    "requirement, alpha 0.05 (a length's p: its smallest over the scenarios). Position: "
    "Fisher's exact test, two-sided, best vs worst position."
)


# ----------------------------------------------------------------------- the numbers


@dataclass(frozen=True)
class FirstFailure:
    """Where one case (at one point) first broke a requirement, over its trials."""

    case_id: str
    length: int
    position: str
    trial: int
    turn: int | None  # the turn after which the failure was seen
    source: str | None  # where that turn came from (filler:<pool>, probe, answer:..., None)
    check_id: str
    verdict: str  # fail | error
    message: str  # capped and redacted; escaped by each renderer
    failed: int  # trials of this case that did not pass
    trials: int


@dataclass
class Point:
    """One requirement at one (length, position)."""

    length: int
    position: str
    trials: int = 0
    passes: int = 0
    errors: int = 0
    cases: int = 0
    case_passes: int = 0  # cases all of whose trials here passed (the tests' unit)
    rate: Rate = NOT_MEASURED
    pass_k: Rate = NOT_MEASURED  # with trials k > 1 only
    p: float | None = None  # one-sided Fisher against the baseline (the curve only)
    p_holm: float | None = None
    degraded: bool = False
    tokens: float | None = None  # mean prompt tokens of the probe turn


@dataclass
class Curve:
    """One requirement's drift curve, positions and first failures."""

    requirement: str
    severity: str
    title: str
    scenarios: list[str]
    points: list[Point]  # the remembered turns at the start, by length
    positions: list[Point] = field(default_factory=empty_list)  # at the position length
    position_lengths: list[int] = field(default_factory=empty_list)
    position_p: float | None = None  # two-sided Fisher, best vs worst position
    first_degraded: int | None = None
    first_failures: list[FirstFailure] = field(default_factory=empty_list)
    #: the shortest length whose pass rate is below the baseline's (beyond noise or not)
    dropped: int | None = None
    #: too few cases a length for any drop to be told from noise (after the correction)
    underpowered: bool = False
    needed: int | None = None  # then: the cases a length that would do

    @property
    def undetermined(self) -> bool:
        """It drops with length, but too few cases were played to tell that from noise."""
        return (
            self.underpowered
            and self.dropped is not None
            and self.first_degraded is None
            and not self.fails_at_baseline
        )

    @property
    def baseline(self) -> Point | None:
        return next((p for p in self.points if p.trials), None)

    @property
    def fails_at_baseline(self) -> bool:
        base = self.baseline
        return base is not None and base.passes < base.trials

    @property
    def holds_to(self) -> int | None:
        """The longest length up to which it holds: the baseline passes and no length run
        up to it is degraded (nor drops where too few cases could tell); None when it fails
        (or was not judged) at the baseline."""
        return None if self.fails_at_baseline else self.steady_to

    @property
    def steady_to(self) -> int | None:
        """The longest length up to which it does not get worse than at the baseline (no
        degradation, no drop too few cases could tell), whatever its baseline rate: how far
        it holds its own n=0 behaviour. The drift gate and compare read this; a requirement
        failing at every length is the reliability gates' to judge."""
        base = self.baseline
        if base is None:
            return None
        run = [p.length for p in self.points if p.trials]
        limit = self.first_degraded
        if limit is None and self.underpowered:
            limit = self.dropped  # a drop too few cases can tell from noise: not shown to hold
        if limit is None:
            return max(run)
        return max(n for n in run if n < limit)

    @property
    def verdict(self) -> str:
        """What became of the requirement, in words."""
        base = self.baseline
        if base is None:
            return "not judged"
        worse = f"degraded from n={self.first_degraded}"
        if self.fails_at_baseline:
            text = f"fails at the shortest length n={base.length} ({_pct(base.rate.value)})"
            if self.first_degraded is not None:
                return f"{text}, and {worse}"
            return f"{text}; no worse with length up to n={self.steady_to}"
        if self.first_degraded is not None:
            return f"holds up to n={self.holds_to}, {worse}"
        if self.undetermined:
            drop = self.at(self.dropped or 0)
            return (
                f"holds up to n={self.holds_to}; drops at n={self.dropped} "
                f"({_pct(drop.rate.value if drop else None)} vs {_pct(base.rate.value)} at "
                f"n={base.length}), too few cases a length to tell from noise (needs "
                f"{self.needed}: --repeat {self.needed})"
            )
        return f"holds up to n={self.holds_to}"

    def at(self, length: int) -> Point | None:
        return next((p for p in self.points if p.length == length), None)


@dataclass
class DriftSummary:
    manifest: DriftManifest
    k: int  # trials per case the run asked for
    curves: list[Curve]
    lengths: list[int]
    conversations: int = 0
    turns: int = 0
    tokens: dict[int, float] = field(default_factory=empty_dict)  # length -> mean probe tokens
    methods: str = METHODS

    @property
    def degraded(self) -> list[Curve]:
        """Requirements that degrade within the lengths run (`harness drift` exits 1)."""
        return [c for c in self.curves if c.first_degraded is not None]

    @property
    def failing(self) -> list[Curve]:
        """Requirements that fail already at the shortest length."""
        return [c for c in self.curves if c.fails_at_baseline]

    @property
    def undetermined(self) -> list[Curve]:
        """Requirements that drop with length where too few cases were played to tell."""
        return [c for c in self.curves if c.undetermined]

    @property
    def headline(self) -> str:
        if not self.curves:
            return "No drift scenario judged any requirement."
        parts = []
        if self.degraded:
            parts.append(
                "Degraded with length: "
                + ", ".join(f"{c.requirement} from n={c.first_degraded}" for c in self.degraded)
            )
        if self.undetermined:
            parts.append(
                "Drops with length, too few cases to tell from noise: "
                + ", ".join(f"{c.requirement} at n={c.dropped}" for c in self.undetermined)
            )
        failing = [c.requirement for c in self.failing]
        if parts:
            return "; ".join(parts + ([f"failing at the shortest length: {', '.join(failing)}"]
                                      if failing else []))  # fmt: skip
        up_to = max(self.lengths, default=0)
        if failing:
            return (
                f"No requirement degraded with length up to n={up_to}; failing at the shortest "
                f"length already: {', '.join(failing)}"
            )
        return f"No requirement degraded with length up to n={up_to}."


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"
