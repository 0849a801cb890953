"""A load's fault windows as a conversation meets them (load/schedule.py): which failed turns
a window excuses, which statuses it accepts, and that outside every window a 503 stays the
agent's failure."""

from __future__ import annotations

from harness.core import Observation, TurnRecord
from harness.core.failures import Failure, FailureKind
from harness.load.schedule import Schedule, Window, judge_turns

STATUS = Failure(FailureKind.STATUS, "HTTP 503: down")


def turn(index: int, status: int, error: Failure | None = None) -> TurnRecord:
    return TurnRecord(
        index=index, text="t", reply="r", latency_ms=100.0, status=status, error=error
    )


def conversation(*turns: TurnRecord) -> Observation:
    obs = Observation(session_id="s")
    obs.turns = list(turns)
    for t in turns:
        if t.error is not None:
            obs.fail(t.error.at(turn=t.index))
    return obs


def test_a_failed_turn_in_flight_during_a_window_is_excused_and_outside_it_is_not() -> None:
    plan = Schedule([Window(10.0, 13.0)])
    assert plan.excuses(9.95, 10.05, STATUS)  # sent just before, answered inside
    assert plan.excuses(12.9, 13.2, STATUS)
    assert not plan.excuses(13.0, 13.1, STATUS) and not plan.excuses(9.0, 9.9, STATUS)
    fault: dict[str, object] = {}
    obs = conversation(turn(1, 503, STATUS), turn(2, 200))
    judge_turns(plan, obs, [10.5, 11.0], [(200,), (200,)], fault)
    assert obs.error is None and fault["accepted"] == []
    obs = conversation(turn(1, 503, STATUS))  # outside: the agent's failure, as before
    judge_turns(plan, obs, [20.0], [(200,), (200,)], fault)
    assert obs.error is not None and obs.error.turn == 1


def test_accept_status_is_the_contract_only_while_its_window_is_on() -> None:
    plan = Schedule([Window(10.0, 13.0, (503,))])
    assert plan.accepting(10.5) == (503,) and plan.accepting(9.0) == ()
    assert plan.accepting(9.0, 10.1) == (503,)  # a turn sent just before may be answered inside
    # another status during a window that accepts 503 is the agent's failure
    assert not plan.excuses(10.5, 10.6, Failure(FailureKind.STATUS, "HTTP 500"))
    assert plan.excuses(10.5, 10.6, Failure(FailureKind.TIMEOUT, "timed out"))
    fault: dict[str, object] = {}
    obs = conversation(turn(1, 503), turn(2, 200))  # read as a reply (its body)
    judge_turns(plan, obs, [10.5, 11.0], [(200,), (200,)], fault)
    assert obs.error is None and fault["accepted"] == [1]
    # the generator read a 503 as a reply, but no window accepting it was on: a failure
    obs = conversation(turn(1, 503), turn(2, 200))
    judge_turns(plan, obs, [20.0, 20.5], [(200,), (200,)], fault)
    assert obs.error is not None and obs.error.turn == 1 and fault["accepted"] == []
    assert obs.turns[0].error is not None and obs.turns[0].error.kind is FailureKind.STATUS


def test_a_conversation_the_generator_ended_keeps_the_failure_it_ended_on() -> None:
    plan = Schedule([Window(10.0, 13.0)])
    fault: dict[str, object] = {}
    obs = conversation(turn(1, 503, STATUS))  # one turn of two played
    judge_turns(plan, obs, [10.5], [(200,), (200,)], fault)
    assert obs.error is not None and obs.error.turn == 1


def test_the_generator_plays_by_the_profile_schedule() -> None:
    plan = Schedule.planned([[4.0, 7.0, [503]]], t0=100.0)
    assert plan.accepting(104.5) == (503,) and plan.accepting(103.0) == ()
    assert plan.in_flight(103.9, 104.1) and not plan.in_flight(103.0, 103.9)
    # the harness removes a window a moment after its planned end (or later, on a busy
    # machine) and judges by the windows as applied: from the window's start on, the
    # generator reads a 503 as a reply (the harness decides whether a window accepted it),
    # and for a second past the planned end it excuses another failure
    assert plan.in_flight(107.0, 107.5) and plan.accepting(107.2, 107.3) == (503,)
    assert plan.accepting(108.1, 108.2) == (503,) and plan.accepting(130.0) == (503,)
    assert plan.accepting(90.0, 95.0) == ()  # before the window could be on: the contract
    assert not plan.excuses(108.1, 108.2, STATUS)
    assert not plan.excuses(105.0, 105.1, STATUS)  # in the window: the contract, no failure
    timeout = Failure(FailureKind.TIMEOUT, "timed out")
    assert plan.excuses(107.2, 107.3, timeout)
    assert not Schedule([Window(104.0, 107.0)]).in_flight(107.0, 107.5)  # as applied: exact
    assert Schedule([Window(104.0, 107.0, (503,))]).accepting(107.2, 107.3) == ()
    down = Schedule.planned([[4.0, 7.0, []]], t0=100.0)  # a window that accepts nothing
    assert down.excuses(107.2, 107.3, STATUS) and not down.excuses(108.1, 108.2, STATUS)


def test_a_503_just_after_the_planned_end_is_judged_by_the_window_as_applied() -> None:
    """The generator plays a turn sent 1 ms after the planned end with 503 in its contract and
    reads the body as the reply; the window as applied decides whether it was accepted."""
    plan = Schedule.planned([[4.0, 7.0, [503]]], t0=100.0)
    assert 503 in plan.accepting(107.001, 117.001)
    late = Schedule([Window(104.01, 107.003, (503,))])  # removed 3 ms after its planned end
    fault: dict[str, object] = {}
    obs = conversation(turn(1, 503), turn(2, 503))
    judge_turns(late, obs, [106.999, 107.001], [(200,), (200,)], fault)
    assert obs.error is None and fault["accepted"] == [1, 2]
    assert all(t.error is None and t.reply == "r" for t in obs.turns)
    early = Schedule([Window(104.01, 107.0, (503,))])  # removed before the turn was sent
    obs = conversation(turn(1, 503), turn(2, 503))
    judge_turns(early, obs, [106.999, 107.001], [(200,), (200,)], fault)
    assert obs.error is not None and obs.error.turn == 2 and fault["accepted"] == [1]


def test_a_503_long_after_the_planned_end_is_read_and_judged_by_the_window_as_applied() -> None:
    """A window the harness removed 1.5 s late (a busy loop): the generator read the 503 as a
    reply and played on; the window as applied accepts it, with its body. After the removal
    the same 503 is the agent's failure, though the generator played the conversation on."""
    plan = Schedule.planned([[4.0, 7.0, [503]]], t0=100.0)
    assert 503 in plan.accepting(108.2, 118.2)
    late = Schedule([Window(104.0, 108.5, (503,))])
    fault: dict[str, object] = {}
    obs = conversation(turn(1, 200), turn(2, 503), turn(3, 200))
    judge_turns(late, obs, [107.9, 108.2, 108.6], [(200,)] * 3, fault)
    assert obs.error is None and fault["accepted"] == [2] and obs.turns[1].reply == "r"
    obs = conversation(turn(1, 200), turn(2, 503), turn(3, 503))
    judge_turns(late, obs, [107.9, 108.2, 108.6], [(200,)] * 3, fault)
    assert obs.error is not None and obs.error.turn == 3 and fault["accepted"] == [2]
    # played on after the window: every 503 is the agent's, not only the first (the report
    # counts a non-2xx turn without an error as accepted)
    obs = conversation(turn(1, 503), turn(2, 200), turn(3, 503))
    judge_turns(late, obs, [109.0, 109.1, 109.2], [(200,)] * 3, fault)
    assert obs.error is not None and obs.error.turn == 1 and fault["accepted"] == []
    assert [t.error is not None for t in obs.turns] == [True, False, True]


def test_a_status_the_generator_failed_but_the_applied_window_accepts_says_so() -> None:
    """A generator whose clock differs did not count the window on: the 503 is excused, not a
    pass, and the turn says why it has no reply (a check reading it is an error)."""
    applied = Schedule([Window(104.0, 109.5, (503,))])
    fault: dict[str, object] = {}
    unread = TurnRecord(index=2, text="t", reply=None, latency_ms=1.0, status=503, error=STATUS)
    obs = conversation(turn(1, 503), unread)
    judge_turns(applied, obs, [106.0, 109.0], [(200,), (200,)], fault)
    assert obs.error is None and fault["accepted"] == [1]
    assert obs.turns[1].error is not None and "its clock differs" in obs.turns[1].error.message


def test_a_when_that_reads_a_turn_never_played_reads_it_as_null() -> None:
    from types import SimpleNamespace

    from harness.run.judge import Judge

    judge = Judge.__new__(Judge)  # `applies` reads only the template cache
    judge.cache = {}
    ended = {"statuses": {"1": 503}, "replies": {"1": None}, "texts": {"1": None}}

    def applies(when: str) -> bool:
        return judge.applies(SimpleNamespace(when=when), ended)  # type: ignore[arg-type]

    assert not applies("{{ statuses.2 | eq(200) }}")  # turn 2 never played: skipped
    assert applies("{{ statuses.2 | ne(200) }}")
    assert applies("{{ statuses.1 | eq(503) }}")
    assert applies("{{ replies.2.state | eq('x') }}")  # cannot tell: judged (an error)
