"""JSON Schemas of the suite files, generated from the models so they never drift."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from harness.spec.models import InvariantsFile, ScenariosFile, SpecFile, SuiteFile
from harness.spec.policy import PolicyFile

FILES: dict[str, type[BaseModel]] = {
    "suite": SuiteFile,
    "spec": SpecFile,
    "scenarios": ScenariosFile,
    "invariants": InvariantsFile,
    "policy": PolicyFile,  # harness signoff --policy
}


def schemas() -> dict[str, dict[str, Any]]:
    out = {}
    for name, model in FILES.items():
        schema = model.model_json_schema(by_alias=True)
        # top-level x-... keys hold YAML anchors and are ignored (models.FileModel)
        schema["patternProperties"] = {"^x-": {}}
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://harness.dev/schemas/{name}.schema.json"
        out[name] = schema
    return out


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, schema in schemas().items():
        path = folder / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
