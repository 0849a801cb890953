"""Checks: the oracles of a scenario, each tied to the requirements it judges."""

from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from harness.empty import empty_list
from harness.spec.models.agents import JsonPath
from harness.spec.models.base import CheckBase, TurnSelector, compiles


class OutputCheck(CheckBase):
    turn: TurnSelector = Field(
        default="last",
        description="Which reply is judged: last, a 1-based turn number, all (every reply) or any.",
    )
    field: JsonPath | None = Field(
        default=None,
        description="Judge this field of the reply's JSON (e.g. state, tool_calls[0].id) "
        "instead of its text.",
    )


class EqualsCheck(OutputCheck):
    type: Literal["equals"]
    value: str
    ignore_case: bool = False


class ContainsCheck(OutputCheck):
    type: Literal["contains"]
    value: str | Annotated[list[str], Field(min_length=1)]
    ignore_case: bool = True


class NotContainsCheck(OutputCheck):
    type: Literal["not_contains"]
    value: str | Annotated[list[str], Field(min_length=1)]
    ignore_case: bool = True


class RegexCheck(OutputCheck):
    type: Literal["regex", "not_regex"]
    pattern: str
    ignore_case: bool = True

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return value if "{{" in value else compiles(value)  # a template: checked rendered


class JsonSchemaCheck(OutputCheck):
    type: Literal["json_schema"]
    json_schema: dict[str, Any] = Field(alias="schema")


class NumberCheck(OutputCheck):
    type: Literal["number"]
    expect: Decimal | int | str
    pattern: str | None = Field(
        default=None,
        description="Regex whose first group holds the number; default: the first number.",
    )
    tolerance: Decimal = Decimal(0)
    decimal_comma: bool = False


class SqlCheck(CheckBase):
    """A query against the real database after the case, and what it must return."""

    type: Literal["sql"]
    database_kind: ClassVar[str | None] = "postgres"
    database: str | None = Field(
        default=None, description="Dependency name; default: the only one."
    )
    query: str
    params: list[Any] | dict[str, Any] = Field(default_factory=empty_list)
    expect_rows: list[dict[str, Any]] | None = None
    expect_count: int | str | None = None
    expect_value: Any = None
    expect_empty: bool | None = None
    ordered: bool = False
    every_turn: bool = Field(
        default=False,
        description="Judge after every turn, not only at the end: the report names the "
        "first turn after which it broke.",
    )

    @model_validator(mode="after")
    def _one_expectation(self) -> "SqlCheck":
        given = [
            n
            for n in ("expect_rows", "expect_count", "expect_value", "expect_empty")
            if n in self.model_fields_set
        ]
        if len(given) != 1:
            raise ValueError(
                "an sql check needs exactly one of expect_rows, expect_count, expect_value, "
                f"expect_empty (found: {', '.join(given) or 'none'})"
            )
        return self


class SameStateCheck(CheckBase):
    """Metamorphic: every rewording in the scenario's `variants` must leave the same rows.

    The query runs after the scenario's own turns and after each variant (each on its
    own fresh rows); the rows it returns must be equal, compared as sets of values."""

    type: Literal["same_state"]
    database_kind: ClassVar[str | None] = "postgres"
    database: str | None = Field(
        default=None, description="Dependency name; default: the only one."
    )
    query: str
    params: list[Any] | dict[str, Any] = Field(default_factory=empty_list)


class RedisCheck(CheckBase):
    type: Literal["redis"]
    database_kind: ClassVar[str | None] = "redis"
    database: str | None = Field(
        default=None, description="Dependency name; default: the only one."
    )
    key: str
    exists: bool | None = None
    value: str | None = None
    hash: dict[str, str] | None = None
    ttl_min: int | str | None = None
    ttl_max: int | str | None = None
    every_turn: bool = Field(
        default=False,
        description="Judge after every turn, not only at the end: the report names the "
        "first turn after which it broke.",
    )

    @model_validator(mode="after")
    def _something(self) -> "RedisCheck":
        if not ({"exists", "value", "hash", "ttl_min", "ttl_max"} & self.model_fields_set):
            raise ValueError("a redis check needs exists, value, hash, ttl_min or ttl_max")
        return self


from harness.spec.models.chain import CallCheck, SpanCheck  # noqa: E402  (they build on CheckBase)
from harness.spec.models.faults import RecoveryCheck  # noqa: E402

Check = Annotated[
    EqualsCheck
    | ContainsCheck
    | NotContainsCheck
    | RegexCheck
    | JsonSchemaCheck
    | NumberCheck
    | SqlCheck
    | SameStateCheck
    | RedisCheck
    | SpanCheck
    | CallCheck
    | RecoveryCheck,
    Field(discriminator="type"),
]

CHECK_TYPES = (
    "equals",
    "contains",
    "not_contains",
    "regex",
    "not_regex",
    "json_schema",
    "number",
    "sql",
    "same_state",
    "redis",
    "span",
    "call",
    "recovery",
)
