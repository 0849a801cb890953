"""The base models every suite file is made of, and the id patterns they share."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
