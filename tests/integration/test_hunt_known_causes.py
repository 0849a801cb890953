"""A second hunt against an unchanged agent saves nothing new: the regression file the first
hunt saved covers its own root cause and that of every other check its case broke, as the
hunt that saved it knew them (README: "Every other way the same case diverged is covered by
that file too").

The booking suite (tests/suites/booking) with a second check on the reply: with
BOOKING_DEFECTS=twelve_hour, "2pm" is booked as 02:00 and confirmed as 02:00, so one case
breaks the booked row (sql) and the reply (contains), two root causes of one defect."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.integration.test_booking_regressions import booking_suite, command

REPLY_CHECK = """      - id: reply-time
        type: contains
        requirements: [BK-001]
        value: "{{ vars.form.hm }}"
"""


def test_a_second_hunt_saves_nothing_the_first_hunts_file_covers(tmp_path: Path) -> None:
    suite, reports = booking_suite(tmp_path), tmp_path / "reports"
    book = suite / "scenarios" / "book.yaml"
    book.write_text(book.read_text() + REPLY_CHECK)
    folder = suite / "regressions"

    first = command("hunt", str(suite), "--budget", "20s", reports=reports, defects="twelve_hour")
    assert first.returncode == 1, first.stderr
    files = sorted(folder.glob("*.yaml"))
    assert len(files) == 1, first.stderr  # one case, two checks broken: one file

    second = command("hunt", str(suite), "--budget", "20s", reports=reports, defects="twelve_hour")
    assert sorted(folder.glob("*.yaml")) == files, second.stderr
    assert second.returncode == 0, second.stderr  # nothing new: exit 0
    assert "0 new divergence(s)" in second.stderr
    assert "2 known root cause(s) failed again, covered by saved regression cases" in second.stderr

    saved = yaml.safe_load(files[0].read_text())
    assert saved["check"] == "booked-time"  # the real systems' state names the case
    assert sorted(saved["breaks"]) == [
        "BK-001|book-a-slot|booked-time|fail",
        "BK-001|book-a-slot|reply-time|fail",
    ]
    assert saved["shapes"] == ["BK-001|sql|fail||at", "BK-001|contains|fail||"]
