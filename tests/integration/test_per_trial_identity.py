"""Per-trial identity on real PostgreSQL: every trial and variant inserts fresh values for
what must be unique (the schema's unique constraints and indexes, and a suite's `unique:`),
the case's inputs stay its identity, and a replay inserts exactly what the run did.

Two suites: the demo (unique customer emails) and a lending library that is not the demo
(tests/suites/library: cards, emails and ISBNs unique in its schema, names and dates of birth
unique by the suite's declaration, seed data with many repeated vi_VN names and emails).
"""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from pathlib import Path

from harness.runlog.models import TrialRecord
from harness.runlog.read import read_records
from tests.helpers import DEMO, ROOT, environ, harness, only_run

LIBRARY = ROOT / "tests" / "suites" / "library"


def trials(run: Path) -> list[TrialRecord]:
    return [r for r in read_records(run) if isinstance(r, TrialRecord)]


def by_case(records: list[TrialRecord]) -> dict[str, list[TrialRecord]]:
    out: dict[str, list[TrialRecord]] = defaultdict(list)
    for r in sorted(records, key=lambda r: r.trial):
        out[r.case.id].append(r)
    return out


def library_copy(tmp_path: Path, suite_yaml: str | None = None) -> Path:
    """The library suite somewhere a test may change it (its agent found from the checkout)."""
    root = tmp_path / "library"
    shutil.copytree(LIBRARY, root)
    text = (root / "suite.yaml").read_text().replace("path: [../../..]", f"path: [{ROOT}]")
    (root / "suite.yaml").write_text(suite_yaml(text) if callable(suite_yaml) else text)
    return root


def test_the_demo_runs_five_trials_without_an_error(tmp_path: Path) -> None:
    proc = harness(
        "run", str(DEMO), "--trials", "5", "--reports-dir", str(tmp_path), "--no-progress",
        env=environ(REFUND_DESK_DEFECTS="none"), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = trials(only_run(tmp_path))
    verdicts = [c.verdict for r in records for c in r.checks]
    assert verdicts and set(verdicts) == {"pass"}  # zero errored checks, zero failed
    assert not [r for r in records if r.observation.error is not None]
    for cid, runs in by_case(records).items():
        assert [r.trial for r in runs] == [1, 2, 3, 4, 5]
        emails = [r.observation.entities["customer"]["email"] for r in runs]
        assert len(set(emails)) == 5, (cid, emails)  # fresh in every trial
        # the inputs, the case's identity, are the same in every trial; trial 1 inserts them
        assert all(r.case == runs[0].case for r in runs)
        assert emails[0] == runs[0].case.setup["customer"]["email"]


def test_a_schema_that_is_not_the_demo_takes_trials_and_variants(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    proc = harness(
        "run", str(library_copy(tmp_path)), "--trials", "4", "--reports-dir", str(reports),
        "--no-progress", env=environ(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "UniqueViolation" not in proc.stderr
    records = trials(only_run(reports))
    assert len(records) == 8 * 4
    assert {c.verdict for r in records for c in r.checks} == {"pass"}
    members = [r.observation.entities["member"] for r in records]
    members += [v.entities["member"] for r in records for v in r.observation.variants]
    assert len(members) == 8 * 4 + 2 * 4  # the by-card cases have a variant each
    for col in ("card_no", "email"):
        assert len({str(m[col]).lower() for m in members}) == len(members), col
    assert len({(m["full_name"], m["birth_date"]) for m in members}) == len(members)
    # a trial-1 card the seed data already holds (LIB-00001...) is drawn again, no error
    seeded = [r for r in records if r.trial == 1 and r.case.id in ("by-name#2", "by-name#3")]
    assert len(seeded) == 2
    for r in seeded:
        assert r.case.setup["member"]["card_no"] in ("LIB-00001", "LIB-00002")
        assert r.observation.entities["member"]["card_no"] != r.case.setup["member"]["card_no"]
    # a var a unique column is written from is fresh in the turn that says it, too, and the
    # trial records the vars it used (its evidence shows them, not the planned ones)
    for r in records:
        if r.case.scenario == "by-card":
            for obs in (r.observation, *r.observation.variants):
                card = obs.entities["member"]["card_no"]
                assert card in obs.turns[0].text, (card, obs.turns[0].text)
            assert r.observation.vars["card"] == r.observation.entities["member"]["card_no"]
            if r.trial > 1:
                assert r.observation.vars["card"] != r.case.vars["card"]


def test_without_the_declaration_later_trials_cannot_tell_members_apart(tmp_path: Path) -> None:
    """The schema does not make names unique: without `unique:` trials 2..k insert the same
    name and date of birth, and the desk (rightly) asks which member is meant."""

    def undeclared(text: str) -> str:
        return re.sub(r"\n      unique:\n        members: .*\n", "\n", text)

    reports = tmp_path / "reports"
    suite = library_copy(tmp_path, undeclared)
    assert "unique:" not in (suite / "suite.yaml").read_text()
    proc = harness(
        "run", str(suite), "--trials", "3", "-k", "by-name", "--reports-dir", str(reports),
        "--no-progress", env=environ(),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    records = trials(only_run(reports))
    failed = {(r.case.id, r.trial) for r in records if any(c.verdict == "fail" for c in r.checks)}
    # every later trial meets its twin (trial 1 too, when a later trial's rows are in first)
    assert failed >= {(f"by-name#{i}", t) for i in (1, 2, 3) for t in (2, 3)}
    assert all(c.verdict != "error" for r in records for c in r.checks)  # no unique violation


def test_a_replay_inserts_exactly_what_the_run_did(tmp_path: Path) -> None:
    suite = library_copy(tmp_path)
    reports = tmp_path / "reports"
    proc = harness(
        "run", str(suite), "--trials", "3", "-k", "by-card", "--reports-dir", str(reports),
        "--no-progress", env=environ(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = only_run(reports)
    ran = {(r.case.id, r.trial): r for r in trials(run)}
    replayed = tmp_path / "replays"
    proc = harness(
        "replay", "by-card#2", str(suite), "--times", "3", "--reports-dir", str(replayed),
        env=environ(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = trials(only_run(replayed))
    assert len(again) == 3
    for r in again:
        before = ran[("by-card#2", r.trial)]
        for key in ("card_no", "email", "full_name", "birth_date"):
            assert (
                r.observation.entities["member"][key] == before.observation.entities["member"][key]
            ), (r.trial, key)
        assert r.observation.turns[0].text == before.observation.turns[0].text


def test_a_unique_declaration_must_name_the_real_schema(tmp_path: Path) -> None:
    def misspelt(text: str) -> str:
        return text.replace("[[full_name, birth_date]]", "[[full_nam, birth_date]]")

    reports = tmp_path / "reports"
    proc = harness(
        "run", str(library_copy(tmp_path, misspelt)), "--reports-dir", str(reports),
        "--no-progress", env=environ(),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert re.search(
        r"suite\.yaml:\d+:\d+: environment\.dependencies\.db\.unique\.members\[0\]\[0\]: "
        r"table members has no column 'full_nam' \(did you mean 'full_name'\?\)",
        proc.stderr,
    ), proc.stderr
    assert not reports.exists() or not any(reports.iterdir())  # nothing kept


CROWDED = """scenarios:
  - id: crowded
    title: Members with hard names, born within two days, borrow by name and date of birth
    repeat: 20
    setup:
      member:
        table: members
        values:
          card_no: {sequence: "LIB-{n:05d}"}
          full_name: {pool: names_hard}
          birth_date: {days_ago: [9000, 9001]}
          email: {faker: email}
      book:
        table: books
        values: {isbn: {faker: isbn13}, title: {faker: catch_phrase}}
    turns:
      - "I am {{ member.full_name }}, born {{ member.birth_date }}. Please lend me {{ book.isbn }}."
    checks:
      - type: contains
        requirements: [LIB-001]
        value: "Lent {{ book.title }} to {{ member.full_name }}"
"""


def test_a_declared_key_is_unique_across_cases_too(tmp_path: Path) -> None:
    """Twenty cases draw from one pool of hard names and two dates of birth: without a look
    at the real rows, cases would share a (name, date of birth) the suite declares unique and
    a correct agent would rightly ask which member is meant (a false alarm)."""
    reports = tmp_path / "reports"
    suite = library_copy(tmp_path)
    (suite / "scenarios" / "crowded.yaml").write_text(CROWDED)
    proc = harness(
        "run", str(suite), "-k", "crowded", "--reports-dir", str(reports), "--no-progress",
        env=environ(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = trials(only_run(reports))
    assert len(records) == 20
    pairs = [(r.observation.entities["member"]["full_name"],
              str(r.observation.entities["member"]["birth_date"])) for r in records]  # fmt: skip
    assert len(set(pairs)) == 20  # unique across cases
    # the hard name under test is each case's own input: only the date of birth was drawn again
    for r in records:
        assert r.observation.entities["member"]["full_name"] == r.case.setup["member"]["full_name"]
