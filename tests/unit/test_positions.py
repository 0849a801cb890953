"""Where a database's error in a suite's query stands in the suite file: a character of a
value placed in its YAML file (block scalars, folding, quotes), through the template it was
rendered from, and back from the statement psycopg sent (placeholders converted)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg._queries import PostgresQuery
from psycopg.adapt import Transformer

from harness.run.sqlerrors import sent_offset
from harness.spec.loader import load_yaml
from harness.spec.positions import template_offset, value_position

WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzé_0123456789(),.*<>='", min_size=1, max_size=8)
LINES = st.lists(st.lists(WORDS, min_size=1, max_size=5).map(" ".join), min_size=1, max_size=6)


def _at(path: Path, line: int, col: int) -> str:
    return path.read_text(encoding="utf-8").splitlines()[line - 1][col - 1]


@settings(max_examples=60, deadline=None)
@given(lines=LINES, indent=st.integers(5, 10), extra=st.lists(st.integers(0, 3), min_size=6))
def test_every_character_of_a_block_scalar_is_placed_where_it_is_written(
    tmp_path_factory: object, lines: list[str], indent: int, extra: list[int]
) -> None:
    """A literal block, each line indented further at random: every non-space character of
    the parsed value is found at the line and column value_position names."""
    path = Path(str(tmp_path_factory.mktemp("pos"))) / "s.yaml"  # type: ignore[attr-defined]
    body = "".join(
        " " * (indent + (extra[i] if i else 0)) + text + "\n" for i, text in enumerate(lines)
    )
    path.write_text("checks:\n  - query: |\n" + body, encoding="utf-8")
    source, problems = load_yaml(path)
    assert source is not None and not problems
    loc = ("checks", 0, "query")
    value = source.data["checks"][0]["query"]
    for offset, ch in enumerate(value):
        if not ch.isspace():
            assert _at(path, *value_position(source, loc, offset)) == ch, (offset, value)


def test_folded_plain_and_quoted_scalars_place_their_characters(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "a: >-\n  select x\n  from tickts\n"
        "b: select y\n  from tickts\n"
        'c: "select z from tickts"\n'
        "d: 'it''s from tickts'\n"
    )
    source, _ = load_yaml(path)
    assert source is not None
    for key in "abcd":
        value = source.data[key]
        line, col = value_position(source, (key,), value.index("tickts"))
        assert path.read_text().splitlines()[line - 1][col - 1 :].startswith("tickts"), key


def test_an_offset_in_a_rendered_template_is_placed_in_the_template() -> None:
    template = "select * from t where total > {{ params.limit | money }} and ownr = 1"
    context = {"params": {"limit": "7"}}
    rendered = template.replace("{{ params.limit | money }}", "7.00")
    assert template_offset(template, context, rendered.index("ownr")) == template.index("ownr")
    assert template_offset(template, context, rendered.index("7.00") + 2) == template.index("{{")
    assert template_offset(template, context, 3) == 3


@given(
    st.lists(
        st.sampled_from(["select ", "x", " = ", "%s", "%(a)s", "%(b)s", "%%", "é", "\n"]),
        max_size=20,
    )
)
def test_an_offset_in_what_psycopg_sent_is_placed_in_the_query_as_written(
    pieces: list[str],
) -> None:
    """psycopg itself converts the query: every character of what it sends that comes from
    the query's own text maps back to that same character."""
    named = any(p.startswith("%(") for p in pieces)
    if named:  # psycopg takes one style or the other
        pieces = ["%(a)s" if p == "%s" else p for p in pieces]
    text = "".join(pieces)
    converted = PostgresQuery(Transformer())
    converted.convert(text, {"a": 1, "b": 2} if named else [1] * pieces.count("%s"))
    sent = converted.query.decode()
    for offset, ch in enumerate(sent):
        back = sent_offset(text, offset)
        if ch == "$":  # a placeholder: the start of the one it replaced
            assert text[back] == "%" and text[back + 1] != "%"
        elif ch != "%" and not (ch.isdigit() and sent[:offset].rstrip("0123456789").endswith("$")):
            assert text[back] == ch, (text, sent, offset)
