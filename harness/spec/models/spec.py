"""spec.yaml: named parameters and the requirements with stable ids."""

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from harness.empty import empty_dict, empty_list
from harness.spec.clock import is_duration
from harness.spec.models.base import REQUIREMENT_ID, FileModel, Model
from harness.spec.severity import Severity


class Parameter(Model):
    """A named number or setting of the spec; checks and generators refer to it by name."""

    value: Decimal | int | str | bool
    unit: str | None = None
    description: str | None = None
    kind: Literal["amount", "count", "days", "seconds", "duration", "text", "flag"] | None = Field(
        default=None,
        description="What the value measures; generators derive boundaries from it. A "
        "duration is written with units: 24h, 1h30m.",
    )

    @model_validator(mode="after")
    def _duration(self) -> "Parameter":
        if self.kind == "duration" and not is_duration(self.value):
            raise ValueError(
                f"a duration parameter is written with units (24h, 1h30m), not {self.value!r}"
            )
        return self


class Requirement(Model):
    id: Annotated[str, Field(pattern=REQUIREMENT_ID, description="Stable id such as RD-001.")]
    title: str
    text: str
    severity: Severity
    parameters: list[str] = Field(default_factory=empty_list)
    mandatory_step: bool = Field(
        default=False,
        description="A step of the real chain that must happen (a compliance, auth or "
        "validation call): the sign-off's coverage gate can ask for a trace or call check.",
    )


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
    ] = Field(
        default_factory=empty_dict, description="name: value, or name: {value, unit, kind, ...}"
    )
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
