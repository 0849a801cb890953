"""Long-task drift: what a scenario plays at every length and position, the filler that goes
between, and a user that answers what the agent asks from the case's facts."""

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from harness.empty import empty_dict, empty_list
from harness.spec.models.base import Model, Regex

Position = Literal["start", "middle", "end"]
POSITIONS: tuple[Position, ...] = ("start", "middle", "end")
DEFAULT_LENGTHS = (0, 2, 4, 8, 16, 32)
MAX_LENGTH = 400
#: the filler pools the harness ships (harness/generate/filler.py holds their lines)
POOL_NAMES = (
    "small_talk",
    "unrelated",
    "policy_questions",
    "rephrasings",
    "topic_switches",
    "corrections",
    "distractors",
)
PoolName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]


class Drift(Model):
    """A scenario played at several lengths: `length` filler turns between what must be
    remembered (the turns marked `remember: true`) and the probe (the turn marked
    `probe: true` and every turn after it). The same case at every length and position
    uses the same inputs, so differences are the length's alone."""

    lengths: Annotated[
        list[Annotated[int, Field(ge=0, le=MAX_LENGTH)]], Field(min_length=2, max_length=32)
    ] = Field(
        default_factory=lambda: list(DEFAULT_LENGTHS),
        description="Filler turns before the probe, two or more (the shortest is the "
        "baseline), e.g. [0, 2, 4, 8, 16, 32] (the default). "
        "harness run plays the shortest only; harness drift plays every one.",
    )
    positions: Annotated[list[Position], Field(min_length=1)] = Field(
        default_factory=lambda: list(POSITIONS),
        description="Where the remembered turns sit among the filler: start (the first "
        "turns), middle, end (just before the probe). Played at `position_length`; a "
        "scenario without remembered turns plays start only.",
    )
    position_length: Annotated[int, Field(ge=0, le=MAX_LENGTH)] | None = Field(
        default=None, description="The length the positions are compared at; default the longest."
    )
    pools: list[PoolName] = Field(
        default_factory=empty_list,
        description="The filler pools drawn from (the harness's and the suite's `filler:`); "
        "default: every one.",
    )

    @field_validator("lengths")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("each length once")
        return sorted(value)

    @field_validator("positions")
    @classmethod
    def _positions(cls, value: list[Position]) -> list[Position]:
        if len(set(value)) != len(value):
            raise ValueError("each position once")
        return [p for p in POSITIONS if p in value]

    @model_validator(mode="after")
    def _position_length_on_the_curve(self) -> "Drift":
        if self.position_length is not None and self.position_length not in self.lengths:
            raise ValueError(
                f"position_length {self.position_length} is not one of the lengths "
                f"{self.lengths}: the positions are compared at a length of the curve"
            )
        return self

    @property
    def at(self) -> int:
        """The length the positions are compared at."""
        return self.position_length if self.position_length is not None else max(self.lengths)


class Answer(Model):
    """A rule of the reactive user: when the agent's last reply matches `when`, say `say`."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")] | None = Field(
        default=None, description="Shown in the conversation as the rule that answered."
    )
    when: Regex = Field(description="A regex searched in the agent's reply (case-insensitive).")
    say: str = Field(description="The answer, a template: {{ user.pin }}, {{ order.id }} ...")


class User(Model):
    """A rule-based user who holds the case's facts and answers the agent's questions from
    them, in whatever order the agent asks."""

    facts: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], str] = Field(
        default_factory=empty_dict,
        description="What the user knows, templates over the case: name, pin, order, email, "
        "phone, date ... (the built-in answers use these names).",
    )
    answers: list[Answer] = Field(
        default_factory=empty_list,
        description="The suite's own rules, tried before the built-in ones.",
    )
    defaults: bool = Field(
        default=True,
        description="Answer common questions (name, PIN, order number, email, phone, date) "
        "from facts of those names.",
    )
    max_answers: Annotated[int, Field(ge=1, le=20)] = Field(
        default=3, description="Answers in a row before the script goes on."
    )

    @model_validator(mode="after")
    def _ids(self) -> "User":
        ids = [a.id for a in self.answers if a.id is not None]
        if len(set(ids)) != len(ids):
            raise ValueError("answer ids must be distinct")
        return self
