"""The published JSON Schemas are the models' own, and the demo suite's files pass them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from harness.spec.schema import schemas
from tests.helpers import DEMO, ROOT


@pytest.mark.parametrize("name", sorted(schemas()))
def test_committed_schema_is_current(name: str) -> None:
    committed = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
    assert committed == schemas()[name], "run `harness schema --out schemas` and commit"


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("suite", DEMO / "suite.yaml"),
        ("spec", DEMO / "spec.yaml"),
        ("invariants", DEMO / "invariants.yaml"),
        *(("scenarios", p) for p in sorted((DEMO / "scenarios").glob("*.yaml"))),
    ],
)
def test_demo_files_pass_the_published_schemas(name: str, path: Path) -> None:
    validator = jsonschema.Draft202012Validator(schemas()[name])
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []
