"""A suite's stubbed services checked when it loads: a scenario's `services:` and a call
check name an `http_service` dependency, and every template of a stub's answers and of its
`match:` value uses only names it can have (`request.*`, `params`, and a case's `vars`,
`case` and setup rows: a suite route may answer any scenario's case, a scenario's route its
own)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harness.errors import Problem
from harness.spec import models as m
from harness.spec.loader import PathKey, Source, did_you_mean
from harness.spec.scope import Scope, check_templates


def _dump(model: Any) -> Any:
    return model.model_dump(by_alias=True, exclude_unset=True)


def check_stubs(
    manifest: m.SuiteFile | None,
    manifest_src: Source | None,
    params: dict[str, Any],
    scenarios: list[tuple[m.Scenario, Source, int]],
    *,
    every_scenario: bool = True,
) -> Iterator[Problem]:
    """`every_scenario`: the scenarios are all the suite's (none failed to load); else the
    suite's own templates, which may use any scenario's names, are not checked."""
    if manifest is None or manifest_src is None:
        return
    stubs = {
        name: dep
        for name, dep in manifest.environment.dependencies.items()
        if isinstance(dep, m.HttpServiceDependency)
    }
    every_var = tuple(dict.fromkeys(v for sc, _, _ in scenarios for v in sc.vars))
    every_row = tuple(dict.fromkeys(r for sc, _, _ in scenarios for r in sc.setup))
    answers = Scope(params, vars=every_var, entities=every_row, case=True, extra=("request",))
    for name, dep in stubs.items() if every_scenario else ():
        loc: PathKey = ("environment", "dependencies", name)
        for k, route in enumerate(dep.routes):
            yield from check_templates(_dump(route), (*loc, "routes", k), answers, manifest_src)
        yield from check_templates(_dump(dep.default), (*loc, "default"), answers, manifest_src)
        if isinstance(dep.match, m.MatchRule):
            case = Scope(params, vars=every_var, entities=every_row, case=True)
            yield from check_templates(dep.match.value, (*loc, "match", "value"), case,
                                       manifest_src)  # fmt: skip

    def named(service: str, src: Source, at: PathKey, key: bool = False) -> Iterator[Problem]:
        if service not in stubs:
            yield src.problem(
                at,
                f"{service!r} is not an http_service dependency of this suite"
                f"{did_you_mean(service, list(stubs))}",
                key=key,
            )

    for scenario, src, index in scenarios:
        base: PathKey = ("scenarios", index)
        for j, check in enumerate(scenario.checks):
            if isinstance(check, m.CallCheck):
                yield from named(check.service, src, (*base, "checks", j, "service"))
        own = Scope(params, vars=tuple(scenario.vars), entities=tuple(scenario.setup), case=True,
                    extra=("request",))  # fmt: skip
        for service, routes in scenario.services.items():
            at: PathKey = (*base, "services", service)
            yield from named(service, src, at, key=True)
            for k, route in enumerate(routes):
                yield from check_templates(_dump(route), (*at, k), own, src)
