"""Where a template stands decides the names it may use: `Scope`, and the check of every
template in a value against it (each problem at its `path:line:col`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from harness.errors import Problem
from harness.spec import models as m
from harness.spec.loader import PathKey, Source, did_you_mean
from harness.spec.template import Template, TemplateError

CASE_FIELDS = ("id", "session_id", "seed", "index", "scenario")
TURN_FIELDS = ("text", "index")
FAULT_FIELDS = ("profile", "applied", "turns", "hit", "accepted")
DEP_FIELDS = ("url", "host", "port", "user", "password", "database", "kind", "ports")


#: names a setup row cannot take: the context already holds them
RESERVED_ROWS = (
    "params", "vars", "case", "turn", "session", "reply", "replies", "statuses", "texts",
    "tool_results", "user", "fault",
)  # fmt: skip


NO_RECEIVER = (
    "no OTLP receiver runs for this suite (a run traces only with a span check, or a "
    "`before`/`after` naming a span, or an http_service with `match: traceparent`): add a "
    "span check, or a service with match: traceparent, or remove it"
)


def traces(dependencies: Mapping[str, Any], scenarios: Iterable[m.Scenario]) -> bool:
    """Whether a run of the suite sends `traceparent` and receives spans: a span check (or
    an order against a span) in any scenario, or a service matched by `traceparent`."""
    for dep in dependencies.values():
        if getattr(dep, "kind", None) == "http_service" and getattr(dep, "match", None) == (
            "traceparent"
        ):
            return True
    return any(_spans(check) for s in scenarios for check in s.checks)


def _spans(check: Any) -> bool:
    if getattr(check, "type", None) == "span":
        return True
    return any(
        getattr(getattr(check, side, None), "span", None) is not None
        for side in ("before", "after")
    )


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
        otel: bool = True,
    ) -> None:
        self.otel = otel  # whether an OTLP receiver runs (`traces`): `otel.*` has a value
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
        roots += ["agent", "python", "suite_dir", "run", "env", "otel"] if self.agent else []
        roots += ["deps"] if self.deps is not None else []
        # captured so far; the last reply; every reply by its turn number (replies.2.state)
        # its HTTP status (statuses.2) and its text, whatever the agent's shape (texts.2)
        roots += ["session", "reply", "replies", "statuses", "texts"] if self.conversation else []
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
                return field_problem(sub, path[2], self.fields.get(sub))
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
        elif root == "fault" and sub not in FAULT_FIELDS:
            return f"fault.{sub} does not exist{did_you_mean(sub or '', FAULT_FIELDS)}"
        elif root == "agent" and sub != "port":
            return "agent has only 'port' (the free port the harness picked for the agent)"
        elif root == "run" and sub != "id":
            return "run has only 'id'"
        elif root == "otel" and sub != "endpoint":
            return "otel has only 'endpoint' (the base URL of the harness's OTLP receiver)"
        elif root == "otel" and not self.otel:
            return NO_RECEIVER
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


def var_fields(spec: Any) -> list[set[str] | None] | None:
    """The fields of each option of a var that is a choice (None for an option that is no
    mapping); None when what the var holds is not known before the case runs."""
    if isinstance(spec, m.ChoiceGen):
        return [set(map(str, o)) if isinstance(o, Mapping) else None for o in spec.choice]
    return None


def field_problem(var: str, field: str, options: list[set[str] | None] | None) -> str | None:
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


def walk(value: Any, loc: PathKey) -> Iterator[tuple[PathKey, str]]:
    if isinstance(value, str):
        if "{{" in value:
            yield loc, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from walk(v, (*loc, k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from walk(v, (*loc, i))


def check_templates(value: Any, loc: PathKey, scope: Scope, src: Source) -> Iterator[Problem]:
    for where, text in walk(value, loc):
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
