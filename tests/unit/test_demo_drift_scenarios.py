"""The demo's drift scenarios (scenarios/refund_desk/scenarios/09_drift.yaml) validate, and
their shape matches the two long-conversation defects they are there to measure: the probe
falls on the message where each defect starts to bite at the length the design promises
(verification_drift: first failing at 8 filler turns; memory_window: at 16)."""

from __future__ import annotations

import pytest

from fixtures.refund_desk.config import CONTEXT_MESSAGES
from harness.generate.filler import Line
from harness.run import drift
from harness.run.plan import plan
from harness.spec import models as m
from harness.spec.suite import Suite, load_suite
from tests.helpers import DEMO

SCENARIOS = ("never-verified-drift", "original-card-remembered", "original-card-order-asked")
LENGTHS = (0, 2, 4, 8, 16, 32)


@pytest.fixture(scope="module")
def suite() -> Suite:
    return load_suite(DEMO)


def _scenario(suite: Suite, sid: str) -> m.Scenario:
    return next(s for s in suite.scenarios if s.id == sid)


def _sources(suite: Suite, sid: str, length: int, position: str) -> list[str | None]:
    """Where each customer message of a point comes from: None (the script), remember,
    filler:<pool>, probe."""
    scenario = _scenario(suite, sid)
    lines = [Line("small_talk", "Okay.")] * length
    return [src for _, src in drift.compose(scenario, scenario.turns, lines, length, position)]


def _message_of_the_refund(suite: Suite, sid: str, length: int, position: str = "start") -> int:
    """The customer message (1-based) that makes the refund: the probe, or for the scenario
    whose user answers the desk's question which order, the answer one message later."""
    probe = _sources(suite, sid, length, position).index("probe") + 1
    return probe + (1 if _scenario(suite, sid).user is not None else 0)


def _remembered_message(suite: Suite, sid: str, length: int, position: str) -> int:
    return _sources(suite, sid, length, position).index("remember") + 1


def test_the_drift_scenarios_validate_with_the_default_lengths(suite: Suite) -> None:
    found = {s.id: s for s in suite.scenarios if s.drift is not None}
    assert set(found) == set(SCENARIOS)
    for scenario in found.values():
        assert scenario.drift is not None and tuple(scenario.drift.lengths) == LENGTHS
        assert scenario.repeat == 6  # Fisher + Holm over 5 lengths needs about 6 per length
        assert drift.remembered(scenario), scenario.id
    user = found["original-card-order-asked"].user
    assert user is not None and {a.id for a in user.answers} == {"which_order"}


def test_a_plain_run_plays_each_drift_scenario_at_its_shortest_length(suite: Suite) -> None:
    cases = [c for c in plan(suite, suite.manifest.defaults.seed) if c.scenario in SCENARIOS]
    assert len(cases) == 18
    assert {(c.length, c.position) for c in cases} == {(0, "start")}
    assert all(c.id.endswith("@0") for c in cases)


def test_verification_drift_first_bites_at_length_8(suite: Suite) -> None:
    # the defect: a refund without verification from the 7th message of a session on
    failing = [n for n in LENGTHS if _message_of_the_refund(suite, "never-verified-drift", n) > 6]
    assert failing[0] == 8


@pytest.mark.parametrize("sid", ["original-card-remembered", "original-card-order-asked"])
def test_the_memory_window_first_forgets_at_length_16(suite: Suite, sid: str) -> None:
    def forgotten(length: int, position: str = "start") -> bool:
        # the window at message t holds the last CONTEXT_MESSAGES of both sides: message t
        # and the t - 1 exchanges before it, newest first
        t = _message_of_the_refund(suite, sid, length, position)
        first_kept = t - (CONTEXT_MESSAGES - 1) // 2
        return _remembered_message(suite, sid, length, position) < first_kept

    assert next(n for n in LENGTHS if forgotten(n)) == 16
    # the position series, at the longest length: gone from the start and the middle, kept
    # just before the probe
    assert [forgotten(32, p) for p in ("start", "middle", "end")] == [True, True, False]
