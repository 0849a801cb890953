"""Suite validation: every problem located as path:line:col with a suggestion."""

import shutil
from pathlib import Path
from textwrap import indent

import pytest

from harness.errors import ConfigError
from harness.spec.suite import load_suite
from tests.helpers import DEMO, ROOT, config_problems, copy_demo, edit_file, python_agent


@pytest.fixture
def suite_copy(tmp_path: Path) -> Path:
    """The demo suite in the same layout (scenarios/<suite>, fixtures/) under tmp_path."""
    return copy_demo(tmp_path, "suite")


def test_demo_suite_is_valid() -> None:
    suite = load_suite(DEMO)
    assert suite.name == "refund_desk"
    assert {r.id for r in suite.spec.requirements} >= {f"RD-00{i}" for i in range(1, 10)}
    assert len(suite.spec_hash) == 64  # sha256 of spec.yaml, as sha256sum shows it


def test_typo_in_a_key_names_line_column_and_suggestion(suite_copy: Path) -> None:
    f = suite_copy / "scenarios" / "01_refunds.yaml"
    edit_file(
        f,
        '        expect_rows: [{amount: "{{ order.total }}"',
        '        expect_row: [{amount: "{{ order.total }}"',
    )
    line = next(i for i, t in enumerate(f.read_text().splitlines(), 1) if "expect_row:" in t)
    (msg,) = config_problems(suite_copy)
    assert msg.startswith(
        f"{f}:{line}:9: scenarios[0].checks[1].expect_row: unknown key 'expect_row'"
    )
    assert "did you mean 'expect_rows'?" in msg


def test_wrong_type_names_line_column(suite_copy: Path) -> None:
    f = suite_copy / "suite.yaml"
    edit_file(f, "concurrency: 4", "concurrency: four")
    (msg,) = config_problems(suite_copy)
    assert msg.startswith(f"{f}:")
    assert ": defaults.concurrency: " in msg and "valid integer" in msg and "'four'" in msg


def test_unknown_requirement_and_parameter_are_located(suite_copy: Path) -> None:
    edit_file(suite_copy / "invariants.yaml", "requirements: [RD-007]", "requirements: [RD-07]")
    edit_file(
        suite_copy / "invariants.yaml", "{{ params.approval_limit }}", "{{ params.aproval_limit }}"
    )
    found = config_problems(suite_copy)
    assert any("unknown requirement RD-07 (did you mean 'RD-007'?)" in p for p in found)
    assert any(
        "unknown spec parameter 'aproval_limit' (did you mean 'approval_limit'?)" in p
        for p in found
    )
    assert all(p.startswith(str(suite_copy / "invariants.yaml") + ":") for p in found)


def test_unknown_check_type_and_generator(suite_copy: Path) -> None:
    f = suite_copy / "scenarios" / "06_limits.yaml"
    edit_file(f, "type: not_contains", "type: not_contain")
    edit_file(f, "{faker: email}", "{fakr: email}")
    found = config_problems(suite_copy)
    assert any("unknown type 'not_contain' (did you mean 'not_contains'?)" in p for p in found)
    assert any(
        "value generator needs one of the keys" in p and "did you mean 'faker'?" in p for p in found
    )


def test_invalid_yaml_is_located(suite_copy: Path) -> None:
    f = suite_copy / "spec.yaml"
    f.write_text("title: x\nrequirements: [\n")
    (msg,) = config_problems(suite_copy)
    assert msg.startswith(f"{f}:") and "invalid YAML" in msg


def test_duplicate_keys_are_reported(suite_copy: Path) -> None:
    f = suite_copy / "suite.yaml"
    edit_file(f, "  seed: 20261126\n", "  seed: 20261126\n  seed: 1\n")
    (msg,) = config_problems(suite_copy)
    assert "duplicate key 'seed'" in msg


def test_not_a_suite_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no suite\.yaml"):
        load_suite(tmp_path)


def test_the_agent_version_is_a_template_checked_when_the_suite_loads(suite_copy: Path) -> None:
    f = suite_copy / "suite.yaml"
    edit_file(
        f, "version: \"{{ env.AGENT_VERSION | default('demo') }}\"", 'version: "{{ agnt.port }}"'
    )
    line = next(i for i, t in enumerate(f.read_text().splitlines(), 1) if "agnt.port" in t)
    (msg,) = config_problems(suite_copy)
    assert msg.startswith(f"{f}:{line}:14: environment.agent.version: {{{{ agnt.port }}}}: ")
    assert "did you mean 'agent'?" in msg


def test_a_yaml_alias_bomb_is_a_bounded_error(tmp_path: Path) -> None:
    from harness.spec.loader import load_yaml

    lines, prev = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]"], "a"
    for name in "bcdefgh":  # 9^8 values once expanded
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
        prev = name
    bomb = tmp_path / "spec.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    source, problems = load_yaml(bomb)
    assert (
        source is None
        and "expands to more than 200,000 keys and values through YAML aliases"
        in problems[0].message
    )


def test_a_session_value_no_capture_declares_is_located_with_a_suggestion(tmp_path: Path) -> None:
    """The sessions demo suite captures conversation_id at open: a turn reading a misspelt
    capture is refused before anything starts."""
    copy_demo(tmp_path)
    sessions = tmp_path / "scenarios" / "refund_desk_sessions"
    shutil.copytree(ROOT / "scenarios" / "refund_desk_sessions", sessions)
    line = edit_file(
        sessions / "suite.yaml",
        "{{ session.conversation_id }}/messages",
        "{{ session.conversation_idd }}/messages",
    )
    problems = config_problems(sessions)
    assert len(problems) == 1, problems
    assert f"suite.yaml:{line}:" in problems[0]
    assert (
        "session.conversation_idd is never captured (did you mean 'conversation_id'?)"
        in (problems[0])
    )


def _extending(suite_copy: Path, name: str, extends: str) -> Path:
    """A suite of its own agent beside suite_copy, taking everything else from `extends`
    (but the load profiles, which need an agent reached over HTTP)."""
    child = suite_copy.parent / name
    child.mkdir()
    agent = indent(python_agent("echo"), "    ")
    (child / "suite.yaml").write_text(
        f"name: {name}\nextends: {extends}\nload: null\ndefaults:\n  seed: 7\n"
        f"environment:\n  agent:\n{agent}"
    )
    return child


def test_a_typo_in_an_extending_suite_is_its_only_problem(suite_copy: Path) -> None:
    child = _extending(suite_copy, "child", "../suite")
    assert load_suite(child).spec.requirements  # the spec and scenarios are the base's
    line = edit_file(child / "suite.yaml", "  seed: 7", "  sed: 7")
    (msg,) = config_problems(child)  # and not "spec.yaml: missing" besides
    assert msg.startswith(f"{child / 'suite.yaml'}:{line}:3: defaults.sed: unknown key 'sed'")


def test_an_invalid_base_suite_yaml_hides_no_file_of_the_base(suite_copy: Path) -> None:
    child = _extending(suite_copy, "child", "../suite")
    edit_file(suite_copy / "suite.yaml", "concurrency: 4", "concurency: 4")
    (msg,) = config_problems(child)
    assert msg.startswith(f"{suite_copy / 'suite.yaml'}:") and "'concurency'" in msg


def test_a_chain_of_extends_is_one_clear_error(suite_copy: Path) -> None:
    _extending(suite_copy, "middle", "../suite")
    child = _extending(suite_copy, "child", "../middle")
    (msg,) = config_problems(child)
    assert msg.startswith(f"{child / 'suite.yaml'}:2:10: extends: ../middle extends ../suite")
    assert "a suite extends a suite that extends none" in msg


def test_an_extends_that_names_no_suite_is_one_clear_error(suite_copy: Path) -> None:
    child = _extending(suite_copy, "child", "../nowhere")
    (msg,) = config_problems(child)
    assert "../nowhere is not a suite folder" in msg


_TURNS = "    turns:\n      - *verify\n"


@pytest.mark.parametrize(
    ("turn", "where", "expected"),
    [
        (
            '{sya: "hi"}',
            "10: scenarios[0].turns[1].sya: ",
            "unknown key 'sya' (did you mean 'say'?)",
        ),
        ("5", "9: scenarios[0].turns[1]: ", "expected what the user says (text), or a mapping"),
        ("[hi]", "9: scenarios[0].turns[1]: ", "expected what the user says"),
    ],
)
def test_a_turn_is_text_or_a_mapping_and_one_error_says_what_is_wrong(
    suite_copy: Path, turn: str, where: str, expected: str
) -> None:
    """Not also "input should be a valid string" from the union's other member."""
    f = suite_copy / "scenarios" / "01_refunds.yaml"
    line = edit_file(f, _TURNS, f"{_TURNS}      - {turn}\n")
    (msg,) = config_problems(suite_copy)
    assert msg.startswith(f"{f}:{line}:{where}{expected}"), msg


@pytest.mark.parametrize(
    ("capture", "expected"),
    [
        ("{heder: X-Session}", "capture.id.heder: unknown key 'heder' (did you mean 'header'?)"),
        ('"not a path!"', "capture.id: string should match pattern"),
        ("[id]", "capture.id: expected a JSON path into the body, or {header: NAME} (got list)"),
    ],
)
def test_a_capture_is_a_path_or_a_header_and_one_error_says_what_is_wrong(
    suite_copy: Path, capture: str, expected: str
) -> None:
    f = suite_copy / "suite.yaml"
    edit_file(
        f, "      reply: reply\n", f"      reply: reply\n      capture:\n        id: {capture}\n"
    )
    (msg,) = config_problems(suite_copy)
    assert msg.startswith(f"{f}:") and f"environment.agent.http.{expected}" in msg, msg


def test_a_body_of_no_shape_a_body_takes_is_one_error(suite_copy: Path) -> None:
    f = suite_copy / "suite.yaml"
    line = edit_file(
        f,
        '      body:\n        session_id: "{{ case.session_id }}"\n'
        '        message: "{{ turn.text }}"\n',
        "      body: 42\n",
    )
    (msg,) = config_problems(suite_copy)
    assert msg == (
        f"{f}:{line}:13: environment.agent.http.body: "
        "expected a JSON body (a mapping) or text (got 42)"
    )


def test_a_misspelt_required_key_is_one_error(suite_copy: Path) -> None:
    """Its did-you-mean says it all; "missing required key 'title'" is not listed besides."""
    f = suite_copy / "scenarios" / "01_refunds.yaml"
    line = edit_file(f, "    title: A verified customer", "    titel: A verified customer")
    (msg,) = config_problems(suite_copy)
    assert msg == f"{f}:{line}:5: scenarios[0].titel: unknown key 'titel' (did you mean 'title'?)"


def _with_json_schema(root: Path, schema: str) -> Path:
    """The echo suite with a json_schema check whose schema is the given YAML flow mapping."""
    suite = root / "echo"
    shutil.copytree(Path(__file__).parents[1] / "suites" / "echo", suite)
    scenarios = suite / "scenarios" / "echo.yaml"
    scenarios.write_text(
        scenarios.read_text()
        + f"      - type: json_schema\n        requirements: [EC-001]\n        schema: {schema}\n"
    )
    return suite


def test_a_json_schema_is_checked_against_the_metaschema_it_declares(tmp_path: Path) -> None:
    """Draft 4's boolean exclusiveMinimum is valid where the schema says draft 4, invalid under
    the default (draft 2020-12); an unknown $schema is refused, naming the ones known."""
    draft4 = (
        '{$schema: "http://json-schema.org/draft-04/schema#", minimum: 3, exclusiveMinimum: true}'
    )
    load_suite(_with_json_schema(tmp_path / "a", draft4))
    (msg,) = config_problems(
        _with_json_schema(tmp_path / "b", "{minimum: 3, exclusiveMinimum: true}")
    )
    assert ".schema.exclusiveMinimum: not a valid JSON Schema (https://json-schema.org/" in msg
    assert "True is not of type 'number'" in msg
    (msg,) = config_problems(
        _with_json_schema(tmp_path / "c", '{$schema: "https://example.com/mine"}')
    )
    assert ".schema.$schema: unknown metaschema 'https://example.com/mine'; use one of " in msg
    assert "http://json-schema.org/draft-07/schema" in msg
