"""A case's fault schedule against a real `LinkProxy` (no upstream needed to add and remove
toxics): which toxics are active before and after each turn, the windows recorded, every
way out removing what is left; and `--faults NAME`'s copies and phases."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from harness.core import Case
from harness.faults import LinkProxy
from harness.run.faulting import CaseFaults, Shared, alone, faults_of
from harness.session.faults import phases, with_profile
from harness.spec.models.faults import Fault
from harness.spec.suite import load_suite
from tests.helpers import ROOT

SUITE = ROOT / "tests" / "suites" / "faults"


def fault(**values: object) -> Fault:
    return Fault.model_validate({"link": "db", "toxic": "latency", **values})


def test_turn_windows_apply_before_their_first_turn_and_end_after_their_last() -> None:
    async def play() -> None:
        async with LinkProxy("127.0.0.1", 9, name="db") as proxy:
            faults = CaseFaults(
                [(fault(from_turn=2, to_turn=3), "scenario")], {"db": proxy}, Shared(), None
            )
            faults.start()
            active = []
            for turn in (1, 2, 3, 4):
                faults.before_turn(turn)
                active.append(len(proxy.toxics))
                faults.after_reply(turn)
            assert active == [0, 1, 1, 0]
            [window] = faults.windows
            assert (window.first_turn, window.last_turn) == (2, 3)
            assert window.ended_ns >= window.started_ns > 0
            assert faults.context == {
                "profile": None, "applied": True, "turns": [2, 3], "hit": False, "accepted": []
            }  # fmt: skip

    asyncio.run(play())


def test_a_timed_window_ends_on_its_own_and_close_removes_whatever_is_left() -> None:
    async def play() -> None:
        async with LinkProxy("127.0.0.1", 9, name="db") as proxy:
            timed = fault(after_turn=1, **{"for": "50ms"})
            whole = fault(toxic="down")
            faults = CaseFaults(
                [(timed, "scenario"), (whole, "scenario")], {"db": proxy}, Shared(), None
            )
            faults.start()
            assert [t.kind for t in proxy.toxics] == ["down"]
            faults.before_turn(1)
            faults.after_reply(1)
            assert sorted(t.kind for t in proxy.toxics) == ["down", "latency"]
            await faults.settle(5.0)  # the timer removed it
            assert [t.kind for t in proxy.toxics] == ["down"]
            faults.close()
            assert proxy.toxics == () and proxy.listening
            assert all(w.ended_ns for w in faults.windows)

    asyncio.run(play())


def test_a_profiles_whole_case_fault_is_shared_by_the_cases_in_flight() -> None:
    async def play() -> None:
        async with LinkProxy("127.0.0.1", 9, name="db") as proxy:
            shared = Shared()
            one = CaseFaults([(fault(), "profile:p")], {"db": proxy}, shared, "p")
            two = CaseFaults([(fault(), "profile:p")], {"db": proxy}, shared, "p")
            one.start()
            two.start()
            assert len(proxy.toxics) == 1
            one.close()
            assert len(proxy.toxics) == 1  # the other case still runs under it
            two.close()
            assert proxy.toxics == ()

    asyncio.run(play())


def test_faults_profile_copies_each_case_and_plays_them_in_phases() -> None:
    suite = load_suite(SUITE)
    cases = [Case(id=f"{s}#1", scenario=s, index=1, seed=1) for s in ("outage", "plain")]
    played = with_profile(suite, cases, "cut")
    assert [(c.id, c.fault) for c in played] == [("plain#1", None), ("plain#1~cut", "cut")]
    blocks = phases([(c, t) for t in (1, 2) for c in played])
    assert [[(c.id, t) for c, t in b] for b in blocks] == [
        [("plain#1", 1)],
        [("plain#1~cut", 1)],
        [("plain#1", 2)],
        [("plain#1~cut", 2)],
    ]
    assert len(phases([(c, 1) for c in cases])) == 1  # no profile: one block
    scenario = {s.id: s for s in suite.scenarios}
    assert alone(suite, scenario["outage"], cases[0])  # a scenario's faults
    assert not alone(suite, scenario["plain"], played[0])
    assert alone(suite, scenario["plain"], played[1])  # the profile's window
    assert [src for _, src in faults_of(suite, scenario["plain"], played[1])] == ["profile:cut"]


def test_a_window_that_lasts_no_time_or_a_status_written_as_text_is_refused() -> None:
    with pytest.raises(ValidationError, match="greater than 0"):
        Fault.model_validate({"link": "kv", "toxic": "limit_data", "after_turn": 0, "for": "0s"})
    with pytest.raises(ValidationError, match="valid integer"):
        Fault.model_validate(
            {"link": "kv", "toxic": "down", "from_turn": 1, "accept_status": ["503"]}
        )
    ok = Fault.model_validate({"link": "kv", "toxic": "down", "accept_status": [503]})
    assert ok.accept_status == [503]
