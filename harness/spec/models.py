"""The suite format: pydantic models for every file of a suite folder.

A suite folder holds `suite.yaml` (name, defaults, environment, agent),
`spec.yaml` (parameters and requirements), `invariants.yaml` (optional) and
`scenarios/*.yaml`. The JSON Schema of each file is generated from these models
(`harness schema`), so editors can complete and check them.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from harness.spec.load import LoadSection

REQUIREMENT_ID = r"^[A-Z][A-Z0-9]*-[0-9]+$"
SLUG = r"^[a-z0-9][a-z0-9_.-]*$"
Slug = Annotated[str, Field(pattern=SLUG, max_length=120)]
RequirementIds = Annotated[list[Annotated[str, Field(pattern=REQUIREMENT_ID)]], Field(min_length=1)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FileModel(Model):
    """A whole file; top-level `x-...` keys hold YAML anchors to reuse and are ignored."""

    @model_validator(mode="before")
    @classmethod
    def _drop_extensions(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))
            }
        return data


# --------------------------------------------------------------------------- spec.yaml


class Parameter(Model):
    """A named number or setting of the spec; checks and generators refer to it by name."""

    value: Decimal | int | str | bool
    unit: str | None = None
    description: str | None = None
    kind: Literal["amount", "count", "days", "seconds", "text", "flag"] | None = Field(
        default=None, description="What the value measures; generators derive boundaries from it."
    )


class Requirement(Model):
    id: Annotated[str, Field(pattern=REQUIREMENT_ID, description="Stable id such as RD-001.")]
    title: str
    text: str
    severity: Literal["critical", "major", "minor"]
    parameters: list[str] = Field(default_factory=list)


class SpecFile(FileModel):
    title: str
    version: str | None = None
    description: str | None = None
    parameters: dict[
        str,
        Annotated[
            Parameter,
            BeforeValidator(
                lambda v: v if isinstance(v, dict | Parameter) else {"value": v},
                json_schema_input_type=Parameter | Decimal | int | str | bool,
            ),
        ],
    ] = Field(default_factory=dict, description="name: value, or name: {value, unit, kind, ...}")
    requirements: list[Requirement] = Field(min_length=1)

    @field_validator("parameters")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.match(r"^[a-z_][a-z0-9_]*$", name):
                raise ValueError(f"parameter name {name!r} must be snake_case")
        return value

    def parameter_values(self) -> dict[str, Any]:
        return {k: v.value for k, v in self.parameters.items()}


# --------------------------------------------------------------------------- value generators

Scalar = Decimal | int | float | bool | str | None


class FakerGen(Model):
    """A realistic value from a faker provider, e.g. `{faker: name, locale: de_DE}`."""

    faker: str
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
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
    def _same_length(self) -> ChoiceGen:
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
Persona = Literal[
    "plain", "polite", "terse", "rambling", "shouting", "typos", "out_of_order", "change_of_mind"
]
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
)


def _generator_tag(value: Any) -> str:
    if isinstance(value, BaseModel):
        return next(k for k in GENERATOR_KEYS if k in type(value).model_fields)
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
    | Annotated[Scalar | list[Any], Tag("literal")],
    Discriminator(_generator_tag),
]


# --------------------------------------------------------------------------- checks


class CheckBase(Model):
    id: Annotated[str, Field(pattern=SLUG)] | None = Field(
        default=None, description="Stable id within the scenario; defaults to type-N."
    )
    requirements: RequirementIds
    description: str | None = None
    when: str | None = Field(
        default=None,
        description=(
            "A template; the check applies only to cases where it renders true, e.g. "
            "{{ vars.amount | gt(params.approval_limit) }}."
        ),
    )


TurnSelector = int | Literal["last", "all", "any"]


class OutputCheck(CheckBase):
    turn: TurnSelector = Field(
        default="last",
        description="Which reply is judged: last, a 1-based turn number, all (every reply) or any.",
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
        if "{{" not in value:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return value


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
    database: str | None = Field(
        default=None, description="Dependency name; default: the only one."
    )
    query: str
    params: list[Any] | dict[str, Any] = Field(default_factory=list)
    expect_rows: list[dict[str, Any]] | None = None
    expect_count: int | str | None = None
    expect_value: Any = None
    expect_empty: bool | None = None
    ordered: bool = False

    @model_validator(mode="after")
    def _one_expectation(self) -> SqlCheck:
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
    database: str | None = Field(
        default=None, description="Dependency name; default: the only one."
    )
    query: str
    params: list[Any] | dict[str, Any] = Field(default_factory=list)


class RedisCheck(CheckBase):
    type: Literal["redis"]
    database: str | None = Field(
        default=None, description="Dependency name; default: the only one."
    )
    key: str
    exists: bool | None = None
    value: str | None = None
    hash: dict[str, str] | None = None
    ttl_min: int | str | None = None
    ttl_max: int | str | None = None

    @model_validator(mode="after")
    def _something(self) -> RedisCheck:
        if not ({"exists", "value", "hash", "ttl_min", "ttl_max"} & self.model_fields_set):
            raise ValueError("a redis check needs exists, value, hash, ttl_min or ttl_max")
        return self


Check = Annotated[
    EqualsCheck
    | ContainsCheck
    | NotContainsCheck
    | RegexCheck
    | JsonSchemaCheck
    | NumberCheck
    | SqlCheck
    | SameStateCheck
    | RedisCheck,
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
)


# --------------------------------------------------------------------------- scenarios


class SetupRow(Model):
    """A row the case inserts before its first turn; later templates see its columns."""

    table: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]
    values: dict[str, ValueSpec] = Field(default_factory=dict)
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
    tags: list[str] = Field(default_factory=list)
    repeat: Annotated[int, Field(ge=1, le=10_000)] = 1
    vars: dict[str, ValueSpec] = Field(default_factory=dict)
    setup: dict[str, SetupRow] = Field(default_factory=dict)
    redis_setup: list[RedisSetup] = Field(default_factory=list)
    turns: Annotated[list[str], Field(min_length=1)]
    variants: list[Annotated[list[str], Field(min_length=1)]] = Field(
        default_factory=list,
        description="Equivalent rewordings of `turns`; same_state checks compare their end states.",
    )
    personas: list[Persona] = Field(
        default_factory=list,
        description="Ways of writing each case may be told in; text from templates is kept intact.",
    )
    checks: Annotated[list[Check], Field(min_length=1)]

    @model_validator(mode="after")
    def _variants_need_same_state(self) -> Scenario:
        has_check = any(c.type == "same_state" for c in self.checks)
        if self.variants and not has_check:
            raise ValueError("variants are compared by a same_state check; add one")
        if has_check and not self.variants:
            raise ValueError("a same_state check needs variants to compare")
        return self


class ScenariosFile(FileModel):
    scenarios: Annotated[list[Scenario], Field(min_length=1)]


# --------------------------------------------------------------------------- regressions


class RegressionFile(FileModel):
    """A minimal failing case a hunt found, replayed first by every later run."""

    id: Annotated[str, Field(pattern=SLUG)]
    requirement: Annotated[str, Field(pattern=REQUIREMENT_ID)]
    requirements: RequirementIds
    scenario: Slug
    check: str = Field(description="The check this case broke when it was found.")
    signature: str = Field(description="requirement|scenario|check|verdict; de-duplicates finds.")
    breaks: list[str] = Field(
        default_factory=list, description="Every signature the case broke when it was found."
    )
    seed: int
    vars: dict[str, ValueSpec] = Field(default_factory=dict)
    setup: dict[str, dict[str, ValueSpec]] = Field(default_factory=dict)
    variant_setups: list[dict[str, dict[str, ValueSpec]]] = Field(default_factory=list)
    persona: str = "plain"
    persona_seed: int = 0
    evidence: dict[str, Any] = Field(default_factory=dict)
    found: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------- invariants


class Invariant(Model):
    """An SQL query returning the rows that violate a property of the whole database."""

    id: Slug
    requirements: RequirementIds
    description: str
    database: str | None = None
    query: str = Field(description="Returns one row per violation; no rows means it holds.")
    scope: dict[str, str] | None = Field(
        default=None,
        description=(
            "Column -> table: ties a violation to the case that inserted that row, so it is "
            "checked after every case; without scope it is checked once after the run."
        ),
    )


class InvariantsFile(FileModel):
    invariants: list[Invariant] = Field(default_factory=list)


# --------------------------------------------------------------------------- suite.yaml


class TableSeed(Model):
    table: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]
    count: Annotated[int, Field(ge=0, le=1_000_000)]
    columns: dict[str, ValueSpec]


class SeedData(Model):
    seed: int = 0
    locales: list[str] = Field(default_factory=lambda: ["en_US"])
    tables: list[TableSeed] = Field(default_factory=list)


class ExternalService(Model):
    """An existing service the external provider attaches to instead of starting one."""

    url: str = Field(
        min_length=1,
        description=(
            "e.g. postgresql://app@staging-db:5432/app; keep passwords out of suite files "
            "(HARNESS_EXTERNAL_<NAME>=URL, PGPASSWORD or ~/.pgpass)."
        ),
    )


class DependencyBase(Model):
    image: str | None = Field(default=None, description="Container image for the docker provider.")
    external: ExternalService | None = Field(
        default=None, description="Where the external provider finds this dependency."
    )
    ready_timeout: Annotated[float, Field(gt=0, le=3600)] | None = Field(
        default=None,
        description="Seconds to wait until it answers (docker default 60); for a generic "
        "container, wait.timeout wins when given.",
    )


class PostgresDependency(DependencyBase):
    kind: Literal["postgres"]
    database: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")] = "app"
    schema_files: list[str] = Field(default_factory=list, alias="schema")
    seed: SeedData | None = None


class RedisDependency(DependencyBase):
    kind: Literal["redis"]


ContainerPort = (
    Annotated[int, Field(ge=1, le=65535)]
    | Annotated[str, Field(pattern=r"^[0-9]{1,5}(/(tcp|udp))?$")]
)


class HttpWait(Model):
    path: str = "/"
    port: ContainerPort | None = Field(default=None, description="Default: the first port.")
    status: Annotated[int, Field(ge=100, le=599)] = 200


class ContainerWait(Model):
    """When a generic container counts as ready: exactly one of log, port, http, command."""

    log: str | None = Field(default=None, description="A regex its output must match.")
    times: Annotated[int, Field(ge=1)] = Field(default=1, description="Matches needed (log).")
    port: ContainerPort | None = Field(default=None, description="A server answers on it.")
    http: HttpWait | None = None
    command: list[str] | str | None = Field(
        default=None, description="Exits 0 inside it; a string runs through sh -c."
    )
    timeout: Annotated[float, Field(gt=0, le=3600)] | None = Field(
        default=None, description="Seconds; default: the dependency's ready_timeout, else 60."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ContainerWait:
        given = [k for k in ("log", "port", "http", "command") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "wait needs exactly one of log, port, http, command "
                f"(found: {', '.join(given) or 'none'})"
            )
        if self.log is not None:
            try:
                re.compile(self.log)
            except re.error as exc:
                raise ValueError(f"wait.log is not a valid regular expression: {exc}") from None
        return self


class VolumeMount(Model):
    host: str = Field(description="A file or folder, relative to the suite folder.")
    container: Annotated[str, Field(pattern=r"^/")]
    mode: Literal["ro", "rw"] = "ro"


class ContainerDependency(DependencyBase):
    """Any other service the agent uses (a compliance API, a broker), as a real image."""

    kind: Literal["container"]
    image: str = Field(min_length=1, description="The image to run (overridable like the others).")
    ports: list[ContainerPort] = Field(
        default_factory=list, description="Container ports, published on 127.0.0.1."
    )
    env: dict[str, str] = Field(default_factory=dict)
    command: list[str] | str | None = None
    volumes: list[VolumeMount] = Field(default_factory=list)
    wait: ContainerWait | None = Field(
        default=None, description="Default: a server answers on the first port."
    )
    scheme: Annotated[str, Field(pattern=r"^[a-z][a-z0-9+.-]*$")] = Field(
        default="http", description="Scheme of deps.NAME.url (host and first port)."
    )

    @model_validator(mode="after")
    def _ports_known(self) -> ContainerDependency:
        numbers = [str(p).split("/")[0] for p in self.ports]
        if len(set(numbers)) != len(numbers):
            raise ValueError("each container port may be listed once")
        needed = []
        if self.wait is not None and self.wait.port is not None:
            needed.append(self.wait.port)
        if self.wait is not None and self.wait.http is not None:
            needed.append(self.wait.http.port if self.wait.http.port is not None else "")
            if not self.ports:
                raise ValueError("an http wait needs a port: list it under ports")
        for port in needed:
            if port != "" and str(port).split("/")[0] not in numbers:
                raise ValueError(f"wait uses port {port}, which is not listed under ports")
        return self


Dependency = Annotated[
    PostgresDependency | RedisDependency | ContainerDependency, Field(discriminator="kind")
]
DEPENDENCY_KINDS = ("postgres", "redis", "container")
PROVIDERS = ("auto", "docker", "embedded", "external")


class HealthCheck(Model):
    url: str
    timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    interval: Annotated[float, Field(gt=0, le=10)] = 0.05


class AgentProcess(Model):
    """How the harness starts the agent as its own process, as it runs in production."""

    command: Annotated[list[str], Field(min_length=1)]
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    health: HealthCheck | None = None
    stop_timeout: Annotated[float, Field(gt=0, le=120)] = 5.0


class HttpAdapter(Model):
    url: str
    method: Literal["POST", "PUT", "GET"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any] | str = Field(
        default_factory=lambda: {
            "session_id": "{{ case.session_id }}",
            "message": "{{ turn.text }}",
        }
    )
    reply: str | None = Field(
        default="reply", description="Dotted path to the reply in a JSON response; null: raw body."
    )
    timeout: Annotated[float, Field(gt=0, le=3600)] = 30.0
    max_bytes: Annotated[int, Field(gt=0)] = 1_048_576
    ok_status: list[int] = Field(default_factory=lambda: [200])


class PythonAdapter(Model):
    callable: Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")] = Field(
        description="module.path:function; sync or async, called as f(message, session_id)."
    )
    path: list[str] = Field(default_factory=list, description="Folders added to sys.path.")
    env: dict[str, str] = Field(
        default_factory=dict, description="Set in os.environ before the import (e.g. URLs)."
    )
    timeout: Annotated[float, Field(gt=0, le=3600)] = 30.0
    max_bytes: Annotated[int, Field(gt=0)] = 1_048_576


class AgentConfig(Model):
    process: AgentProcess | None = None
    health: HealthCheck | None = Field(
        default=None,
        description="For an agent the harness does not start: wait for this URL before any case.",
    )
    http: HttpAdapter | None = None
    python: PythonAdapter | None = None
    version: str | None = Field(
        default=None,
        description="The agent's version, recorded with every run and shown in the sign-off; "
        "a template, e.g. '{{ env.AGENT_VERSION }}'. An agent the harness starts from a git "
        "checkout also has its commit recorded.",
    )

    @model_validator(mode="after")
    def _one_adapter(self) -> AgentConfig:
        if (self.http is None) == (self.python is None):
            raise ValueError("the agent needs exactly one adapter: http or python")
        return self


class Environment(Model):
    dependencies: dict[Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")], Dependency] = Field(
        default_factory=dict
    )
    provider: Literal["auto", "docker", "embedded", "external"] | None = Field(
        default=None,
        description="How dependencies come up; --deps and HARNESS_DEPS override it (default auto).",
    )
    agent: AgentConfig


class Defaults(Model):
    seed: int = 0
    concurrency: Annotated[int, Field(ge=1, le=1024)] = 4
    case_timeout: Annotated[float, Field(gt=0)] = 120.0
    trials: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=1,
        description="Times every case runs (fresh setup rows each time); --trials, "
        "HARNESS_TRIALS and [tool.harness] trials override it. pass^k needs k trials.",
    )


class SuiteFile(FileModel):
    name: Slug
    description: str | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    environment: Environment
    load: LoadSection | None = Field(
        default=None, description="Load profiles for harness load (see harness/spec/load.py)."
    )
