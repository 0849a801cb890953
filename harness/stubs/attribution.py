"""Whether every call check and every scenario's `services:` routes can tell their case's
requests from the others': a stub shared by concurrent cases needs `match:` (traceparent or
a rule); without one, only a run of concurrency 1 can ("the only case in flight"). Refused
at session start, before anything starts (exit 2), each at its file and line."""

from __future__ import annotations

from collections.abc import Iterator

from harness.errors import ConfigError, Problem
from harness.spec import models as m
from harness.spec.suite import Suite

FIX = (
    "add `match: traceparent` to the dependency (the agent propagates the trace context the "
    "harness sends with every turn) or a match rule ({json|query|header|path_regex, value}), "
    "or run with --concurrency 1"
)


def stubs(suite: Suite) -> dict[str, m.HttpServiceDependency]:
    return {
        name: dep
        for name, dep in suite.manifest.environment.dependencies.items()
        if isinstance(dep, m.HttpServiceDependency)
    }


def unattributable(suite: Suite, concurrency: int, run: str | None = None) -> Iterator[Problem]:
    """Each call check and scenario route on a stub without `match:`, when the run's
    concurrency is above 1 (`run`: how the run is named; default "a run of concurrency N")."""
    if concurrency <= 1:
        return
    blind = {name for name, dep in stubs(suite).items() if dep.match is None}
    if not blind:
        return
    said = (run or f"a run of concurrency {concurrency}").replace("{", "{{").replace("}", "}}")
    why = said + (
        " cannot tell which case a request to {s!r} belongs to: the dependency has no `match:`"
    )
    for scenario in suite.scenarios:
        found = suite.located.scenario(scenario.id)
        if found is None:
            continue
        source, base = found
        for k, check in enumerate(scenario.checks):
            service = getattr(check, "service", None)
            if getattr(check, "type", None) == "call" and service in blind:
                yield source.problem(
                    (*base, "checks", k),
                    why.format(s=service) + ", so this call check is refused",
                )
        for name in scenario.services:
            if name in blind:
                yield source.problem(
                    (*base, "services", name),
                    why.format(s=name) + ", so these routes are refused",
                    key=True,
                )


def refuse_unattributable(suite: Suite, concurrency: int) -> None:
    """Raise ConfigError (exit 2) naming every check and route that cannot be attributed."""
    problems = list(unattributable(suite, concurrency))
    if problems:
        raise ConfigError(problems, hint=FIX)
