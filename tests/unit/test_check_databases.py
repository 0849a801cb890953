"""A check that talks to a dependency names one of the kind its type reads (the check type's
class says which: `database_kind`), or the suite has exactly one of that kind: refused at
load otherwise, at the check's `database` key."""

from __future__ import annotations

from pathlib import Path

from harness.spec.suite import load_suite
from tests.helpers import config_problems, copy_demo

SCENARIO = """scenarios:
  - id: db-kinds
    title: Checks naming their dependency
    turns: ["Hello"]
    checks:
      - {{id: rows, type: sql, requirements: [RD-001], database: {sql_db},
         query: "select 1 as one", expect_rows: [{{one: 1}}]}}
      - {{id: key, type: redis, requirements: [RD-001], database: {redis_db},
         key: "k", exists: false}}
"""


def suite(tmp_path: Path, sql_db: str, redis_db: str) -> Path:
    root = copy_demo(tmp_path, "suite")  # the demo declares db (postgres) and cache (redis)
    text = SCENARIO.format(sql_db=sql_db, redis_db=redis_db)
    (root / "scenarios" / "90_db_kinds.yaml").write_text(text)
    return root


def test_checks_naming_a_dependency_of_their_kind_load(tmp_path: Path) -> None:
    loaded = load_suite(suite(tmp_path, "db", "cache"))
    checks = loaded.scenario("db-kinds").checks
    assert [(c.type, c.database_kind) for c in checks] == [("sql", "postgres"), ("redis", "redis")]


def test_a_check_naming_a_dependency_of_another_kind_is_refused(tmp_path: Path) -> None:
    problems = config_problems(suite(tmp_path, "cache", "db"))
    said = [p for p in problems if "90_db_kinds.yaml" in p]
    assert any("checks[0]" in p and "postgres" in p for p in said), problems
    assert any("checks[1]" in p and "redis" in p for p in said), problems
