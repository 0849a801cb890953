"""A toxic on a link as the suite writes it (`LinkFault`): the part a case's fault
(spec/models/faults.py) and a load's fault window (spec/load.py) share. A module of its own
below both: spec/load.py is imported while the models package loads, so it cannot import
from that package."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from harness.empty import empty_dict, empty_list
from harness.faults.toxics import ATTRIBUTES, Kind, Stream, Toxic
from harness.spec.loader import did_you_mean

#: a problem a fault's own validator finds: where in the fault (its key), what it says, and
#: whether it is an unknown name written as a key (the loader points at the key)
Found = tuple[tuple[str | int, ...], str, bool]
#: an error type the loader points at the key itself (an unknown name written as a key)
UNKNOWN_NAME = "unknown_name"

LinkName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]


class LinkFault(BaseModel):
    """One toxic on one link (a dependency the agent reaches), with Toxiproxy's names and
    units; where and when it applies is the subclass's (a case's turns, a load's timeline)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    link: LinkName = Field(description="The dependency whose link suffers it (its name).")
    toxic: Kind = Field(
        description="latency, bandwidth, timeout, reset_peer, slow_close, slicer, limit_data, "
        "or down (connections refused)."
    )
    stream: Stream = Field(
        default="downstream",
        description="downstream: dependency -> agent; upstream: agent -> dependency.",
    )
    toxicity: Annotated[float, Field(ge=0, le=1)] = Field(
        default=1.0, description="The share of connections it hits (drawn from the seed)."
    )
    attributes: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=empty_dict,
        description="Toxiproxy's attributes: latency {latency, jitter} ms, bandwidth {rate} "
        "KB/s, timeout {timeout} ms, reset_peer {timeout} ms, slow_close {delay} ms, slicer "
        "{average_size, size_variation, delay us}, limit_data {bytes}.",
    )
    after_sent: str | None = Field(
        default=None,
        max_length=1000,
        description="Not in Toxiproxy: a regex (Python, DOTALL) the agent's bytes on a "
        "connection must match before the toxic starts on it: downstream with the answer to "
        "them, upstream with the agent's next bytes. '(?i)insert into refunds.*commit' resets "
        "the link after PostgreSQL committed the refund, losing only its answer.",
    )
    accept_status: list[Annotated[StrictInt, Field(ge=300, le=599)]] = Field(
        default_factory=empty_list,
        description="HTTP statuses the agent may answer a turn with while this fault is on "
        "(a turn sent while it is applied; under load, one in flight inside its window): such "
        "a turn is recorded with its status and judged by the checks ({{ statuses.N }}, "
        "{{ fault.accepted }}); the same status with no such fault on is the agent's error.",
    )
    times: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Not in Toxiproxy: the most connections it acts on while applied (in "
        "accept order; with after_sent, the first whose bytes match). times: 1 is a one-off "
        "blip: the agent's retry on a new connection is left alone.",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem(cls, data: Any, handler: Any) -> Any:
        # every problem of the fault at once, each at its key: a misspelt attribute does not
        # hide a window without its start (a subclass's `problems`)
        fault = handler(data)
        found = fault.problems()
        if not found:
            return fault
        raise ValidationError.from_exception_data(
            cls.__name__,
            [
                InitErrorDetails(
                    type=PydanticCustomError(UNKNOWN_NAME if kind else "value_error", message),
                    loc=loc,
                    input=data,
                )
                for loc, message, kind in found
            ],
        )

    def problems(self) -> list[Found]:
        """(where, what, whether it is an unknown key) for each problem; none: it is valid.
        Its bounds (a slicer's sizes, down's toxicity, unknown attributes) are refused here,
        at the suite's line, not halfway through a run."""
        known = ATTRIBUTES[self.toxic]
        unknown = [a for a in self.attributes if a not in known]
        found: list[Found] = []
        for name in unknown:
            found.append(
                (
                    ("attributes", name),
                    f"{self.toxic} has no attribute {name!r}{did_you_mean(name, known)}; it has: "
                    + (", ".join(known) or "none"),
                    True,
                )
            )
        if not unknown:
            try:
                self.as_toxic("check")
            except ValidationError as exc:
                found.extend(
                    ((), str(e["msg"]).removeprefix("Value error, "), False) for e in exc.errors()
                )
            except ValueError as exc:
                found.append(((), str(exc), False))
        return found

    def as_toxic(self, name: str) -> Toxic:
        """The toxic the proxy applies, named `name` (unique on its link)."""
        return Toxic(
            kind=self.toxic,
            name=name,
            stream=self.stream,
            toxicity=self.toxicity,
            attributes=dict(self.attributes),
            after_sent=self.after_sent,
            times=self.times,
        )
