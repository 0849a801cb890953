"""Faults on the agent's links to its dependencies (issue 15): Toxiproxy's toxics on a TCP
proxy the harness puts between the agent and a dependency, scheduled in a scenario (`faults:`),
as named profiles applied to every case of a run (`faults: profiles:` in suite.yaml,
`harness run --faults NAME`), and the `recovery` check."""

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from harness.empty import empty_dict, empty_list
from harness.spec.models.base import CheckBase, Model, Slug
from harness.spec.models.services import Latency
from harness.spec.toxics import Found, LinkFault


class Fault(LinkFault):
    """One toxic on one link for a window of a case: `from_turn`..`to_turn` (applied before
    the first is sent, removed once the last has its reply), or `after_turn` + `for`
    (applied when that turn has its reply, removed `for` seconds later); `accept_status`:
    the non-2xx answers the agent may give to a turn sent while it is on."""

    from_turn: Annotated[int, Field(ge=1)] | None = None
    to_turn: Annotated[int, Field(ge=1)] | None = None
    after_turn: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="0: from the case's start."
    )
    for_: Annotated[Latency, Field(gt=0)] | None = Field(
        default=None, alias="for", description="Seconds (3s, 500ms), more than 0."
    )

    def problems(self) -> list[Found]:
        """The toxic's problems, and its window's: each is said, whatever else is wrong."""
        found = super().problems()
        by_turns = self.from_turn is not None or self.to_turn is not None
        by_time = self.after_turn is not None or self.for_ is not None
        if by_turns and by_time:
            found.append(
                ((), "a fault's window is from_turn/to_turn or after_turn/for, not both", False)
            )
        elif by_time and (self.after_turn is None or self.for_ is None):
            found.append(((), "after_turn and for go together", False))
        if self.from_turn and self.to_turn and self.to_turn < self.from_turn:
            found.append(
                ((), f"to_turn {self.to_turn} is before from_turn {self.from_turn}", False)
            )
        return found


class FaultProfile(Model):
    """Faults applied to every case of a run (`harness run --faults NAME`), which also plays
    the same cases clean, in alternating phases, for the robustness number R_fault."""

    description: str | None = None
    faults: Annotated[list[Fault], Field(min_length=1)]
    scenarios: list[Slug] = Field(
        default_factory=empty_list, description="The scenarios it applies to; default: all."
    )


class FaultsSection(Model):
    profiles: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")], FaultProfile] = Field(
        default_factory=empty_dict, description="Fault profiles by name: --faults NAME."
    )


class RecoveryCheck(CheckBase):
    """After the case's last fault ends, the agent answers correctly again within `within`:
    `probe` is sent (in the same conversation) until its reply contains `expect`, or with
    `health: true` the agent's health URL is polled until it answers 2xx. The time it took is
    measured and reported per fault."""

    type: Literal["recovery"]
    needs_fault: ClassVar[bool] = True
    within: Latency = Field(description="Seconds allowed after the fault ends (5s, 500ms).")
    probe: str | None = Field(default=None, description="A turn (a template) sent until it passes.")
    expect: str | None = Field(
        default=None, description="Text the probe's reply must contain (in any case)."
    )
    health: bool = False
    every: Latency = Field(default=0.25, description="Seconds between attempts.")

    @model_validator(mode="after")
    def _how(self) -> "RecoveryCheck":
        if self.health == (self.probe is not None):
            raise ValueError("a recovery check has either probe (with expect) or health: true")
        if self.probe is not None and not self.expect:
            raise ValueError("a recovery probe needs expect: the text a correct reply contains")
        return self


FaultPhase = Literal["clean", "faulted"]
