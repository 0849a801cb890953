"""Scenario files, regression files and invariants.yaml."""

from typing import Annotated, Any, Literal

from pydantic import Field, Tag, model_validator

from harness.empty import empty_dict, empty_list
from harness.spec.models.agents import Turn
from harness.spec.models.base import (
    REQUIREMENT_ID,
    SLUG,
    FileModel,
    Model,
    RequirementIds,
    Slug,
    by_shape,
)
from harness.spec.models.checks import Check
from harness.spec.models.drift import MAX_LENGTH, Drift, Position, User
from harness.spec.models.faults import Fault
from harness.spec.models.services import Route
from harness.spec.models.values import ValueSpec

Persona = Literal[
    "plain", "polite", "terse", "rambling", "shouting", "typos", "out_of_order", "change_of_mind"
]


# --------------------------------------------------------------------------- scenarios


TurnSpec = Annotated[
    Annotated[str, Tag("text")] | Annotated[Turn, Tag("mapping")],
    by_shape(
        "what the user says (text), or a mapping of "
        + ", ".join(info.alias or name for name, info in Turn.model_fields.items()),
        "text",
        "mapping",
    ),
]


class SetupRow(Model):
    """A row the case inserts before its first turn; later templates see its columns."""

    table: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]
    values: dict[str, ValueSpec] = Field(default_factory=empty_dict)
    database: str | None = None


class RedisSetup(Model):
    key: str
    value: str | None = None
    hash: dict[str, str] | None = None
    ttl: int | None = None
    database: str | None = None


class Scenario(Model):
    id: Slug
    title: str
    description: str | None = None
    tags: list[str] = Field(default_factory=empty_list)
    repeat: Annotated[int, Field(ge=1, le=10_000)] = 1
    vars: dict[str, ValueSpec] = Field(default_factory=empty_dict)
    setup: dict[str, SetupRow] = Field(default_factory=empty_dict)
    redis_setup: list[RedisSetup] = Field(default_factory=empty_list)
    turns: Annotated[list[TurnSpec], Field(min_length=1)] = Field(
        description="What the user says, turn by turn: text (a template), or a mapping with "
        "say, expect_status and a body of its own (raw, body, body_bytes, no_body)."
    )
    variants: list[Annotated[list[str], Field(min_length=1)]] = Field(
        default_factory=empty_list,
        description="Equivalent rewordings of `turns`; same_state checks compare their end states.",
    )
    tool_results: dict[str, Any] = Field(
        default_factory=empty_dict,
        description="For an OpenAI-compatible agent's client-side tools: the result each tool "
        "returns (a template: text, or a JSON mapping), sent back as `role: tool` messages.",
    )
    personas: list[Persona] = Field(
        default_factory=empty_list,
        description="Ways of writing each case may be told in; text from templates is kept intact.",
    )
    user: User | None = Field(
        default=None,
        description="A user who answers the agent's questions from the case's facts.",
    )
    drift: Drift | None = Field(
        default=None,
        description="Play the scenario at several lengths of filler before its probe turn "
        "(harness drift); a turn marked `probe: true` is needed.",
    )
    services: dict[str, list[Route]] = Field(
        default_factory=empty_dict,
        description="Per stubbed service (an http_service dependency): routes that answer this "
        "scenario's requests before the suite's own, e.g. the fraud screen answers reject.",
    )
    faults: list[Fault] = Field(
        default_factory=empty_list,
        description="Faults on the agent's links during this scenario's cases (Toxiproxy's "
        "toxics, by turns or for a time); such a case runs alone, so no other case shares them.",
    )
    checks: Annotated[list[Check], Field(min_length=1)]

    @model_validator(mode="after")
    def _drift_marks(self) -> "Scenario":
        marks = [t for t in self.turns if not isinstance(t, str)]
        probes = [i for i, t in enumerate(self.turns) if not isinstance(t, str) and t.probe]
        if self.drift is None:
            if any(t.remember or t.probe for t in marks):
                raise ValueError("remember and probe mark turns of a drift scenario; add drift:")
            return self
        if len(probes) != 1:
            raise ValueError(
                "a drift scenario marks exactly one turn `probe: true` (the filler goes before "
                f"it; found {len(probes)})"
            )
        late = [
            i + 1
            for i, t in enumerate(self.turns)
            if not isinstance(t, str) and t.remember and i > probes[0]
        ]
        if late:
            raise ValueError(f"turn {late[0]} is remembered after the probe; mark one before it")
        if self.variants:
            raise ValueError("a drift scenario has no variants (each length is its own case)")
        return self

    @model_validator(mode="after")
    def _variants_need_same_state(self) -> "Scenario":
        has_check = any(c.type == "same_state" for c in self.checks)
        if self.variants and not has_check:
            raise ValueError("variants are compared by a same_state check; add one")
        if has_check and not self.variants:
            raise ValueError("a same_state check needs variants to compare")
        return self


class ScenariosFile(FileModel):
    scenarios: Annotated[list[Scenario], Field(min_length=1)]


# --------------------------------------------------------------------------- regressions


class RegressionMember(Model):
    """Another case a hunt saw fail with the same root cause as the file's own."""

    scenario: Slug
    case: str
    check: str


class Flaky(Model):
    """A failure that did not come back on every replay when it was found: its rate, and
    how many trials each later run replays it with to see it again with high probability."""

    failures: Annotated[int, Field(ge=1)]
    replays: Annotated[int, Field(ge=1)]
    trials: Annotated[int, Field(ge=1, le=1000)]

    @model_validator(mode="after")
    def _rate(self) -> "Flaky":
        if self.failures > self.replays:
            raise ValueError(f"failures ({self.failures}) exceed replays ({self.replays})")
        return self

    @property
    def rate(self) -> float:
        return self.failures / self.replays


class RegressionFile(FileModel):
    """A minimal failing case a hunt found, replayed first by every later run."""

    id: Annotated[str, Field(pattern=SLUG)]
    requirement: Annotated[str, Field(pattern=REQUIREMENT_ID)]
    requirements: RequirementIds
    scenario: Slug
    check: str = Field(description="The check this case broke when it was found.")
    signature: str = Field(description="requirement|scenario|check|verdict; de-duplicates finds.")
    breaks: list[str] = Field(
        default_factory=empty_list, description="Every signature the case broke when it was found."
    )
    shape: str = Field(
        default="",
        description="requirement|check type|verdict|failure kind|differing columns: the root "
        "cause; a hunt saves one case per shape.",
    )
    shapes: list[str] = Field(
        default_factory=empty_list,
        description="The root cause (shape) of every check the case broke when it was found, "
        "as `breaks` lists them: a later hunt knows each of them as found.",
    )
    members: list[RegressionMember] = Field(
        default_factory=empty_list,
        description="Other cases (often of other scenarios) that failed with the same shape.",
    )
    flaky: Flaky | None = Field(
        default=None,
        description="Set when the failure did not reproduce on every replay: its observed "
        "rate and the trials every run replays it with.",
    )
    seed: int
    format: Literal[1, 2] = Field(
        default=1,
        description="2: vars and setup hold the case's values exactly as they were (plain "
        "YAML, never a generator), with `types` naming those YAML has no type for. 1 (files "
        "of harness 0.x before it): values were written like generators.",
    )
    vars: dict[str, Any] = Field(default_factory=empty_dict)
    setup: dict[str, dict[str, Any]] = Field(default_factory=empty_dict)
    variant_setups: list[dict[str, dict[str, Any]]] = Field(default_factory=empty_list)
    types: dict[str, Any] = Field(
        default_factory=empty_dict,
        description="Format 2: the type of each value YAML cannot say, by where it stands, "
        "e.g. {vars: {amount: decimal}, setup: {order: {ordered_on: relative}}}.",
    )
    persona: str = "plain"
    persona_seed: int = 0
    length: Annotated[int, Field(ge=0, le=MAX_LENGTH)] | None = Field(
        default=None,
        description="A drift scenario's case: the filler turns before the probe it is replayed "
        "with (a hunt saves the shortest that still fails). Absent: the scenario's shortest "
        "length, as harness run plays it.",
    )
    position: Position | None = Field(
        default=None,
        description="A drift scenario's case: where its remembered turns sit among the filler "
        "(start, middle, end). Absent: start.",
    )
    evidence: dict[str, Any] = Field(default_factory=empty_dict)
    found: dict[str, Any] = Field(default_factory=empty_dict)


# --------------------------------------------------------------------------- invariants


class Invariant(Model):
    """An SQL query returning the rows that violate a property of the whole database."""

    id: Slug
    requirements: RequirementIds
    description: str
    database: str | None = None
    query: str = Field(description="Returns one row per violation; no rows means it holds.")
    every_turn: bool = Field(
        default=False,
        description="A scoped invariant checked after every turn of a case, not only at its "
        "end: the report names the first turn after which it broke.",
    )
    scope: dict[str, str] | None = Field(
        default=None,
        description=(
            "Column -> what a case owns: a table (`orders`, or `orders.ref` for another "
            "column than id) ties a violation to the case that inserted that row; a template "
            "(`{{ case.session_id }}`, `{{ session.conversation_id }}`, `{{ reply.ticket }}`) "
            "to the case whose conversation has that value (compared as text), such as a row "
            "the agent wrote for another customer. A scoped invariant is checked after every "
            "case; without scope it is checked once after the run."
        ),
    )


class InvariantsFile(FileModel):
    invariants: list[Invariant] = Field(default_factory=empty_list)

    @model_validator(mode="after")
    def _every_turn_scoped(self) -> "InvariantsFile":
        for inv in self.invariants:
            if inv.every_turn and not inv.scope:
                raise ValueError(
                    f"invariant {inv.id}: every_turn needs a scope (the rows a case owns)"
                )
        return self
