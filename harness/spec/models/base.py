"""The base models every suite file is made of, and the id patterns they share."""

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, model_validator

REQUIREMENT_ID = r"^[A-Z][A-Z0-9]*-[0-9]+$"
SLUG = r"^[a-z0-9][a-z0-9_.-]*$"
Slug = Annotated[str, Field(pattern=SLUG, max_length=120)]
RequirementIds = Annotated[list[Annotated[str, Field(pattern=REQUIREMENT_ID)]], Field(min_length=1)]


def compiles(value: str) -> str:
    """A regular expression that Python compiles; otherwise the error names why."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return value


#: a regular expression, checked when the suite loads
Regex = Annotated[str, AfterValidator(compiles)]


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


Shape = Literal["text", "list", "mapping"]


def _shape(value: Any) -> Shape | None:
    if isinstance(value, dict | BaseModel):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return "text" if isinstance(value, str) else None


def by_shape(expected: str, *shapes: Shape) -> Discriminator:
    """A union whose members are tagged by the shape they take (`Tag("text")`, `Tag("list")`,
    `Tag("mapping")`), validated by the value's shape alone: a typo in a mapping is the one
    did-you-mean error of the mapping's model (not also "input should be a valid string" from
    the text member), and a value of no shape the union takes is one error saying `expected`."""

    def tag(value: Any) -> str | None:
        shape = _shape(value)
        return shape if shape in shapes else None

    return Discriminator(
        tag, custom_error_type="shape", custom_error_message=f"expected {expected}"
    )


class CheckBase(Model):
    """What every check has: an id, the requirements it judges, when it applies. A check
    type's class says what the suite's cross-checks need to know of it (class variables,
    never fields): the kind of dependency its `database` names (a check of a `postgres`
    one has a SQL `query`, rendered with `params` alone), and whether it needs a fault."""

    database_kind: ClassVar[str | None] = None
    needs_fault: ClassVar[bool] = False

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
