"""The sign-off policy: the gates a run must pass for a release to GO.

A policy file is validated like the suite files (same YAML loader, same
`path:line:col: key: message (did you mean ...?)` errors, exit 2) and has its
own JSON Schema (`harness schema`). A gate that cannot be measured (no trials,
no load run) blocks the release unless the policy marks it `optional: true`.
"""

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from harness.errors import ConfigError
from harness.spec.loader import load_yaml, validate_model
from harness.spec.models import FileModel, Model
from harness.spec.severity import Severity

Share = Annotated[float, Field(ge=0, le=1)]


class Gate(Model):
    """A gate with nothing to set but whether missing data may pass it."""

    optional: bool = Field(
        default=False,
        description="When the gate cannot be measured (no data), report 'not measured' and "
        "do not block; a measured failure still blocks.",
    )


class RateGate(Gate):
    """A minimum rate per requirement, by the requirement's severity."""

    critical: Share | None = None
    major: Share | None = None
    minor: Share | None = None
    bound: Literal["estimate", "lower"] = Field(
        default="estimate",
        description="Compare the estimate with the minimum, or (stricter) the lower end of "
        "its 95% interval.",
    )

    def minimum(self, severity: str) -> float | None:
        """The minimum for a severity; none for a word that is no severity."""
        try:
            value = getattr(self, Severity(severity).value)
        except ValueError:
            return None
        return None if value is None else float(value)


#: what can judge a requirement (harness.core.Category's words; calls: a stubbed service's log)
JudgedBy = Literal["state", "invariant", "call", "trace", "output"]


class CoverageGate(Gate):
    """Coverage, with what a conditional check whose condition never held counts as, and
    what must judge the requirements spec.yaml marks as mandatory steps of the real chain."""

    conditions_never_held: Literal["warn", "fail"] = Field(
        default="warn",
        description="A check with when: whose condition held for no case of this run judged "
        "nothing: warn (listed, does not fail the gate) or fail.",
    )
    mandatory_steps: Annotated[list[JudgedBy], Field(min_length=1)] | None = Field(
        default=None,
        description="A requirement marked mandatory_step: true in spec.yaml must be judged, "
        "in this run, by a check of at least one of these kinds: [trace, call] asks that a "
        "trace check (the agent's spans) or a call check (a stubbed service's log) saw the "
        "step happen, not only its outcome in the state or the reply.",
    )


class DriftGate(Gate):
    """Every requirement a drift run judges holds at every length up to `min_length`."""

    min_length: Annotated[int, Field(ge=0, le=400)] = Field(
        description="The length (filler turns before the probe) every requirement must hold "
        "up to: the drift run's shortest length passes and no length up to this one is "
        "degraded; the drift run must have played a length at least this long."
    )


class Minimums(Model):
    """A minimum per requirement severity; a severity left out is not judged."""

    critical: Share | None = None
    major: Share | None = None
    minor: Share | None = None

    def minimum(self, severity: str) -> float | None:
        try:
            value = getattr(self, Severity(severity).value)
        except ValueError:
            return None
        return None if value is None else float(value)


class LoadGate(Gate):
    """The load runs of the group (the newest of each profile): each requirement's pass rate at
    every load level at least its severity's minimum, and the pass rate at the peak level
    against the lowest level's."""

    min_pass_rate: Minimums = Field(
        default_factory=lambda: Minimums(critical=1.0, major=1.0, minor=1.0),
        description="The smallest pass rate a requirement may have at any load level of a load "
        "run, by its severity (a conversation passes for a requirement when every check of "
        "that requirement passes in it; an error is never a pass). Default: 1.0 for every "
        "severity (every check under load holds, as the load run's own exit code asks); a "
        "severity left out of a mapping given here is not judged.",
    )
    tolerance: Share = Field(
        default=0.0,
        description="How far the pass rate at peak may fall below the one at low load.",
    )
    beyond_noise: bool = Field(
        default=True,
        description="Count a drop only when it is beyond noise (Fisher's exact test on the "
        "two levels' trials, p < 0.05); false: any drop larger than the tolerance fails.",
    )


class FaultsGate(Gate):
    """R_fault per requirement (its pass rate under a fault profile over its pass rate clean,
    capped at 1) in the finished faulted runs of the group (harness run --faults NAME)."""

    min_r_fault: Minimums = Field(
        description="The smallest R_fault a requirement may have, by its severity (e.g. "
        "critical: 1.0, major: 0.9); a severity left out is not judged."
    )
    bound: Literal["estimate", "lower"] = Field(
        default="estimate",
        description="Compare R_fault's estimate with the minimum, or (stricter) the lower end "
        "of its 95% interval.",
    )
    beyond_noise: bool = Field(
        default=True,
        description="Fail only when the requirement also degrades beyond noise under the "
        "profile (one-sided Fisher, Holm-corrected); below the minimum within noise is a "
        "finding, and with too few trials to tell it is not measured. false: any R_fault "
        "below the minimum fails.",
    )


def _switch(value: Any) -> str | None:
    """Which form a gate's value has, so that a wrong value gets one clear error."""
    if isinstance(value, bool):
        return "on-off"
    return "settings" if isinstance(value, dict | Gate) else None


def _switched(settings: type[Gate]) -> Discriminator:
    return Discriminator(
        _switch,
        custom_error_type="gate_value",
        custom_error_message="expected true, false or a mapping of the gate's settings "
        f"({', '.join(settings.model_fields)})",
    )


Toggle = Annotated[
    Annotated[bool, Tag("on-off")] | Annotated[Gate, Tag("settings")], _switched(Gate)
]
CoverageToggle = Annotated[
    Annotated[bool, Tag("on-off")] | Annotated[CoverageGate, Tag("settings")],
    _switched(CoverageGate),
]
LoadToggle = Annotated[
    Annotated[bool, Tag("on-off")] | Annotated[LoadGate, Tag("settings")], _switched(LoadGate)
]


class Gates(Model):
    reliability: RateGate | None = Field(
        default=None, description="Minimum pass^k per requirement, by severity."
    )
    capability: RateGate | None = Field(
        default=None, description="Minimum pass@1 per requirement, by severity."
    )
    invariants: Toggle = Field(
        default=False, description="No invariant violated (or unjudged) in any case or sweep."
    )
    regressions: Toggle = Field(
        default=False, description="No saved regression case still failing."
    )
    coverage: CoverageToggle = Field(
        default=False,
        description="Every requirement has a check and was judged in the run; every check "
        "names a requirement.",
    )
    load: LoadToggle = Field(
        default=False,
        description="The load runs of the same group (the newest of each profile): every "
        "requirement's pass rate at every load level >= its severity's minimum (default 1.0), "
        "and the pass rate at the profile's peak >= at low load.",
    )

    drift: DriftGate | None = Field(
        default=None,
        description="Long-task drift: every requirement holds at every length up to "
        "min_length in a drift run of the same group (harness drift --group, or --with).",
    )

    faults: FaultsGate | None = Field(
        default=None,
        description="Robustness under faults: R_fault per requirement, by severity, in the "
        "finished faulted runs of the group (harness run --faults NAME --group, or --with).",
    )

    def toggle(self, name: Literal["invariants", "regressions"]) -> Gate | None:
        """The gate if it is on: `true` is a required gate with default settings."""
        value: bool | Gate = getattr(self, name)
        if value is True:
            return Gate()
        return value or None

    def coverage_gate(self) -> CoverageGate | None:
        if self.coverage is True:
            return CoverageGate()
        return self.coverage or None

    def load_gate(self) -> LoadGate | None:
        if self.load is True:
            return LoadGate()
        return self.load or None


class PolicyFile(FileModel):
    title: str = Field(description="What is being signed off, e.g. 'Refund desk release'.")
    description: str | None = None
    k: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=5,
        description="pass^k is judged at this k; the run needs at least k trials per case "
        "(harness run --trials k).",
    )
    gates: Gates


def load_policy(path: Path) -> PolicyFile:
    """Read and validate a policy file; every problem at once, as a ConfigError (exit 2)."""
    if not path.is_file():
        raise ConfigError(
            f"{path}: no such policy file",
            hint="pass --policy path/to/policy.yaml (the demo has scenarios/refund_desk/"
            "policy.yaml; its schema is schemas/policy.schema.json)",
        )
    source, problems = load_yaml(path)
    if source is None or problems:
        raise ConfigError(problems)
    policy, problems = validate_model(source, PolicyFile)
    if policy is None:
        raise ConfigError(problems)
    if not _any_gate(policy.gates):
        raise ConfigError(
            [source.problem(("gates",), "no gate is switched on, so nothing would be checked")]
        )
    return policy


def _any_gate(gates: Gates) -> bool:
    toggles = [gates.toggle(n) for n in ("invariants", "regressions")]
    return any(
        [
            gates.reliability,
            gates.capability,
            gates.load_gate(),
            gates.coverage_gate(),
            gates.drift,
            gates.faults,
            *toggles,
        ]
    )
