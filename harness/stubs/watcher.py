"""`StubWatcher`: the engine's `Watcher` for stubbed services. `begin` registers the
conversation with every stub (its trace id, its `match:` value rendered against the case's
context, its scenario's routes for that stub, fresh sequence counters); `end` puts the
requests each stub attributed to it into `obs.requests` (by arrival, each on the turn in
flight when it arrived; one still being answered marked `pending`), and how many requests
of no case each stub received while it was in flight into `obs.requests_stray`, and
unregisters it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.core.calls import ServiceRequest
from harness.core.watch import Watched
from harness.spec import models as m
from harness.spec.template import Template, TemplateError

if TYPE_CHECKING:
    from harness.core.types import Observation, TurnRecord
    from harness.stubs.service import StubService


def key_of(watched: Watched) -> tuple[str, int, int | None]:
    return (watched.case.id, watched.trial, watched.variant)


def match_value(service: StubService, watched: Watched) -> str | None:
    """The case's value of the stub's `match:` rule; None when it has none or it cannot be
    rendered for this case (its requests are then attributed by traceparent only)."""
    rule = service.dep.match
    if not isinstance(rule, m.MatchRule):
        return None
    try:
        return Template(rule.value).render_text(watched.ctx)
    except TemplateError:
        return None


def turn_of(at_ns: int, turns: Sequence[TurnRecord]) -> int | None:
    """The last turn sent at or before `at_ns` (1-based), None before the first."""
    found = None
    for turn in turns:
        if turn.sent_ns and turn.sent_ns <= at_ns:
            found = turn.index
    return found


class StubWatcher:
    """Sees the requests a run's stubs receive, per conversation (see the module doc)."""

    def __init__(self, services: Sequence[StubService], *, concurrency: int) -> None:
        self.services = list(services)
        for service in self.services:
            service.registry.sole = concurrency == 1

    def begin(self, watched: Watched) -> None:
        for service in self.services:
            routes = list(watched.scenario.services.get(service.name, []))
            service.registry.register(
                service.entry(
                    key_of(watched),
                    watched.trace_id,
                    watched.ctx,
                    match_value(service, watched),
                    routes,
                )
            )

    async def end(self, watched: Watched, obs: Observation) -> None:
        got: list[ServiceRequest] = []
        stray: dict[str, int] = {}
        for service in self.services:
            entry = service.registry.unregister(key_of(watched))
            if entry is not None:
                got += entry.log()
                if entry.strays:
                    stray[service.name] = entry.strays
        obs.requests_stray = stray
        got.sort(key=lambda r: r.at_ns)
        obs.requests = [_on_turn(r, turn_of(r.at_ns, obs.turns)) for r in got]


def _on_turn(request: ServiceRequest, turn: int | None) -> ServiceRequest:
    from dataclasses import replace

    return replace(request, turn=turn)
