"""What the agent did on the way: trace checks (`type: span`) over the OpenTelemetry spans it
sent, call checks (`type: call`) over the requests a stubbed third-party service received,
and the order of either relative to the other."""

from typing import Annotated, Literal

from pydantic import Field, model_validator

from harness.empty import empty_dict
from harness.spec.models.base import CheckBase, Model, Regex, TurnSelector

#: an attribute, body field, query parameter or header must equal this (a string is a
#: template, rendered for the case), or match `{regex: ...}`, or be present `{exists: true}`
Scalar = str | int | float | bool | None


class ValueMatch(Model):
    regex: Regex | None = None
    contains: str | None = None
    exists: bool | None = None

    @model_validator(mode="after")
    def _one(self) -> "ValueMatch":
        given = [k for k in ("regex", "contains", "exists") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a value match needs exactly one of regex, contains, exists (found: "
                f"{', '.join(given) or 'none'})"
            )
        return self


Matcher = ValueMatch | Scalar


class Count(Model):
    min: Annotated[int, Field(ge=0)] | None = None
    max: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> "Count":
        if self.min is None and self.max is None:
            raise ValueError("count needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"count: min {self.min} is above max {self.max}")
        return self


class SpanSelector(Model):
    """Which spans: by name, by the GenAI conventions' tool name, by the sender's
    `service.name`, by attributes; all that are given must hold."""

    name: str | None = Field(default=None, description="The span's name, exactly.")
    name_regex: Regex | None = Field(default=None, description="The span's name, by regex.")
    tool: str | None = Field(
        default=None,
        description="A tool execution: the span's gen_ai.tool.name (GenAI semantic conventions).",
    )
    service: str | None = Field(default=None, description="The sender's service.name.")
    attributes: dict[str, Matcher] = Field(
        default_factory=empty_dict,
        description="Attributes that must match: a value (a template), {regex}, {contains} or "
        "{exists}.",
    )

    @model_validator(mode="after")
    def _something(self) -> "SpanSelector":
        if not (self.name or self.name_regex or self.tool or self.service or self.attributes):
            raise ValueError("a span is selected by name, name_regex, tool, service or attributes")
        return self


class CallSelector(Model):
    """Which requests a stubbed service received: all that are given must hold."""

    service: str = Field(description="The http_service dependency's name.")
    method: str | None = Field(default=None, description="GET, POST... (any when left out).")
    path: str | None = Field(default=None, description="The request's path, exactly (a template).")
    path_regex: Regex | None = None
    query: dict[str, Matcher] = Field(default_factory=empty_dict)
    headers: dict[str, Matcher] = Field(default_factory=empty_dict)
    body: dict[str, Matcher] | str | None = Field(
        default=None,
        description="A mapping: fields of the JSON body (dotted paths) that must match; "
        "text: the body must contain it (a template).",
    )
    answered: int | None = Field(
        default=None, description="Only requests the stub answered with this status."
    )


class OrderRef(Model):
    """The other step an order is judged against: a span or a call (exactly one)."""

    span: SpanSelector | None = None
    call: CallSelector | None = None

    @model_validator(mode="after")
    def _one(self) -> "OrderRef":
        if (self.span is None) == (self.call is None):
            raise ValueError("before/after names exactly one of span, call")
        return self


class ChainCheck(CheckBase):
    count: int | Count | None = Field(
        default=None, description="How many times: a number, or {min, max}; default at least once."
    )
    absent: bool = Field(default=False, description="It must not occur at all (count 0).")
    before: OrderRef | None = Field(
        default=None,
        description="Every occurrence starts before the first occurrence of this other step "
        "(judged when both occur).",
    )
    after: OrderRef | None = Field(
        default=None,
        description="Every occurrence starts after the first occurrence of this other step "
        "(which must occur).",
    )
    turn: TurnSelector = Field(
        default="any",
        description="Whose steps count: any (the whole case), last, or a 1-based turn.",
    )

    @model_validator(mode="after")
    def _absent(self) -> "ChainCheck":
        if self.absent and (self.count is not None or self.before or self.after):
            raise ValueError("absent: true stands alone (no count, before or after)")
        if self.turn == "all":
            raise ValueError("turn: all does not apply here; use any, last or a turn number")
        return self


class SpanCheck(ChainCheck, SpanSelector):
    """A span the agent sent: occurred / did not, how many times, in which order, with which
    attributes and status. A case whose agent sent no spans at all is an error, never a pass."""

    type: Literal["span"]
    status: Literal["ok", "error", "unset", "not_error", "any"] = Field(
        default="any",
        description="The span's status: not_error (ok or unset: a successful span, since "
        "OpenTelemetry leaves its status unset unless the code sets ok), ok (set explicitly), "
        "error, unset or any.",
    )


class CallCheck(ChainCheck, CallSelector):
    """A request a stubbed third-party service received (its own log, never the agent's
    account): called / not called, how many times, with what, in which order."""

    type: Literal["call"]
