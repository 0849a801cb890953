"""The base models every suite file is made of, and the id patterns they share."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

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
