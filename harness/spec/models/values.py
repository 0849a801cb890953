"""Value generators: the models of `vars`, setup values and seed columns.

Each model is one generator kind; what it draws, in a run and in a hunt, is defined
once, in harness/generate/spaces.py.
"""

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from harness.empty import empty_dict, empty_list
from harness.spec.clock import DurationError, holiday_text, parse_duration
from harness.spec.models.base import Model

Scalar = Decimal | int | float | bool | str | None


class FakerGen(Model):
    """A realistic value from a faker provider, e.g. `{faker: name, locale: de_DE}`."""

    faker: str
    args: list[Any] = Field(default_factory=empty_list)
    kwargs: dict[str, Any] = Field(default_factory=empty_dict)
    locale: str | None = None
    locales: list[str] | None = Field(
        default=None,
        description="Locales to pick from (a hunt searches across them): names, addresses "
        "and formats of other countries.",
    )


class ChoiceGen(Model):
    choice: list[Any] = Field(min_length=1)
    weights: list[float] | None = None

    @model_validator(mode="after")
    def _same_length(self) -> "ChoiceGen":
        if self.weights is not None and len(self.weights) != len(self.choice):
            raise ValueError("weights needs one number per choice")
        return self


class IntegerGen(Model):
    integer: Annotated[list[int | str], Field(min_length=2, max_length=2)]


class DecimalGen(Model):
    decimal: Annotated[list[Decimal | int | str], Field(min_length=2, max_length=2)]
    places: int = 2


class DaysAgoGen(Model):
    """A date this many days before today (a list is an inclusive random range)."""

    days_ago: int | str | Annotated[list[int | str], Field(min_length=2, max_length=2)]


class RefGen(Model):
    """A value of a row seeded earlier, e.g. `{ref: customers.id}` (seed data only)."""

    ref: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")]


class SequenceGen(Model):
    """A unique per-row value, e.g. `{sequence: "SKU-{n:05d}"}`."""

    sequence: str


Edge = Literal["below", "at", "above", "zero", "negative", "huge"]
AmountFormat = Literal[
    "point",  # 1234.50
    "comma",  # 1234,50
    "thousands_comma_point",  # 1,234.50
    "thousands_point_comma",  # 1.234,50
    "thousands_space_comma",  # 1 234,50
    "euro_prefix",  # €1234.50
    "whole",  # 1234 (only when the amount has no cents)
]
Trap = Literal[
    "none",
    "nfc",
    "nfd",
    "strip_accents",
    "lower",
    "upper",
    "title",
    "spaces",
    "zero_width",
    "rtl_mark",
    "confusable",
    "emoji",
    "long",
    "empty",
    "whitespace_only",
    "mixed_case",
]
Pool = Literal["names", "names_plain", "names_hard", "hostile", "injections"]
DateEdgeKind = Literal[
    "today", "yesterday", "month_start", "month_end", "year_start", "year_end", "leap_day"
]
TimeEdgeKind = Literal["midnight", "before_midnight", "after_midnight", "noon", "end_of_day"]
DateFormat = Literal["iso", "us", "eu", "dotted", "short_us", "short_eu", "long"]


class BoundaryGen(Model):
    """Values at the edge of a spec parameter, so a spec change moves the tests with it.

    For an amount of 500.00: below 499.99, at 500.00, above 500.01 (the step is the
    parameter's smallest unit), and on request zero, negative and huge values."""

    boundary: str = Field(description="Name of a spec parameter.")
    edges: Annotated[list[Edge], Field(min_length=1)] = Field(
        default_factory=lambda: list[Edge](["below", "at", "above"])
    )
    step: Decimal | None = Field(default=None, description="Default: 0.01 for amounts, else 1.")
    margin: str | None = Field(
        default=None,
        description="For a duration parameter: how far below and above it (default 1m). The "
        "agent reads its clock after the harness, so give it the time a case takes.",
    )

    @field_validator("margin")
    @classmethod
    def _margin(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) <= dt.timedelta(0):
            raise ValueError("a margin is longer than zero")
        return value


class FormatGen(Model):
    """A number written as customers write it: decimal comma, thousands separators, €."""

    amount_text: str = Field(description="Template giving the number, e.g. {{ vars.amount }}.")
    formats: Annotated[list[AmountFormat], Field(min_length=1)] = Field(
        default_factory=lambda: list[AmountFormat](
            ["point", "comma", "thousands_comma_point", "thousands_point_comma"]
        )
    )
    places: int = 2


class TrapGen(Model):
    """A text with one trap applied: Unicode forms, case, spacing, invisible characters..."""

    text_trap: str = Field(description="Template giving the text to transform.")
    traps: Annotated[list[Trap], Field(min_length=1)] = Field(
        default_factory=lambda: list[Trap](["none", "nfd", "lower", "upper"])
    )


class DateEdgeGen(Model):
    """The most recent calendar edge: where date arithmetic breaks (kept relative on replay)."""

    date_edge: DateEdgeKind | Annotated[list[DateEdgeKind], Field(min_length=1)]


class TimeEdgeGen(Model):
    """A moment at a day boundary in a timezone: the edges timezone arithmetic gets wrong."""

    time_edge: TimeEdgeKind | Annotated[list[TimeEdgeKind], Field(min_length=1)]
    timezones: str | Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: [
            "UTC",
            "Europe/Berlin",
            "America/Los_Angeles",
            "Asia/Tokyo",
            "Pacific/Kiritimati",
        ]
    )
    days_ago: int = 0


class DateTextGen(Model):
    """A date written as people write it: "12/01" means December or January depending on who."""

    date_text: str = Field(description="Template giving the date, e.g. {{ order.ordered_on }}.")
    formats: Annotated[list[DateFormat], Field(min_length=1)] = Field(
        default_factory=lambda: list[DateFormat](["iso", "eu", "us", "dotted", "long"])
    )


def _durations(value: Any) -> Any:
    """Duration text is checked when the suite loads; a template is checked when drawn. A
    range runs from its first length to its second: a reversed one is a mistake, refused."""
    lengths = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and "{{" not in item:
            try:
                lengths.append(parse_duration(item))
            except DurationError as exc:
                raise ValueError(str(exc)) from None
    if isinstance(value, list) and len(lengths) == 2 and lengths[0] > lengths[1]:
        raise ValueError(
            f"the range [{value[0]}, {value[1]}] is reversed: write it from the shorter "
            f"(or earlier) to the longer, [{value[1]}, {value[0]}]"
        )
    return value


Durations = Annotated[
    str | Annotated[list[str], Field(min_length=2, max_length=2)], AfterValidator(_durations)
]


class DurationGen(Model):
    """A length of time, e.g. `{duration: 1h30m}`; a list is a random range to the second."""

    duration: Durations


class MomentGen(Model):
    """A moment relative to now, e.g. `{in: 23h57m}` (`-2h`: in the past; a list is a random
    range to the second), at a wall-clock time, on a slot grid and on a business day, in a
    timezone. Kept relative: a replay next month means the same moment."""

    in_: Durations = Field(alias="in", description="How far from now: 24h, 1h30m, -2h, 3d.")
    timezone: str = Field(default="UTC", description="The zone of `at`, the grid and the day.")
    at: str | None = Field(
        default=None,
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$",
        description="The wall-clock time (HH:MM) on the day `in` lands on.",
    )
    align: str | None = Field(
        default=None, description="Slot length, e.g. 15m: the next slot start at or after."
    )
    business_days: bool = Field(
        default=False,
        description="A moment on a weekend or holiday moves to the next business day, "
        "at the same wall-clock time.",
    )
    holidays: list[dt.date | str] = Field(
        default_factory=empty_list,
        description="Days that are no business days: YYYY-MM-DD, or MM-DD for every year.",
    )

    @field_validator("align")
    @classmethod
    def _slot(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) <= dt.timedelta(0):
            raise ValueError("a slot is longer than zero")
        return value

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: list[dt.date | str]) -> list[dt.date | str]:
        for day in value:
            holiday_text(day)
        return value


DstEdgeKind = Literal["gap", "fold", "fold_later", "noon"]


class DstGen(Model):
    """A local time at a daylight-saving transition of a timezone: `gap` a time that does not
    exist (02:30 as 02:00 jumps to 03:00), `fold` and `fold_later` the first and second of
    the times that occur twice, `noon` that day's ordinary noon (a control)."""

    dst: DstEdgeKind | Annotated[list[DstEdgeKind], Field(min_length=1)]
    timezones: str | Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: ["Europe/Berlin", "America/New_York", "Australia/Sydney"]
    )
    which: Literal["next", "previous"] = Field(
        default="next", description="The zone's next transition from now, or its previous one."
    )


class PoolGen(Model):
    """One value from a built-in pool of realistic hard inputs, simplest first."""

    pool: Pool


# order matters: a stored time_edge also carries days_ago, so time_edge is tried first
GENERATOR_KEYS = (
    "time_edge",
    "faker",
    "choice",
    "integer",
    "decimal",
    "days_ago",
    "ref",
    "sequence",
    "boundary",
    "amount_text",
    "text_trap",
    "pool",
    "date_edge",
    "date_text",
    "duration",
    "in",
    "dst",
)


def _generator_tag(value: Any) -> str:
    if isinstance(value, BaseModel):
        fields = {f.alias or n for n, f in type(value).model_fields.items()}
        return next(k for k in GENERATOR_KEYS if k in fields)
    if isinstance(value, dict):
        for key in GENERATOR_KEYS:
            if key in value:
                return key
        return "mapping"
    return "literal"


ValueSpec = Annotated[
    Annotated[FakerGen, Tag("faker")]
    | Annotated[ChoiceGen, Tag("choice")]
    | Annotated[IntegerGen, Tag("integer")]
    | Annotated[DecimalGen, Tag("decimal")]
    | Annotated[DaysAgoGen, Tag("days_ago")]
    | Annotated[RefGen, Tag("ref")]
    | Annotated[SequenceGen, Tag("sequence")]
    | Annotated[BoundaryGen, Tag("boundary")]
    | Annotated[FormatGen, Tag("amount_text")]
    | Annotated[TrapGen, Tag("text_trap")]
    | Annotated[PoolGen, Tag("pool")]
    | Annotated[DateEdgeGen, Tag("date_edge")]
    | Annotated[TimeEdgeGen, Tag("time_edge")]
    | Annotated[DateTextGen, Tag("date_text")]
    | Annotated[DurationGen, Tag("duration")]
    | Annotated[MomentGen, Tag("in")]
    | Annotated[DstGen, Tag("dst")]
    | Annotated[Scalar | list[Any], Tag("literal")],
    Discriminator(_generator_tag),
]
