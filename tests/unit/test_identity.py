"""Per-trial identity: the rule that gives every trial and variant fresh values for what must
be unique, keeps the case's inputs, and replays exactly (generate/identity.py)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from harness.core import Case
from harness.generate.identity import Identity, UniqueKey, fresh_number
from harness.run.plan import find_case, plan
from harness.spec.models import SequenceGen
from harness.spec.suite import Suite, load_suite

LIBRARY = Path(__file__).resolve().parents[1] / "suites" / "library"
KEYS = {
    "db": {
        "members": [
            UniqueKey("members_card_no_key", ("card_no",)),
            UniqueKey("members_email_lower", ("email",)),
            UniqueKey("unique: in suite.yaml", ("full_name", "birth_date"), True),
        ],
        "books": [UniqueKey("books_isbn_key", ("isbn",))],
    }
}
UNIQUE = ("card_no", "email", "full_name", "birth_date")


def library_copy(tmp_path: Path) -> Path:
    """The library suite where a test may add scenarios to it."""
    root = tmp_path / "library"
    shutil.copytree(LIBRARY, root)
    return root


def identity(suite: Suite) -> Identity:
    return Identity(KEYS, suite.database_for, suite.params, suite.param_kinds)


def case_of(suite: Suite, cid: str) -> Case:
    return find_case(suite, 5, cid)


def test_trial_one_uses_the_inputs_and_later_trials_draw_every_unique_value_afresh() -> None:
    suite = load_suite(LIBRARY)
    ident, case = identity(suite), case_of(suite, "by-name#2")
    scenario = suite.scenario(case.scenario)
    first = ident.slot(scenario, case, 1)
    assert first.setup == case.setup and first.vars == case.vars
    seen = {col: {str(case.setup["member"][col])} for col in UNIQUE}
    seen["isbn"] = {case.setup["book"]["isbn"]}
    for trial in range(2, 9):
        slot = ident.slot(scenario, case, trial)
        for col in UNIQUE:
            value = str(slot.setup["member"][col])
            assert value not in seen[col], (col, trial, value)  # never one an earlier trial had
            seen[col].add(value)
        assert slot.setup["book"]["isbn"] not in seen["isbn"]
        seen["isbn"].add(slot.setup["book"]["isbn"])
        # what need not be unique stays the input: the book's title, and the row's references
        assert slot.setup["book"]["title"] == case.setup["book"]["title"]
        assert str(slot.setup["member"]["card_no"]).startswith("LIB-")  # the generator's shape
    # the case's inputs, its identity, are untouched by all of it
    assert case == case_of(suite, "by-name#2")


def test_a_replay_gives_the_same_values_for_the_same_case_and_trial() -> None:
    suite = load_suite(LIBRARY)
    case = case_of(suite, "by-email#3")
    scenario = suite.scenario(case.scenario)
    once = identity(suite).slot(scenario, case, 4)
    # another process: a new Identity, the case planned again from (suite, seed, case id)
    again = identity(load_suite(LIBRARY)).slot(scenario, case_of(suite, "by-email#3"), 4)
    assert once == again
    assert once != identity(suite).slot(scenario, case, 3)


def test_a_var_a_unique_column_is_written_from_is_fresh_in_the_turns_and_every_variant() -> None:
    suite = load_suite(LIBRARY)
    ident, case = identity(suite), case_of(suite, "by-card#1")
    scenario = suite.scenario(case.scenario)
    assert ident.fresh_vars(scenario) == ("card",)
    cards = {case.vars["card"]}
    emails = {case.setup["member"]["email"], case.variant_setups[0]["member"]["email"]}
    for trial in (1, 2, 3):
        for variant in (0, 1):
            if (trial, variant) == (1, 0):
                continue
            slot = ident.slot(scenario, case, trial, variant)
            assert slot.vars["card"] not in cards, (trial, variant)
            cards.add(slot.vars["card"])
            # the row is written from the var at insert time: it stays the template
            assert slot.setup["member"]["card_no"] == "{{ vars.card }}"
            if (trial, variant) != (1, 1):  # the variant's own first draw is its input
                assert slot.setup["member"]["email"] not in emails
            emails.add(slot.setup["member"]["email"])


def test_nothing_changes_where_nothing_must_be_unique() -> None:
    suite = load_suite(LIBRARY)
    plain = Identity({}, suite.database_for, suite.params)
    for case in plan(suite, 5):
        scenario = suite.scenario(case.scenario)
        slot = plain.slot(scenario, case, 3, len(case.variant_setups))
        expected = case.variant_setups[-1] if case.variant_setups else case.setup
        assert slot.setup == expected and slot.vars == case.vars


def test_a_taken_value_is_drawn_again_deterministically_by_attempt() -> None:
    suite = load_suite(LIBRARY)
    ident, case = identity(suite), case_of(suite, "by-card#2")
    scenario = suite.scenario(case.scenario)
    slot = ident.slot(scenario, case, 1)
    first = ident.slot(scenario, case, 1, 0, {"member": 1})
    assert first.vars["card"] != slot.vars["card"]
    assert first.setup["member"]["email"] != slot.setup["member"]["email"]
    assert first == ident.slot(scenario, case, 1, 0, {"member": 1})
    assert ident.slot(scenario, case, 1, 0, {"member": 2}) != first
    assert first.setup["book"] == slot.setup["book"]  # only the row whose value was taken

    class Taken(Exception):
        sqlstate = "23505"

        class diag:  # psycopg's attribute name
            constraint_name = "members_card_no_key"

    assert ident.taken(scenario, "member", Taken())
    Taken.diag.constraint_name = "loans_one_per_book"
    assert not ident.taken(scenario, "member", Taken())  # not a key this row can change
    assert not ident.taken(scenario, "member", ValueError("23505"))


def test_a_unique_column_with_a_fixed_value_is_named_before_the_run(tmp_path: Path) -> None:
    from harness.run.preflight import fixed_unique_values

    root = library_copy(tmp_path)
    scenarios = root / "scenarios" / "lending.yaml"
    text = scenarios.read_text()
    text = text.replace("    email: {faker: email}\n", "    email: desk@example.org\n", 1)
    scenarios.write_text(text)
    suite = load_suite(root)
    notes = fixed_unique_values(suite, identity(suite))
    # the anchor is used by two scenarios; the by-card row (written from a var) is fresh
    assert len(notes) == 2, notes
    # at the value's line and column (the anchor both scenarios use), each naming its scenario
    assert all(n.startswith(f"{scenarios}:7:12: scenarios[") for n in notes), notes
    assert all(".setup.member.values.email: scenario by-" in n for n in notes), notes
    assert all("members.email must be unique" in n for n in notes)
    assert {n.split(": scenario ")[1].split(":")[0] for n in notes} == {"by-name", "by-email"}
    assert fixed_unique_values(load_suite(LIBRARY), identity(load_suite(LIBRARY))) == []


def test_a_unique_value_made_from_what_the_database_assigns_is_not_fixed(
    tmp_path: Path,
) -> None:
    """`{{ member.id }}`: an earlier setup row's id, which the database assigns each insert
    anew, so every trial and variant has its own; a value made of a literal is named."""
    from harness.run.preflight import fixed_unique_values

    root = library_copy(tmp_path)
    scenarios = root / "scenarios" / "lending.yaml"
    text = scenarios.read_text()
    scenarios.write_text(text.replace("isbn: {faker: isbn13}", 'isbn: "978-{{ member.id }}"'))
    suite = load_suite(root)
    assert fixed_unique_values(suite, identity(suite)) == []
    scenarios.write_text(text.replace("isbn: {faker: isbn13}", 'isbn: "978-1"'))
    suite = load_suite(root)
    notes = fixed_unique_values(suite, identity(suite))
    assert notes and all("books.isbn must be unique" in n for n in notes), notes


def test_what_a_case_made_from_a_fresh_value_is_made_again_from_it(tmp_path: Path) -> None:
    """A var written from a unique column (or from a fresh var) says this trial's value:
    a turn that reads it must name the member this trial inserts, not the first trial's."""
    suite_dir = library_copy(tmp_path)
    (suite_dir / "scenarios" / "derived.yaml").write_text(
        "scenarios:\n"
        "  - id: derived\n"
        "    title: The email and the card are said as vars made from the row\n"
        "    vars:\n"
        "      said: '{{ member.email }}'\n"
        "      shout: {choice: ['{{ member.card_no | upper }} please']}\n"
        "      again: '{{ vars.said }}!'\n"
        "    setup:\n"
        "      member:\n"
        "        table: members\n"
        "        values:\n"
        "          card_no: {sequence: 'lib-{n:05d}'}\n"
        "          full_name: {faker: name}\n"
        "          birth_date: {days_ago: [7000, 25000]}\n"
        "          email: {faker: email}\n"
        "    turns: ['{{ vars.said }} {{ vars.shout }}']\n"
        "    checks:\n"
        "      - {type: contains, requirements: [LIB-001], value: '{{ vars.said }}'}\n"
    )
    suite = load_suite(suite_dir)
    case = find_case(suite, 5, "derived#1")
    scenario = suite.scenario(case.scenario)
    assert case.vars["said"] == case.setup["member"]["email"]  # trial 1: the inputs
    for trial in (2, 3):
        slot = identity(suite).slot(scenario, case, trial)
        email, card = slot.setup["member"]["email"], slot.setup["member"]["card_no"]
        assert email != case.setup["member"]["email"]
        assert slot.vars["said"] == email and slot.vars["again"] == f"{email}!"
        assert slot.vars["shout"] == f"{card.upper()} please"
    assert case == find_case(suite, 5, "derived#1")  # the inputs stay the case's identity


REVIEWED = """scenarios:
  - id: mail-from-name
    title: The email is made from the member's name, upper-cased by a trap
    vars:
      mail: {text_trap: "{{ member.full_name | first_word | lower }}@example.org", traps: [upper]}
    setup:
      member:
        table: members
        values:
          card_no: {sequence: 'LIB-{n:05d}'}
          full_name: {faker: name}
          birth_date: {days_ago: [7000, 25000]}
          email: "{{ vars.mail }}"
    turns: ['{{ vars.mail }}']
    checks: [{type: contains, requirements: [LIB-001], value: x}]
  - id: mail-through-a-var
    title: The email is a trap over a var
    vars:
      base: {faker: email}
    setup:
      member:
        table: members
        values:
          card_no: {sequence: 'LIB-{n:05d}'}
          full_name: {faker: name}
          birth_date: {days_ago: [7000, 25000]}
          email: {text_trap: "{{ vars.base }}", traps: [upper]}
    turns: ['{{ vars.base }}']
    checks: [{type: contains, requirements: [LIB-001], value: x}]
  - id: hard-name
    title: A hard name is the input under test; the date of birth makes the pair unique
    vars:
      who: {pool: names_hard}
      first: "{{ member.full_name | first_word }}"
    setup:
      member:
        table: members
        values:
          card_no: {sequence: 'LIB-{n:05d}'}
          full_name: "{{ vars.who }}"
          birth_date: {days_ago: [7000, 25000]}
          email: {faker: email}
    turns: ['I am {{ vars.who }}']
    checks: [{type: contains, requirements: [LIB-001], value: x}]
"""


def test_every_way_a_unique_value_is_made_stays_unique_and_keeps_the_input(
    tmp_path: Path,
) -> None:
    """What a review found: a var made from a row crashed later trials; a trap over a var
    repeated its value; a key's hard name was replaced although its date of birth sufficed;
    a redraw in trial 1 left a var made from the row stale."""
    from harness.run.preflight import fixed_unique_values

    root = library_copy(tmp_path)
    (root / "scenarios" / "reviewed.yaml").write_text(REVIEWED)
    suite = load_suite(root)
    ident = identity(suite)
    for cid in ("mail-from-name#1", "mail-through-a-var#1"):
        case = find_case(suite, 5, cid)
        scenario = suite.scenario(case.scenario)
        emails = {str(case.vars.get("mail", case.setup["member"]["email"])).lower()}
        for trial in (2, 3, 4):
            slot = ident.slot(scenario, case, trial)
            email = str(slot.setup["member"]["email"])
            if cid.startswith("mail-from-name"):
                assert email == "{{ vars.mail }}"  # rendered at insert time, from this var:
                email = slot.vars["mail"]
                assert email.lower().startswith(
                    str(slot.setup["member"]["full_name"]).split()[0].lower()
                )
            assert email.lower() not in emails, (cid, trial, email)  # lower(email) is the key
            emails.add(email.lower())

    case = find_case(suite, 5, "hard-name#1")
    scenario = suite.scenario(case.scenario)
    for trial in (2, 3):
        slot = ident.slot(scenario, case, trial)
        assert slot.vars["who"] == case.vars["who"]  # the input under test stays
        assert slot.setup["member"]["birth_date"] != case.setup["member"]["birth_date"]
    # a redraw in trial 1 (another case's row held the value): what is made from it follows
    redrawn = ident.slot(scenario, case, 1, 0, {"member": 1})
    assert redrawn.vars["who"] == case.vars["who"]
    assert redrawn.setup["member"]["email"] != case.setup["member"]["email"]
    notes = [n for n in fixed_unique_values(suite, ident) if "reviewed" in n]
    assert notes == [], notes  # nothing fixed, no input under test replaced

    # a key only a hard name can make unique: said before the run, and the name is drawn
    fixed_birth = REVIEWED.replace(
        '          full_name: "{{ vars.who }}"\n          birth_date: {days_ago: [7000, 25000]}',
        "          full_name: \"{{ vars.who }}\"\n          birth_date: '1990-01-01'",
    )
    (root / "scenarios" / "reviewed.yaml").write_text(fixed_birth)
    suite = load_suite(root)
    notes = [n for n in fixed_unique_values(suite, identity(suite)) if "hard-name" in n]
    assert len(notes) == 1 and "only vars.who can make it so" in notes[0], notes


def test_every_rewording_meets_the_hard_input_its_case_tests(tmp_path: Path) -> None:
    """A variant's rows are its own (everyday values drawn afresh), but the value the case
    searches (a pool's hard name) is the case's, or same_state compares different inputs."""
    root = library_copy(tmp_path)
    (root / "scenarios" / "reworded.yaml").write_text(
        "scenarios:\n"
        "  - id: reworded\n"
        "    title: A hard name borrows a book, however it is asked\n"
        "    repeat: 3\n"
        "    setup:\n"
        "      member:\n"
        "        table: members\n"
        "        values:\n"
        "          card_no: {sequence: 'LIB-{n:05d}'}\n"
        "          full_name: {pool: names_hard}\n"
        "          birth_date: {days_ago: [7000, 25000]}\n"
        "          email: {faker: email}\n"
        "    turns: ['I am {{ member.full_name }}.']\n"
        "    variants: [['{{ member.full_name }} here.'], ['Name: {{ member.full_name }}.']]\n"
        "    checks:\n"
        "      - type: same_state\n"
        "        requirements: [LIB-001]\n"
        "        query: select book_id from loans where member_id = %s\n"
        "        params: ['{{ member.id }}']\n"
    )
    suite = load_suite(root)
    ident = identity(suite)
    for i in (1, 2, 3):
        case = find_case(suite, 5, f"reworded#{i}")
        scenario = suite.scenario(case.scenario)
        name = case.setup["member"]["full_name"]
        assert [v["member"]["full_name"] for v in case.variant_setups] == [name, name]
        emails = {case.setup["member"]["email"]}
        for variant in (1, 2):
            slot = ident.slot(scenario, case, 1, variant)
            assert slot.setup["member"]["full_name"] == name  # kept: the input under test
            assert slot.setup["member"]["email"] not in emails  # its own row
            emails.add(slot.setup["member"]["email"])


def test_a_fresh_sequence_value_keeps_its_patterns_width() -> None:
    """`SHW-{n:05d}` drawn for trial 2 stays five digits: an agent that checks the format
    failed later trials only (a deterministic agent reported flaky)."""
    for pattern, shape in [
        ("SHW-{n:05d}", r"SHW-\d{5}"),
        ("R{n:02d}", r"R\d{2}"),
        ("{n:04x}", r"[0-9a-f]{4}"),
        ("T-{n:>6}", r"T-[ \d]{6}"),
    ]:
        spec = SequenceGen(sequence=pattern)
        drawn = {spec.sequence.format(n=fresh_number(spec, seed)) for seed in range(0, 10**6, 997)}
        assert all(re.fullmatch(shape, v) for v in drawn), (pattern, sorted(drawn)[:5])
        assert len(drawn) > 40, pattern  # still many values to draw from
    # no width: any number, clear of the cases' own indexes
    assert fresh_number(SequenceGen(sequence="X{n}"), 7) >= 100_000


def test_a_faulted_copy_draws_its_sequences_within_their_width() -> None:
    """A `--faults` copy makes its values afresh, sequences too: `LIB-{n:05d}` stays five
    digits there as well (a reviewer's strict agent booked nothing in every faulted copy)."""
    from harness.run.plan import faulted

    suite = load_suite(LIBRARY)
    for i in (1, 2):
        case = case_of(suite, f"by-card#{i}")
        copy = faulted(suite, case, "slow")
        assert copy.vars["card"] != case.vars["card"]  # values of its own...
        assert re.fullmatch(r"LIB-\d{5}", str(copy.vars["card"])), copy.vars  # ...as wide
    spec = [SequenceGen(sequence="A-{n:05d}"), SequenceGen(sequence="B-{n:03d}")]
    assert all(fresh_number(spec, seed) < 1000 for seed in range(0, 10**6, 7919))
