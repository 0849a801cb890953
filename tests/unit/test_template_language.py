"""The template language as the README documents it: `join`, the `then` conditional,
`default` over a missing name, arity checked at load; vars that use setup rows, made in the
order their references need, cycles refused with their path; paired values checked field by
field; a broken regression file left out and reported while the rest of the suite loads."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.run import regressions
from harness.run.plan import plan_case
from harness.spec.relative import DateText, DaysAgo
from harness.spec.suite import load_suite
from harness.spec.template import Template, TemplateError, format_value
from tests.helpers import config_problems

# ------------------------------------------------------------------ filters and the conditional


def render(source: str, **context: Any) -> Any:
    return Template(source).render(context)


def test_join_writes_a_list_with_a_separator() -> None:
    assert (
        render("{{ vars.x | join(' / ') }}", vars={"x": ["a", 2, Decimal("1.50")]})
        == "a / 2 / 1.50"
    )
    assert render("{{ vars.x | join }}", vars={"x": ["a", "b"]}) == "a, b"
    with pytest.raises(TemplateError, match="join needs a list"):
        render("{{ vars.x | join }}", vars={"x": "ab"})


def test_then_picks_one_of_two_values_by_a_condition() -> None:
    tpl = "{{ vars.amount | gt(params.limit) | then('needs approval', 'approved') }}"
    assert render(tpl, vars={"amount": "500.01"}, params={"limit": "500"}) == "needs approval"
    assert render(tpl, vars={"amount": "500.00"}, params={"limit": "500"}) == "approved"
    # a value or nothing; the values may be names too
    assert render("Hi{{ vars.vip | then(' dear') }}", vars={"vip": False}) == "Hi"
    assert render("{{ vars.vip | then(vars.a, vars.b) }}", vars={"vip": "yes", "a": 1, "b": 2}) == 1


def test_and_or_join_two_conditions() -> None:
    tpl = "{{ texts.2 | contains('confirmed') | and(vars.member) }}"
    assert render(tpl, texts={"2": "Confirmed: C12"}, vars={"member": True}) is True
    assert render(tpl, texts={"2": "Confirmed: C12"}, vars={"member": False}) is False
    assert render(tpl, texts={"2": "Sorry"}, vars={"member": True}) is False
    either = "{{ vars.vip | or(vars.staff) | not }}"
    assert render(either, vars={"vip": False, "staff": "no"}) is True
    assert render(either, vars={"vip": False, "staff": "yes"}) is False


def test_contains_asks_whether_a_text_holds_another_ignoring_case() -> None:
    tpl = "{{ replies.2.reply | contains('has been issued') }}"
    said = {"2": {"reply": "Refund of 10.00 EUR for order #4 HAS BEEN ISSUED."}}
    assert render(tpl, replies=said) is True
    assert render(tpl, replies={"2": {"reply": "I could not complete it."}}) is False
    # a reply field the agent left out reads as no text, under default
    tpl = "{{ reply.reply | default('') | contains('issued') | not }}"
    assert render(tpl, reply={}) is True


def test_default_stands_in_for_a_missing_or_empty_value() -> None:
    assert render("{{ reply.note | default('none') }}", reply={}) == "none"
    assert render("{{ reply.a.b | default('none') | upper }}", reply={"a": None}) == "NONE"
    assert render("{{ reply.note | default('none') }}", reply={"note": ""}) == "none"
    assert render("{{ reply.note | default('none') }}", reply={"note": "kept"}) == "kept"
    with pytest.raises(TemplateError, match=r"reply\.note is not defined"):
        render("{{ reply.note | upper }}", reply={})


def test_a_filter_with_the_wrong_number_of_arguments_is_refused_when_parsed() -> None:
    with pytest.raises(TemplateError, match="'then' takes 1 to 2 argument"):
        Template("{{ vars.x | then }}")
    with pytest.raises(TemplateError, match="'upper' takes 0 argument"):
        Template("{{ vars.x | upper(1) }}")


def test_values_are_inserted_never_evaluated() -> None:
    """What the agent or a pool gives (`{{ 7*7 }}`, a filter's syntax) is text, whatever it
    looks like, also through the conditional."""
    hostile = "{{ 7*7 }} | upper {{ params.secret }}"
    ctx = {"reply": {"text": hostile, "ok": hostile}, "params": {"secret": "s3cret"}}
    assert Template("said: {{ reply.text }}").render(ctx) == f"said: {hostile}"
    assert Template("{{ reply.ok | then(reply.text) }}").render(ctx) == hostile
    assert (
        Template("{{ reply.text | json }}").render(ctx) == '"{{ 7*7 }} | upper {{ params.secret }}"'
    )


# ------------------------------------------------------------------ vars that use setup rows

SUITE = """name: booking
environment:
  dependencies:
    db: {kind: postgres, schema: [schema.sql]}
  agent:
    python: {callable: "tests.agents.echo:echo", path: ["../../.."]}
"""
SPEC = """title: Booking
version: "1"
parameters:
  notice: {value: 24, kind: count}
requirements:
  - {id: BK-1, title: t, severity: major, text: t}
"""


def suite_with(root: Path, scenario: dict[str, Any]) -> Path:
    folder = root / "booking"
    (folder / "scenarios").mkdir(parents=True)
    (folder / "schema.sql").write_text("create table slots (id serial primary key);\n")
    (folder / "suite.yaml").write_text(SUITE)
    (folder / "spec.yaml").write_text(SPEC)
    scenario = {
        "id": "s",
        "title": "t",
        "turns": ["hi"],
        "checks": [{"type": "contains", "requirements": ["BK-1"], "value": "x"}],
        **scenario,
    }
    text = yaml.safe_dump({"scenarios": [scenario]}, sort_keys=False)
    (folder / "scenarios" / "s.yaml").write_text(text)
    return folder


def test_a_var_uses_a_setup_rows_value_and_a_later_var(tmp_path: Path) -> None:
    folder = suite_with(
        tmp_path,
        {
            "vars": {
                "said": "on {{ vars.written }}",  # a var declared later: made after it
                "written": {"date_text": "{{ booking.starts_on }}", "formats": ["iso"]},
            },
            "setup": {
                "booking": {
                    "table": "slots",
                    "values": {"starts_on": {"days_ago": [2, 9]}, "ref": "{{ vars.said }}"},
                }
            },
        },
    )
    suite = load_suite(folder)
    case = plan_case(suite, suite.scenarios[0], 0, seed=1)
    start = case.setup["booking"]["starts_on"]
    assert isinstance(start, DaysAgo)
    # the day's text stays relative: replayed next month it still names the row's day
    assert case.vars["written"] == DateText(start, "iso")
    assert format_value(case.vars["written"]) == start.resolve().isoformat()
    assert case.vars["said"] == f"on {start.resolve().isoformat()}"
    assert case.setup["booking"]["ref"] == "{{ vars.said }}"  # rendered when inserted
    again = plan_case(suite, suite.scenarios[0], 0, seed=1)
    assert (again.vars, again.setup) == (case.vars, case.setup)  # replays exactly


def test_a_cycle_between_vars_is_refused_with_its_path(tmp_path: Path) -> None:
    folder = suite_with(
        tmp_path,
        {
            "vars": {
                "a": "{{ vars.b }}",
                "b": {"text_trap": "{{ booking.note }}"},
            },
            "setup": {"booking": {"table": "slots", "values": {"note": "x{{ vars.a }}"}}},
        },
    )
    (problem,) = config_problems(folder)
    assert "s.yaml:" in problem and "scenarios[0].vars.a:" in problem
    assert "vars.a depends on itself: vars.a -> vars.b -> booking.note -> vars.a" in problem


def test_a_var_cannot_use_a_column_the_database_assigns(tmp_path: Path) -> None:
    folder = suite_with(
        tmp_path,
        {
            "vars": {"ref": "B-{{ booking.id }}"},
            "setup": {"booking": {"table": "slots", "values": {"note": "x"}}},
        },
    )
    (problem,) = config_problems(folder)
    assert "vars.ref uses booking.id, which the database gives only when the row is" in problem
    assert "(booking.note)" in problem


def test_paired_values_are_checked_field_by_field(tmp_path: Path) -> None:
    form = {"choice": [{"said": "2pm", "hm": "14:00"}, {"said": "noon", "hm": "12:00"}]}
    folder = suite_with(
        tmp_path,
        {"vars": {"form": form}, "turns": ["at {{ vars.form.sayd }}", "{{ vars.form.hm }}"]},
    )
    (problem,) = config_problems(folder)
    assert "vars.form has no field 'sayd' (did you mean 'said'?); its fields: hm, said" in problem
    ok = suite_with(tmp_path / "ok", {"vars": {"form": form}, "turns": ["at {{ vars.form.said }}"]})
    suite = load_suite(ok)
    case = plan_case(suite, suite.scenarios[0], 0, seed=3)
    assert case.vars["form"] in form["choice"]


# ------------------------------------------------------------------ broken regression files

REGRESSION = """id: {rid}
requirement: BK-1
requirements: [BK-1]
scenario: s
check: contains-1
signature: BK-1|s|contains-1|fail
seed: 5
"""


def test_regression_files_of_earlier_versions_load_and_broken_ones_are_named(
    tmp_path: Path,
) -> None:
    form = {"choice": [{"said": "2pm", "hm": "14:00"}]}
    folder = suite_with(
        tmp_path,
        {"vars": {"form": form, "since": {"days_ago": [1, 5]}}, "turns": ["{{ vars.form.said }}"]},
    )
    regs = folder / "regressions"
    regs.mkdir()
    # as a hunt of the version before saved a choice of mappings (format 1)
    old = (
        REGRESSION.format(rid="old")
        + 'vars:\n  form: {said: 2pm, hm: "14:00"}\n  since: {days_ago: 3}\n'
    )
    (regs / "old.yaml").write_text(old)
    # a value that reads as a generator: not a value a case can hold
    generator = REGRESSION.format(rid="generator") + "vars:\n  form: {faker: name}\n"
    (regs / "generator.yaml").write_text(generator)
    (regs / "gone.yaml").write_text(
        REGRESSION.format(rid="gone").replace("scenario: s", "scenario: x")
    )
    (regs / "garbage.yaml").write_text("id: [unclosed\n")
    suite = load_suite(folder)  # no ConfigError: the suite itself is fine
    saved = regressions.known(suite)
    (case,) = saved.cases
    assert case.id == "regression:old"
    assert case.vars == {"form": {"said": "2pm", "hm": "14:00"}, "since": DaysAgo(3)}
    reasons = {Path(p.path).stem: str(p) for p in saved.unreadable}
    assert set(reasons) == {"generator", "gone", "garbage"}
    assert "generator.yaml:" in reasons["generator"] and "vars.form" in reasons["generator"]
    assert "holds concrete values, not a value generator ({faker: ...})" in reasons["generator"]
    assert "scenario 's' no longer exists" not in reasons["gone"]
    assert "scenario 'x' no longer exists" in reasons["gone"]
    assert "invalid YAML" in reasons["garbage"]


def test_a_saved_format_2_file_keeps_types_and_reads_as_values(tmp_path: Path) -> None:
    declared = {
        "form": {"choice": [{"faker": "name"}]},
        "at": {"days_ago": 1},
        "amount": {"decimal": ["1", "2"]},
        "since": {"days_ago": 2},
    }
    folder = suite_with(tmp_path, {"vars": declared})
    regs = folder / "regressions"
    regs.mkdir()
    (regs / "new.yaml").write_text(
        REGRESSION.format(rid="new")
        + "format: 2\n"
        + "vars: {form: {faker: name}, at: '2026-03-29', amount: '500.01', since: {days_ago: 4}}\n"
        + "types: {vars: {at: date, amount: decimal, since: relative}}\n"
    )
    (regs / "wrong.yaml").write_text(
        REGRESSION.format(rid="wrong")
        + "format: 2\nvars: {amount: 'five'}\ntypes: {vars: {amount: decimal}}\n"
    )
    saved = regressions.known(load_suite(folder))
    # a mapping with a generator's key is a value in format 2, never a generator
    (case,) = saved.cases
    assert case.vars == {
        "form": {"faker": "name"},
        "at": dt.date(2026, 3, 29),
        "amount": Decimal("500.01"),
        "since": DaysAgo(4),
    }
    (problem,) = saved.unreadable
    assert "wrong.yaml:" in str(problem) and "vars.amount" in str(problem)
    assert "'five' is not a decimal number" in str(problem)
