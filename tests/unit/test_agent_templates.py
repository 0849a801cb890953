"""The agent's request templates (http's login, open, turn request, close; openai's fields)
are rendered in ONE case's context, so each is checked against every scenario's own names:
a scenario that cannot render one is refused when the suite loads, at the template's
path:line:col, naming the scenario and the fix, never an error in each of its cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.spec.suite import load_suite
from tests.helpers import config_problems, harness

SPEC = """title: Desk
version: "1"
parameters:
  limit: {value: 5, kind: count}
requirements:
  - {id: D-1, title: t, severity: major, text: t}
"""
CHECK = {"type": "contains", "requirements": ["D-1"], "value": "x"}
BOOKING = {
    "id": "booking",
    "title": "a customer books",
    "vars": {"form": {"choice": [{"said": "2pm", "hm": "14:00"}, {"said": "noon", "hm": "12:00"}]}},
    "setup": {"customer": {"table": "customers", "values": {"customer_no": "C-1"}}},
    "turns": ["book {{ vars.form.said }}"],
    "checks": [CHECK],
}
TIMES = {
    "id": "times",
    "title": "anyone asks the opening times",
    "vars": {"form": {"choice": [{"said": "today"}, {"said": "now"}]}},
    "turns": ["when are you open?"],
    "checks": [CHECK],
}


def desk(root: Path, http: dict[str, Any], *scenarios: tuple[str, dict[str, Any]]) -> Path:
    """A small suite of an http agent and one scenario file per (file stem, scenario)."""
    folder = root / "desk"
    (folder / "scenarios").mkdir(parents=True)
    (folder / "schema.sql").write_text(
        "create table customers (id serial primary key, customer_no text);\n"
    )
    suite = {
        "name": "desk",
        "environment": {
            "dependencies": {"db": {"kind": "postgres", "schema": ["schema.sql"]}},
            "agent": {"http": {"url": "http://127.0.0.1:9/chat", **http}},
        },
    }
    (folder / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    (folder / "spec.yaml").write_text(SPEC)
    for stem, scenario in scenarios:
        text = yaml.safe_dump({"scenarios": [scenario]}, sort_keys=False)
        (folder / "scenarios" / f"{stem}.yaml").write_text(text)
    return folder


def _line(path: Path, text: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if text in t)


def test_an_open_body_reading_a_row_one_scenario_lacks_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    opened = {
        "open": {"url": "http://127.0.0.1:9/open", "body": {"no": "{{ customer.customer_no }}"}}
    }
    folder = desk(tmp_path, opened, ("b", BOOKING), ("t", TIMES))
    (problem,) = config_problems(folder)
    line = _line(folder / "suite.yaml", "{{ customer.customer_no }}")
    assert problem.startswith(f"{folder / 'suite.yaml'}:{line}:"), problem
    assert "environment.agent.http.open.body.no:" in problem
    assert "scenario `times` (" in problem and "t.yaml:" in problem
    assert "has no setup row `customer`" in problem
    assert (
        "add a setup row `customer` to it, or use `{{ customer.customer_no | default(...) }}`"
        in problem
    )
    # the exit code and the message of `harness validate`
    proc = harness("validate", str(folder))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "scenario `times`" in proc.stdout + proc.stderr


def test_a_name_read_under_default_or_present_in_every_scenario_passes(tmp_path: Path) -> None:
    guarded = {
        "login": {"url": "http://127.0.0.1:9/login", "body": {"said": "{{ vars.form.said }}"}},
        "open": {
            "url": "http://127.0.0.1:9/open",
            "body": {"no": "{{ customer.customer_no | default('walk-in') }}"},
        },
        "headers": {"X-Hm": "{{ vars.form.hm | default('') }}"},
    }
    load_suite(desk(tmp_path, guarded, ("b", BOOKING), ("t", TIMES)))


def test_turn_request_close_and_var_fields_are_checked_per_scenario(tmp_path: Path) -> None:
    http = {
        "headers": {"X-Hm": "{{ vars.form.hm }}"},  # times' options have no hm
        "close": {"url": "http://127.0.0.1:9/close/{{ vars.only_here }}"},
        "body": {
            "message": "{{ turn.text }}",
            "who": "{{ vars.form.said | default(customer.id) }}",
        },
    }
    booking = {**BOOKING, "vars": {**BOOKING["vars"], "only_here": "x"}}
    folder = desk(tmp_path, http, ("b", booking), ("t", TIMES))
    problems = config_problems(folder)
    assert len(problems) == 3, problems
    by_key = {p.split(": ")[1]: p for p in problems}
    assert (
        "has an option of vars.form without the field `hm`"
        in by_key["environment.agent.http.headers.X-Hm"]
    )
    assert (
        "has no var `only_here`; declare vars.only_here in it"
        in by_key["environment.agent.http.close.url"]
    )
    # a default covers the name it follows, not a name given to a filter
    assert "has no setup row `customer`" in by_key["environment.agent.http.body.who"]
    assert all("scenario `times`" in p for p in problems)


def test_every_lacking_scenario_is_named_in_one_problem(tmp_path: Path) -> None:
    opened = {"open": {"url": "http://127.0.0.1:9/o/{{ customer.customer_no }}"}}
    others = [(f"t{k}", {**TIMES, "id": f"times{k}"}) for k in range(3)]
    (problem,) = config_problems(desk(tmp_path, opened, ("b", BOOKING), *others))
    assert "scenario `times0` (" in problem and "so do `times1` (" in problem
    assert "`times2` (" in problem and "booking" not in problem.split("but ")[1]
