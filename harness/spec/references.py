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
from harness.spec.template import Template, TemplateError, to_decimal

_TABLE = re.compile(r"[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*)?$")
CASE_FIELDS = ("id", "session_id", "seed", "index", "scenario")
TURN_FIELDS = ("text", "index")
DEP_FIELDS = ("url", "host", "port", "user", "password", "database", "kind", "ports")


#: names a setup row cannot take: the context already holds them
RESERVED_ROWS = ("params", "vars", "case", "turn", "session", "reply", "replies", "tool_results")


class Scope:
    """The names a template may use where it stands."""

    def __init__(
        self,
        params: Mapping[str, Any],
        *,
        vars: tuple[str, ...] | None = None,
        entities: tuple[str, ...] = (),
        case: bool = False,
        turn: bool = False,
        agent: bool = False,
        deps: Mapping[str, tuple[str, ...]] | tuple[str, ...] | None = None,
        conversation: bool = False,
        extra: tuple[str, ...] = (),
        captures: tuple[str, ...] | None = None,
        fields: Mapping[str, list[set[str] | None] | None] | None = None,
    ) -> None:
        self.params = params
        self.fields = fields or {}  # a var's options' fields, where it is a choice of mappings
        self.extra = extra
        self.captures = captures  # what the agent's conversation can capture (None: unknown)
        self.conversation = conversation
        self.vars = vars
        self.entities = entities
        self.case = case
        self.turn = turn
        self.agent = agent
        self.deps = deps

    def roots(self) -> list[str]:
        roots = ["params", *self.entities]
        roots += ["vars"] if self.vars is not None else []
        roots += ["case"] if self.case else []
        roots += ["turn"] if self.turn else []
        roots += ["agent", "python", "suite_dir", "run", "env"] if self.agent else []
        roots += ["deps"] if self.deps is not None else []
        # captured so far; the last reply; every reply by its turn number (replies.2.state)
        roots += ["session", "reply", "replies"] if self.conversation else []
        return roots + list(self.extra)

    def check(self, path: tuple[str, ...]) -> str | None:
        root = path[0]
        if root not in self.roots():
            return (
                f"{root!r} is not known here{did_you_mean(root, self.roots())}; usable: "
                + ", ".join(self.roots())
            )
        sub = path[1] if len(path) > 1 else None
        if root == "params":
            if sub is None or sub not in self.params:
                return f"unknown spec parameter {sub!r}{did_you_mean(sub or '', self.params)}"
        elif root == "vars":
            assert self.vars is not None
            if sub is None or sub not in self.vars:
                hint = did_you_mean(sub or "", self.vars)
                return f"vars.{sub} is not declared{hint}"
            if len(path) > 2:
                return _field_problem(sub, path[2], self.fields.get(sub))
        elif root == "case" and (sub is None or sub not in CASE_FIELDS):
            return f"case.{sub} does not exist{did_you_mean(sub or '', CASE_FIELDS)}"
        elif root == "turn" and (sub is None or sub not in TURN_FIELDS):
            return f"turn.{sub} does not exist{did_you_mean(sub or '', TURN_FIELDS)}"
        elif root == "session" and self.captures is not None and sub not in self.captures:
            known = ", ".join(self.captures) or "none"
            return (
                f"session.{sub} is never captured{did_you_mean(sub or '', self.captures)}; "
                f"the agent's captures: {known} (capture: under http's login, open or turn)"
            )
        elif root == "agent" and sub != "port":
            return "agent has only 'port' (the free port the harness picked for the agent)"
        elif root == "run" and sub != "id":
            return "run has only 'id'"
        elif root == "env" and sub is None:
            return "name the variable, e.g. env.MY_FLAG (missing variables are empty)"
        elif root == "deps":
            assert self.deps is not None
            if sub not in self.deps:
                return f"no dependency named {sub!r}{did_you_mean(sub or '', self.deps)}"
            field = path[2] if len(path) > 2 else None
            if field not in DEP_FIELDS:
                return f"deps.{sub}.{field} does not exist{did_you_mean(field or '', DEP_FIELDS)}"
            if field == "ports":
                return _port_problem(sub or "", path[3] if len(path) > 3 else None, self.deps)
        return None


def _fields(spec: Any) -> list[set[str] | None] | None:
    """The fields of each option of a var that is a choice (None for an option that is no
    mapping); None when what the var holds is not known before the case runs."""
    if isinstance(spec, m.ChoiceGen):
        return [set(map(str, o)) if isinstance(o, Mapping) else None for o in spec.choice]
    return None


def _field_problem(var: str, field: str, options: list[set[str] | None] | None) -> str | None:
    """vars.NAME.FIELD: every option of a choice of mappings must have the field."""
    if options is None:
        return None
    every = sorted(set().union(*(o for o in options if o is not None)))
    for n, fields in enumerate(options, 1):
        if fields is None:
            return (
                f"vars.{var}.{field}: option {n} of vars.{var} is a single value, not a mapping "
                "with fields; make every option a mapping (said: ..., hm: ...)"
            )
        if field not in fields:
            if any(field in o for o in options if o is not None):
                return f"vars.{var}.{field}: option {n} of vars.{var} has no {field!r}"
            return (
                f"vars.{var} has no field {field!r}{did_you_mean(field, every)}; "
                f"its fields: {', '.join(every)}"
            )
    return None


def _port_problem(
    dep: str, port: str | None, deps: Mapping[str, tuple[str, ...]] | tuple[str, ...]
) -> str | None:
    """deps.NAME.ports.PORT: the host port published for a container port NAME declares."""
    declared = deps.get(dep, ()) if isinstance(deps, Mapping) else ()
    if port is None:
        return f"name the container port, e.g. deps.{dep}.ports.{declared[0] if declared else 80}"
    if port not in declared:
        listed = ", ".join(declared) or "none"
        return f"deps.{dep} does not publish port {port} (its ports: {listed})"
    return None


def _walk(value: Any, loc: PathKey) -> Iterator[tuple[PathKey, str]]:
    if isinstance(value, str):
        if "{{" in value:
            yield loc, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _walk(v, (*loc, k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _walk(v, (*loc, i))


def _check(value: Any, loc: PathKey, scope: Scope, src: Source) -> Iterator[Problem]:
    for where, text in _walk(value, loc):
        try:
            tpl = Template(text)
        except TemplateError as exc:
            yield src.problem(where, str(exc))
            continue
        for expr in tpl.expressions():
            for path in expr.paths():
                message = scope.check(path)
                if message:
                    yield src.problem(where, f"{{{{ {expr.source} }}}}: {message}")


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
    for scenario, src, index in scenarios:
        yield from _scenario(scenario, src, ("scenarios", index), params, captures)
    owned = Scope(params, case=True, conversation=True, captures=captures)
    for k, inv in enumerate(invariants):
        assert inv_src is not None
        yield from _check(inv.query, ("invariants", k, "query"), Scope(params), inv_src)
        for column, target in (inv.scope or {}).items():
            at: PathKey = ("invariants", k, "scope", column)
            if "{{" in target:  # a value the case owns, through its conversation
                yield from _check(target, at, owned, inv_src)
            elif not _TABLE.match(target):
                yield inv_src.problem(
                    at,
                    f"{target!r} is neither a table (orders, orders.ref) nor a value of the "
                    "case's conversation ({{ case.session_id }}, {{ session.NAME }})",
                )
    if manifest is None or manifest_src is None:
        return
    env = manifest.environment
    deps = {
        name: tuple(str(p).split("/")[0] for p in getattr(dep, "ports", ()))
        for name, dep in env.dependencies.items()
    }
    agent_scope = Scope(params, agent=True, deps=deps)
    agent_loc: PathKey = ("environment", "agent")
    if env.agent.process:
        yield from _check(
            _dump(env.agent.process), (*agent_loc, "process"), agent_scope, manifest_src
        )
    if env.agent.health:
        yield from _check(
            _dump(env.agent.health), (*agent_loc, "health"), agent_scope, manifest_src
        )
    if env.agent.python:
        yield from _check(
            _dump(env.agent.python), (*agent_loc, "python"), agent_scope, manifest_src
        )
    if env.agent.version is not None:
        yield from _check(env.agent.version, (*agent_loc, "version"), agent_scope, manifest_src)
    if env.secrets:
        yield from _check(env.secrets, ("environment", "secrets"), agent_scope, manifest_src)
    # the agent's requests are rendered per conversation: first every name against what any
    # scenario's case has (a typo gets its suggestion), then against each scenario's own
    every_var = tuple(dict.fromkeys(v for sc, _, _ in scenarios for v in sc.vars))
    every_row = tuple(dict.fromkeys(r for sc, _, _ in scenarios for r in sc.setup))
    call_scope = Scope(
        params, vars=every_var, entities=every_row, agent=True, deps=deps, case=True,
        turn=True, conversation=True, captures=captures,
    )  # fmt: skip
    for kind in ("http", "openai"):
        adapter = getattr(env.agent, kind)
        if adapter is not None:
            yield from _check(_dump(adapter), (*agent_loc, kind), call_scope, manifest_src)
            fixed = Scope(params, agent=True, deps=deps, case=True, turn=True, conversation=True)
            yield from check_per_scenario(  # and each scenario's case must have what it reads
                _dump(adapter), (*agent_loc, kind), manifest_src, scenarios, tuple(fixed.roots())
            )
    for name, dep in env.dependencies.items():
        seed = getattr(dep, "seed", None)
        if seed is not None:
            loc = ("environment", "dependencies", name, "seed")
            yield from _check(_dump(seed), loc, Scope(params), manifest_src)
            for t, table in enumerate(seed.tables):
                for col, spec in table.columns.items():
                    yield from _generator(
                        spec, manifest_src, (*loc, "tables", t, "columns", col), params, seed=True
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


def _scenario(
    scenario: Scenario,
    src: Source,
    base: PathKey,
    params: Mapping[str, Any],
    captures: tuple[str, ...] | None = None,
) -> Iterator[Problem]:
    vars_ = tuple(scenario.vars)
    rows = tuple(scenario.setup)
    fields = {name: _fields(spec) for name, spec in scenario.vars.items()}
    for name, spec in scenario.vars.items():  # any var or setup value: made in their order
        scope = Scope(params, vars=vars_, entities=rows, fields=fields)
        yield from _check(_dump(spec), (*base, "vars", name), scope, src)
        yield from _generator(spec, src, (*base, "vars", name), params)
    for (owner, key), message in order(scenario).problems:
        loc = (*base, "vars", key) if owner == "vars" else (*base, "setup", owner, "values", key)
        yield src.problem(loc, message)
    entities: list[str] = []
    for name, row in scenario.setup.items():
        scope = Scope(params, vars=vars_, entities=tuple(entities), case=True, fields=fields)
        for col, value in row.values.items():
            yield from _check(_dump(value), (*base, "setup", name, "values", col), scope, src)
            yield from _generator(value, src, (*base, "setup", name, "values", col), params)
        if name in RESERVED_ROWS:
            yield src.problem(
                (*base, "setup", name), f"{name!r} is reserved; name the row otherwise"
            )
        entities.append(name)
    full = Scope(params, vars=vars_, entities=tuple(entities), case=True, fields=fields)
    for k, item in enumerate(scenario.redis_setup):
        yield from _check(_dump(item), (*base, "redis_setup", k), full, src)
    talk = Scope(params, vars=vars_, entities=tuple(entities), case=True, conversation=True,
                 captures=captures, fields=fields)  # fmt: skip
    for k, turn in enumerate(scenario.turns):
        yield from _check(_dump(turn), (*base, "turns", k), talk, src)
    tools = Scope(params, vars=vars_, entities=tuple(entities), case=True, turn=True,
                  conversation=True, extra=("call",), captures=captures,
                  fields=fields)  # fmt: skip
    yield from _check(scenario.tool_results, (*base, "tool_results"), tools, src)
    for k, variant in enumerate(scenario.variants):
        yield from _check(variant, (*base, "variants", k), full, src)
    for k, check in enumerate(scenario.checks):
        data = _dump(check)
        loc = (*base, "checks", k)
        if check.type in ("sql", "same_state"):
            yield from _check(data.pop("query"), (*loc, "query"), Scope(params), src)
        yield from _check(data, loc, talk, src)
