"""Watchers: what sees one conversation from outside the agent while it runs (the spans the
agent sends, the requests stubbed services receive), and adds it to the observation.

The engine calls `begin` before a conversation's first request (the scenario's own turns,
each variant, a conversation a load generator holds) and `end` after its last reply, before
any check is judged; `end` fills the observation's fields (`spans`, `requests`...). A watcher
never raises for anything the agent does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from harness.core.types import Case, Observation
    from harness.spec import models as m


@dataclass(frozen=True, slots=True)
class Watched:
    """One conversation: its case, trial, variant (None: the scenario's own turns), the
    trace id the harness sends with its turns (None when it sends none), its scenario and
    the template context of the case (vars, case, params, setup rows)."""

    case: Case
    trial: int
    variant: int | None
    trace_id: str | None
    scenario: m.Scenario
    ctx: Mapping[str, Any]


class Watcher(Protocol):
    def begin(self, watched: Watched) -> None:
        """From now on, what this conversation causes belongs to it."""
        ...

    async def end(self, watched: Watched, obs: Observation) -> None:
        """The conversation is over: put what it caused into `obs`, and forget it."""
        ...
