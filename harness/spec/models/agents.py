"""How the harness talks to the agent: an HTTP API (one URL, or conversations with captures,
cookies and streams), an OpenAI-compatible chat endpoint, or a Python callable."""

from typing import Annotated, Any, Literal

from pydantic import Field, Tag, field_validator, model_validator

from harness.empty import empty_dict, empty_list
from harness.spec.models.base import Model, Regex, by_shape

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Statuses = Annotated[list[Annotated[int, Field(ge=100, le=599)]], Field(min_length=1)]
#: a JSON path: dotted keys with [n] indexes, negative from the end (messages[-1].content)
JSON_PATH = r"^[A-Za-z0-9_$@-]+(\[-?[0-9]+\])*(\.[A-Za-z0-9_$@-]+(\[-?[0-9]+\])*)*$|^\[-?[0-9]+\]"
JsonPath = Annotated[str, Field(pattern=JSON_PATH, description="e.g. messages[-1].content")]


def _statuses(value: Any) -> Any:
    return [value] if isinstance(value, int) else value


class HeaderCapture(Model):
    """A value taken from a response header, optionally the first group of a pattern."""

    header: str = Field(min_length=1)
    pattern: Regex | None = Field(
        default=None, description="A regex; its first group (else the whole match) is taken."
    )


Capture = Annotated[
    Annotated[JsonPath, Tag("text")] | Annotated[HeaderCapture, Tag("mapping")],
    by_shape("a JSON path into the body, or {header: NAME}", "text", "mapping"),
]
#: a JSON body (a mapping or a list, templates inside)
JsonBody = Annotated[
    Annotated[dict[str, Any], Tag("mapping")] | Annotated[list[Any], Tag("list")],
    by_shape("a JSON body: a mapping or a list", "mapping", "list"),
]
#: a request's JSON body or its text
Body = Annotated[
    Annotated[dict[str, Any], Tag("mapping")]
    | Annotated[list[Any], Tag("list")]
    | Annotated[str, Tag("text")],
    by_shape("a JSON body (a mapping or a list) or text", "mapping", "list", "text"),
]
Captures = dict[Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")], Capture]


class Request(Model):
    """A request around the turns: a login (token), opening or closing a conversation."""

    method: Method = "POST"
    url: str
    headers: dict[str, str] = Field(default_factory=empty_dict)
    body: Body | None = Field(
        default=None, description="JSON (a mapping or list) or text (a string); none: no body."
    )
    expect_status: Annotated[Statuses, Field(description="Statuses that mean it worked.")] = Field(
        default_factory=lambda: [200, 201, 204]
    )
    capture: Captures = Field(
        default_factory=empty_dict,
        description="NAME: a JSON path into the body, or {header: NAME}.",
    )

    @field_validator("expect_status", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _statuses(value)


class StreamSpec(Model):
    """A reply that arrives as a stream of events, assembled into one reply."""

    format: Literal["sse", "ndjson"]
    mode: Literal["join", "last"] = Field(
        default="join",
        description="join: concatenate each event's delta (OpenAI chunks); last: the last "
        "event is the reply (LangGraph values).",
    )
    delta: JsonPath | None = Field(
        default=None,
        description="join: the path of each event's piece of text; last: the path of the text "
        "in the last event. Default: the event's data as text.",
    )
    data: JsonPath | None = Field(
        default=None,
        description="Where the reply's JSON is in the last event (what `field` checks and "
        "{{ reply.* }} read). Default: the whole last event.",
    )
    event: str | None = Field(default=None, description="SSE: keep only events of this name.")
    done: str | None = Field(
        default="[DONE]", description="SSE data that ends the stream; null: only its end does."
    )
    idle_timeout: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=10.0, description="Seconds allowed between two chunks before it is an error."
    )


class RetryAfter(Model):
    max_wait: Annotated[float, Field(ge=0, le=600)] = Field(
        default=10.0, description="Seconds a case may wait in all for 429 Retry-After answers."
    )


class HttpAdapter(Model):
    url: str
    method: Method = "POST"
    headers: dict[str, str] = Field(default_factory=empty_dict)
    body: Annotated[
        Annotated[dict[str, Any], Tag("mapping")] | Annotated[str, Tag("text")],
        by_shape("a JSON body (a mapping) or text", "mapping", "text"),
    ] = Field(
        default_factory=lambda: {
            "session_id": "{{ case.session_id }}",
            "message": "{{ turn.text }}",
        }
    )
    reply: JsonPath | None = Field(
        default="reply", description="JSON path of the reply's text; null: the raw body."
    )
    usage: JsonPath | None = Field(
        default=None,
        description="JSON path of the reply's token counts (prompt_tokens or input_tokens, "
        "completion_tokens or output_tokens, total_tokens); absent or malformed: no usage.",
    )
    timeout: Annotated[float, Field(gt=0, le=3600)] = 30.0
    max_bytes: Annotated[int, Field(gt=0)] = 1_048_576
    ok_status: Statuses = Field(default_factory=lambda: [200])
    login: Request | None = Field(
        default=None, description="Once per conversation, first: e.g. a token to capture."
    )
    open: Request | None = Field(
        default=None, description="Once per conversation, before its first turn."
    )
    close: Request | None = Field(
        default=None, description="On every way out of a case; recorded, not judged."
    )
    capture: Captures = Field(
        default_factory=empty_dict,
        description="Values taken from every turn's reply that has them.",
    )
    cookies: bool = Field(default=True, description="A cookie jar of its own per conversation.")
    retry_after: RetryAfter = Field(default_factory=RetryAfter)
    stream: StreamSpec | None = None

    @field_validator("ok_status", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _statuses(value)

    @model_validator(mode="after")
    def _reply_or_stream(self) -> "HttpAdapter":
        if self.stream is not None and "reply" in self.model_fields_set:
            raise ValueError(
                "reply is not used when the reply is a stream: stream.delta says where the "
                "text is (join: each event's piece of it; last: its path in the last event), "
                "stream.data where the reply's JSON is"
            )
        return self


class Price(Model):
    input: Annotated[float, Field(ge=0)] = Field(description="Per 1,000 prompt tokens.")
    output: Annotated[float, Field(ge=0)] = Field(description="Per 1,000 completion tokens.")
    currency: str = "USD"


class OpenAIAdapter(Model):
    """An OpenAI-compatible chat endpoint; the harness keeps each conversation's messages."""

    base_url: str = Field(description="e.g. http://127.0.0.1:8000/v1 (chat/completions is added)")
    model: str
    api_key_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = Field(
        default=None, description="The environment variable holding the API key (masked)."
    )
    system: str | None = Field(default=None, description="A system prompt, first message.")
    stream: bool = False
    params: dict[str, Any] = Field(default_factory=empty_dict, description="Extra body fields.")
    user: str | None = Field(
        default="{{ case.session_id }}", description="OpenAI's `user` field; null: not sent."
    )
    headers: dict[str, str] = Field(default_factory=empty_dict)
    max_tool_rounds: Annotated[int, Field(ge=0, le=50)] = 5
    retry_after: RetryAfter = Field(default_factory=RetryAfter)
    timeout: Annotated[float, Field(gt=0, le=3600)] = 60.0
    max_bytes: Annotated[int, Field(gt=0)] = 1_048_576
    idle_timeout: Annotated[float, Field(gt=0, le=3600)] = 30.0
    prices: dict[str, Price] = Field(default_factory=empty_dict, description="Per model name.")


class PythonAdapter(Model):
    callable: Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")] = Field(
        description="module.path:function; sync or async, called as f(message, session_id)."
    )
    path: list[str] = Field(default_factory=empty_list, description="Folders added to sys.path.")
    env: dict[str, str] = Field(
        default_factory=empty_dict, description="Set in os.environ before the import (e.g. URLs)."
    )
    timeout: Annotated[float, Field(gt=0, le=3600)] = 30.0
    max_bytes: Annotated[int, Field(gt=0)] = 1_048_576


class Turn(Model):
    """One turn written as a mapping: what to say, and what the turn's contract expects."""

    say: str | None = Field(default=None, description="The message (a template).")
    expect_status: Statuses | None = Field(
        default=None, description="Statuses this turn accepts; its answer is judged by checks."
    )
    raw: str | None = Field(default=None, description="Send exactly this body (a template).")
    body: JsonBody | None = Field(
        default=None, description="Send this JSON body instead of the adapter's (templates)."
    )
    body_bytes: Annotated[int, Field(ge=0, le=100_000_000)] | None = Field(
        default=None, description="Send a body of this many bytes."
    )
    no_body: bool = Field(default=False, description="Send no body at all.")
    remember: bool = Field(
        default=False,
        description="Drift: this turn states what must be remembered (moved by `positions`).",
    )
    probe: bool = Field(
        default=False,
        description="Drift: the probe starts here; the filler goes before it.",
    )

    @field_validator("expect_status", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _statuses(value)

    @model_validator(mode="after")
    def _one_body(self) -> "Turn":
        given = [k for k in ("raw", "body", "body_bytes") if getattr(self, k) is not None] + (
            ["no_body"] if self.no_body else []
        )
        if len(given) > 1:
            raise ValueError(f"a turn sends one body: {', '.join(given)} are given")
        return self

    @property
    def text(self) -> str:
        return self.say or ""
