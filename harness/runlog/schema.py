"""The run log's JSON Schemas (manifest.json, each line of cases.jsonl), generated from its
models and published beside the suite schemas: the log is a documented interface."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from harness.runlog.models import SCHEMA_VERSION, AnyRecord, Manifest

FILES: dict[str, Any] = {"run-manifest": Manifest, "run-record": AnyRecord}


def log_schemas() -> dict[str, dict[str, Any]]:
    out = {}
    for name, model in FILES.items():
        schema = TypeAdapter(model).json_schema(mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://harness.dev/schemas/{name}.schema.json"
        schema["description"] = (
            f"harness run log, schema version {SCHEMA_VERSION}: "
            + ("reports/<run-id>/manifest.json" if name == "run-manifest"
               else "one line of reports/<run-id>/cases.jsonl")
        )  # fmt: skip
        out[name] = schema
    return out
