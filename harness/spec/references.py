"""Every `{{ ... }}` in a suite parsed at load time, and every name it uses checked.

So a typo in `{{ params.aproval_limit }}` is a file:line error with a suggestion
before any server starts, and the spec stays the single source of every number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from harness.errors import Problem
from harness.spec import fakers
from harness.spec import models as m
from harness.spec.agent_refs import check_per_scenario
from harness.spec.clock import has_transitions, is_duration, parse_duration, too_wide
from harness.spec.loader import PathKey, Source, did_you_mean
from harness.spec.models import Invariant, Scenario, SpecFile, SuiteFile
from harness.spec.order import order
from harness.spec.relative import known_timezone
from harness.spec.scope import (
    RESERVED_ROWS,
    Scope,
    check_templates,
    traces,
    var_fields,
)
from harness.spec.template import Template, TemplateError, to_decimal

_TABLE = re.compile(r"[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*)?$")


def _generator(
    spec: Any, src: Source, loc: PathKey, params: Mapping[str, Any], *, seed: bool = False
) -> Iterator[Problem]:
    """Generator settings no single model can check: parameter names, seed-only kinds."""
    if isinstance(spec, m.BoundaryGen):
        if spec.boundary not in params:
            yield src.problem(
                (*loc, "boundary"),
                f"unknown spec parameter {spec.boundary!r}{did_you_mean(spec.boundary, params)}",
            )
        elif is_duration(value := params[spec.boundary]):
            if spec.step is not None:
                yield src.problem((*loc, "step"), "a duration's boundaries use margin, not step")
            if "below" in spec.edges and (short := too_wide(spec.margin, parse_duration(value))):
                where = (*loc, "margin" if spec.margin else "boundary")
                yield src.problem(where, f"parameter {spec.boundary!r}: {short}")
        elif isinstance(value, bool) or not _numeric(value):
            yield src.problem((*loc, "boundary"), f"parameter {spec.boundary!r} is not a number")
        elif spec.margin is not None:
            yield src.problem((*loc, "margin"), "margin is for duration parameters; use step")
    elif isinstance(spec, m.RefGen) and not seed:
        yield src.problem((*loc, "ref"), "ref values exist only in seed data (suite.yaml)")
    elif isinstance(spec, m.TimeEdgeGen | m.DstGen):
        zones = [spec.timezones] if isinstance(spec.timezones, str) else spec.timezones
        for zone in zones:
            if not known_timezone(zone):
                yield src.problem((*loc, "timezones"), _unknown_zone(zone))
            elif isinstance(spec, m.DstGen) and not has_transitions(zone):
                yield src.problem(
                    (*loc, "timezones"),
                    f"{zone} has no daylight saving time (no clock change within two years)",
                )
    elif isinstance(spec, m.MomentGen) and not known_timezone(spec.timezone):
        yield src.problem((*loc, "timezone"), _unknown_zone(spec.timezone))
    elif isinstance(spec, m.FakerGen) and not fakers.provider_exists(spec.faker):
        hint = did_you_mean(spec.faker, fakers.providers())
        yield src.problem((*loc, "faker"), f"faker has no provider {spec.faker!r}{hint}")


def _unknown_zone(zone: str) -> str:
    return f"unknown timezone {zone!r} (use IANA names such as Europe/Berlin)"


def _numeric(value: Any) -> bool:
    try:
        to_decimal(value)
    except TemplateError:
        return False
    return True


def _dump(model: Any) -> Any:
    return (
        model.model_dump(by_alias=True, exclude_unset=True)
        if hasattr(model, "model_dump")
        else model
    )


def check_references(
    manifest: SuiteFile | None,
    manifest_src: Source | None,
    spec: SpecFile,
    scenarios: list[tuple[Scenario, Source, int]],
    invariants: list[Invariant],
    inv_src: Source | None,
) -> Iterator[Problem]:
    params = spec.parameter_values()
    captures = _captures(manifest) if manifest is not None else None
    pools = None
    if manifest is not None:
        from harness.spec.models.drift import POOL_NAMES as POOLS

        pools = tuple(dict.fromkeys([*POOLS, *manifest.filler]))
    for scenario, src, index in scenarios:
        yield from _scenario(scenario, src, ("scenarios", index), params, captures, pools)
    owned = Scope(params, case=True, conversation=True, captures=captures)
    for k, inv in enumerate(invariants):
        assert inv_src is not None
        yield from check_templates(inv.query, ("invariants", k, "query"), Scope(params), inv_src)
        for column, target in (inv.scope or {}).items():
            at: PathKey = ("invariants", k, "scope", column)
            if "{{" in target:  # a value the case owns, through its conversation
                yield from check_templates(target, at, owned, inv_src)
            elif not _TABLE.match(target):
                yield inv_src.problem(
                    at,
                    f"{target!r} is neither a table (orders, orders.ref) nor a value of the "
                    "case's conversation ({{ case.session_id }}, {{ session.NAME }})",
                )
    if manifest is None or manifest_src is None:
        return
    env = manifest.environment
    yield from chain_services(manifest, scenarios)
    deps = {
        name: tuple(str(p).split("/")[0] for p in getattr(dep, "ports", ()))
        for name, dep in env.dependencies.items()
    }
    # `{{ otel.endpoint }}` only where a receiver runs: a suite that traces
    otel = traces(env.dependencies, (sc for sc, _, _ in scenarios))
    agent_scope = Scope(params, agent=True, deps=deps, otel=otel)
    agent_loc: PathKey = ("environment", "agent")
    if env.agent.process:
        yield from check_templates(
            _dump(env.agent.process), (*agent_loc, "process"), agent_scope, manifest_src
        )
    if env.agent.health:
        yield from check_templates(
            _dump(env.agent.health), (*agent_loc, "health"), agent_scope, manifest_src
        )
    if env.agent.python:
        yield from check_templates(
            _dump(env.agent.python), (*agent_loc, "python"), agent_scope, manifest_src
        )
    if env.agent.version is not None:
        yield from check_templates(
            env.agent.version, (*agent_loc, "version"), agent_scope, manifest_src
        )
    if env.secrets:
        yield from check_templates(
            env.secrets, ("environment", "secrets"), agent_scope, manifest_src
        )
    for pool, lines in manifest.filler.items():  # filler never touches a case's facts
        for k, line in enumerate(lines):
            yield from check_templates(line, ("filler", pool, k), Scope(params), manifest_src)
    # the agent's requests are rendered per conversation: first every name against what any
    # scenario's case has (a typo gets its suggestion), then against each scenario's own
    every_var = tuple(dict.fromkeys(v for sc, _, _ in scenarios for v in sc.vars))
    every_row = tuple(dict.fromkeys(r for sc, _, _ in scenarios for r in sc.setup))
    call_scope = Scope(
        params, vars=every_var, entities=every_row, agent=True, deps=deps, case=True,
        turn=True, conversation=True, captures=captures, otel=otel,
    )  # fmt: skip
    for kind in ("http", "openai"):
        adapter = getattr(env.agent, kind)
        if adapter is not None:
            yield from check_templates(_dump(adapter), (*agent_loc, kind), call_scope, manifest_src)
            fixed = Scope(params, agent=True, deps=deps, case=True, turn=True, conversation=True)
            yield from check_per_scenario(  # and each scenario's case must have what it reads
                _dump(adapter), (*agent_loc, kind), manifest_src, scenarios, tuple(fixed.roots())
            )
    for name, dep in env.dependencies.items():
        seed = getattr(dep, "seed", None)
        if seed is not None:
            loc = ("environment", "dependencies", name, "seed")
            yield from check_templates(_dump(seed), loc, Scope(params), manifest_src)
            for t, table in enumerate(seed.tables):
                for col, spec in table.columns.items():
                    yield from _generator(
                        spec, manifest_src, (*loc, "tables", t, "columns", col), params, seed=True
                    )


def chain_services(
    manifest: SuiteFile, scenarios: list[tuple[Scenario, Source, int]]
) -> Iterator[Problem]:
    """A span or call check ordered against a call (`before`/`after: {call: ...}`) names a
    service the suite stubs, an `http_service` dependency, or no request could ever be logged
    for it. (A call check's own `service` is checked with the stubs: spec/stubrefs.py.)"""
    services = [n for n, d in manifest.environment.dependencies.items() if d.kind == "http_service"]
    for scenario, src, index in scenarios:
        for k, check in enumerate(scenario.checks):
            if not isinstance(check, m.ChainCheck):
                continue
            for side in ("before", "after"):
                ref = getattr(check, side)
                if ref is None or ref.call is None or ref.call.service in services:
                    continue
                name = ref.call.service
                yield src.problem(
                    ("scenarios", index, "checks", k, side, "call", "service"),
                    f"{name!r} is not an http_service dependency of this suite"
                    f"{did_you_mean(name, services)} (stubbed services: "
                    f"{', '.join(services) or 'none'}); an order against a call is judged on the "
                    "requests a service the harness stubs received",
                )


def _captures(manifest: SuiteFile) -> tuple[str, ...]:
    """Every name the agent's conversations can capture into `session`."""
    names = ["retries_after_429"]  # counted by every HTTP conversation that waited a 429
    http = manifest.environment.agent.http
    if http is not None:
        for request in (http.login, http.open, http.close):
            names += list(request.capture) if request is not None else []
        names += list(http.capture)
    return tuple(dict.fromkeys(names))


def _user_facts(text: str, facts: tuple[str, ...], src: Source, loc: PathKey) -> Iterator[Problem]:
    """`{{ user.NAME }}` must name one of the user's facts."""
    try:
        expressions = list(Template(text).expressions())
    except TemplateError:
        return  # said by _check
    for expr in expressions:
        for path in expr.paths():
            if path[0] == "user" and (len(path) < 2 or path[1] not in facts):
                name = path[1] if len(path) > 1 else ""
                yield src.problem(
                    loc,
                    f"{{{{ {expr.source} }}}}: the user has no fact {name!r}"
                    f"{did_you_mean(name, facts)}; facts: {', '.join(facts) or 'none'}",
                )


def _scenario(
    scenario: Scenario,
    src: Source,
    base: PathKey,
    params: Mapping[str, Any],
    captures: tuple[str, ...] | None = None,
    pools: tuple[str, ...] | None = None,
) -> Iterator[Problem]:
    vars_ = tuple(scenario.vars)
    rows = tuple(scenario.setup)
    fields = {name: var_fields(spec) for name, spec in scenario.vars.items()}
    for name, spec in scenario.vars.items():  # any var or setup value: made in their order
        scope = Scope(params, vars=vars_, entities=rows, fields=fields)
        yield from check_templates(_dump(spec), (*base, "vars", name), scope, src)
        yield from _generator(spec, src, (*base, "vars", name), params)
    for (owner, key), message in order(scenario).problems:
        loc = (*base, "vars", key) if owner == "vars" else (*base, "setup", owner, "values", key)
        yield src.problem(loc, message)
    entities: list[str] = []
    for name, row in scenario.setup.items():
        scope = Scope(params, vars=vars_, entities=tuple(entities), case=True, fields=fields)
        for col, value in row.values.items():
            yield from check_templates(
                _dump(value), (*base, "setup", name, "values", col), scope, src
            )
            yield from _generator(value, src, (*base, "setup", name, "values", col), params)
        if name in RESERVED_ROWS:
            yield src.problem(
                (*base, "setup", name), f"{name!r} is reserved; name the row otherwise"
            )
        entities.append(name)
    full = Scope(params, vars=vars_, entities=tuple(entities), case=True, fields=fields)
    for k, item in enumerate(scenario.redis_setup):
        yield from check_templates(_dump(item), (*base, "redis_setup", k), full, src)
    user = ("user",) if scenario.user is not None else ()
    talk = Scope(params, vars=vars_, entities=tuple(entities), case=True, conversation=True,
                 captures=captures, fields=fields, extra=user)  # fmt: skip
    if scenario.user is not None:
        facts = tuple(scenario.user.facts)
        for name, value in scenario.user.facts.items():
            yield from check_templates(value, (*base, "user", "facts", name), full, src)
        for k, answer in enumerate(scenario.user.answers):
            yield from check_templates(answer.say, (*base, "user", "answers", k, "say"), talk, src)
            yield from _user_facts(answer.say, facts, src, (*base, "user", "answers", k, "say"))
    if scenario.drift is not None and pools is not None:
        for k, name in enumerate(scenario.drift.pools):
            if name not in pools:
                yield src.problem(
                    (*base, "drift", "pools", k),
                    f"no filler pool {name!r}{did_you_mean(name, pools)}; pools: "
                    + ", ".join(sorted(pools))
                    + " (suite.yaml filler: adds pools)",
                )
    for k, turn in enumerate(scenario.turns):
        yield from check_templates(_dump(turn), (*base, "turns", k), talk, src)
    tools = Scope(params, vars=vars_, entities=tuple(entities), case=True, turn=True,
                  conversation=True, extra=("call",), captures=captures,
                  fields=fields)  # fmt: skip
    yield from check_templates(scenario.tool_results, (*base, "tool_results"), tools, src)
    for k, variant in enumerate(scenario.variants):
        yield from check_templates(variant, (*base, "variants", k), full, src)
    judged = Scope(params, vars=vars_, entities=tuple(entities), case=True, conversation=True,
                   captures=captures, fields=fields, extra=(*user, "fault"))  # fmt: skip
    for k, check in enumerate(scenario.checks):
        data = _dump(check)
        loc = (*base, "checks", k)
        if check.database_kind == "postgres":  # its SQL query sees params alone
            yield from check_templates(data.pop("query"), (*loc, "query"), Scope(params), src)
        yield from check_templates(data, loc, judged, src)
