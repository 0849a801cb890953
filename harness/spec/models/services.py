"""Stubbed third-party HTTP services the agent calls (an insurer, a payment provider, a
compliance or fraud API): a dependency kind (`kind: http_service`) whose answers the suite
declares per route, with sequences, latency and a default, and per scenario."""

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from harness.empty import empty_dict, empty_list
from harness.spec.models.base import DependencyBase, Model, Regex

_LATENCY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s)?\s*$")


def _seconds(value: Any) -> Any:
    """250ms, 2s, 1.5 (seconds) -> seconds as a float; other text refused saying what is
    meant (never pydantic's "should be a valid number"); other types left for the error."""
    if isinstance(value, str):
        found = _LATENCY.match(value)
        if found is None:
            shown = value if len(value) <= 40 else value[:40] + "…"
            raise ValueError(
                f"latency: seconds (1.5) or a duration such as 250ms, 2s (found {shown!r})"
            )
        number = float(found.group(1))
        return number / 1000 if found.group(2) == "ms" else number
    return value


#: seconds to wait before answering: a number, or 250ms / 2s
Latency = Annotated[
    float,
    Field(ge=0, le=600),
    BeforeValidator(_seconds, json_schema_input_type=float | str),
]

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class Response(Model):
    """One answer: status, a JSON body or a text body (templates over `request.*`, `params`,
    and the case's `vars`/`case` when the request belongs to one), headers, latency."""

    status: Annotated[int, Field(ge=100, le=599)] = 200
    json_body: Any = Field(
        default=None, alias="json", description="A JSON body (templates inside)."
    )
    body: str | None = Field(default=None, description="A text body (a template).")
    headers: dict[str, str] = Field(default_factory=empty_dict)
    latency: Latency = Field(
        default=0.0, description="Wait before answering: seconds, or 250ms, 2s."
    )
    times: Annotated[int, Field(ge=1)] = Field(
        default=1, description="In a sequence: how many requests in a row get this answer."
    )

    @model_validator(mode="after")
    def _valid(self) -> "Response":
        if self.json_body is not None and self.body is not None:
            raise ValueError("a response has json or body, not both")
        return self


class Route(Model):
    """Requests this route answers, and how: one `respond`, or a `sequence` (each answer
    `times` requests in a row, the last one repeating), counted per case."""

    method: Method | None = Field(default=None, description="Any method when left out.")
    path: str | None = Field(default=None, description="The path, exactly.")
    path_regex: Regex | None = None
    respond: Response | None = None
    sequence: Annotated[list[Response], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _valid(self) -> "Route":
        if (self.path is None) == (self.path_regex is None):
            raise ValueError("a route has exactly one of path, path_regex")
        if (self.respond is None) == (self.sequence is None):
            raise ValueError("a route has exactly one of respond, sequence")
        return self


class MatchRule(Model):
    """How a request belongs to a case without a `traceparent`: a value of the request (one of
    json, query, header, path_regex's first group) equals the case's `value` (a template)."""

    json_path: str | None = Field(
        default=None, alias="json", description="A dotted path in the JSON body."
    )
    query: str | None = None
    header: str | None = None
    path_regex: Regex | None = None
    value: str = Field(description="The case's value, e.g. {{ vars.order_id }}.")

    @model_validator(mode="after")
    def _one(self) -> "MatchRule":
        given = [k for k in ("json_path", "query", "header", "path_regex") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "match needs exactly one of json, query, header, path_regex (found: "
                f"{', '.join(given) or 'none'})"
            )
        return self


class HttpServiceDependency(DependencyBase):
    """A third-party HTTP service the agent calls, stubbed by the harness (a real HTTP server
    that answers as declared and logs every request it receives)."""

    kind: Literal["http_service"]
    routes: list[Route] = Field(default_factory=empty_list)
    default: Response = Field(
        default_factory=lambda: Response(status=404, json={"error": "no route"}),
        description="The answer to a request no route takes (default 404).",
    )
    match: Literal["traceparent"] | MatchRule | None = Field(
        default=None,
        description="How a request belongs to a case: traceparent (the agent propagates the "
        "trace context the harness sends), or a value of the case the request carries.",
    )
    max_requests: Annotated[int, Field(ge=1)] = Field(
        default=10_000, description="Requests kept in the log (the oldest are dropped beyond it)."
    )
