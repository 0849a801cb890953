"""The evidence shows the inputs the trial used (its fresh unique values), the planned ones
only where they differ, and relative moments in a suite's words, never a Python repr."""

from __future__ import annotations

import datetime as dt

import orjson
import pandas as pd

from harness.core.types import dumps
from harness.report.markdown import _example as markdown_example
from harness.report.view import _example
from harness.spec.relative import DateText, DaysAgo, Moment


def _row(trial_vars: dict[str, object]) -> pd.Series:
    pickup = Moment(dt.timedelta(hours=185, minutes=17, seconds=58), "Europe/Lisbon")
    planned = {"email": "ann@example.com", "pickup": pickup, "said": DateText(DaysAgo(3), "us")}
    return pd.Series(
        {
            "case_id": "book#1",
            "trial": 2,
            "session_id": "h-1",
            "message": "m",
            "expected": None,
            "found": None,
            "turns": [],
            "entities": {},
            "vars": orjson.loads(dumps(planned)),  # as a run record keeps them
            "trial_vars": orjson.loads(dumps(trial_vars)),
            "case_error": None,
            "session": {},
            "calls": [],
        }
    )


def test_the_trial_inputs_are_shown_and_the_planned_ones_where_they_differ() -> None:
    pickup = Moment(dt.timedelta(hours=185, minutes=17, seconds=58), "Europe/Lisbon")
    used = {"email": "ann.2x7@example.com", "pickup": pickup, "said": DateText(DaysAgo(3), "us")}
    ex = _example(_row(used))
    assert ex.trial_inputs
    assert ex.vars == {
        "email": "ann.2x7@example.com",
        "pickup": "in 185h17m58s (Europe/Lisbon)",
        "said": "3 days ago, written us",
    }
    assert ex.planned == {"email": "ann@example.com"}
    text = "\n".join(markdown_example(ex))
    assert "**Inputs of this trial:** email=`ann.2x7@example.com`" in text
    assert "pickup=`in 185h17m58s (Europe/Lisbon)`" in text
    assert (
        "planned inputs, where this trial drew fresh unique values: email=`ann@example.com`" in text
    )
    assert "'offset'" not in text and "{'" not in text


def test_a_run_that_did_not_record_them_shows_the_planned_inputs_in_words() -> None:
    ex = _example(_row({}))
    assert not ex.trial_inputs and ex.planned == {}
    assert ex.vars["pickup"] == "in 185h17m58s (Europe/Lisbon)"
    assert "**Generated inputs:**" in "\n".join(markdown_example(ex))
