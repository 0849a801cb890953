"""The agent's request templates checked against each scenario's own names.

The http agent's `login`, `open`, turn request and `close` (and the openai agent's
fields) are rendered once per conversation, in the context of ONE case: its scenario's
vars and setup rows. A template reading `{{ customer.customer_no }}` is fine for a
scenario with a `customer` row and an error in every case of one without, so each
template is checked against every scenario, and a scenario that cannot render it is
refused at the template's `path:line:col`, naming the scenario and the fix. A name read
under `default(...)` may be missing: the template renders the default there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harness.errors import Problem
from harness.spec.loader import PathKey, Source
from harness.spec.models import Scenario
from harness.spec.scope import walk
from harness.spec.template import Expr, Template, TemplateError

#: how many lacking scenarios one problem names (the rest are counted)
SHOWN = 5


def check_per_scenario(
    data: Any,
    loc: PathKey,
    src: Source,
    scenarios: list[tuple[Scenario, Source, int]],
    fixed: tuple[str, ...],
) -> Iterator[Problem]:
    """Every template in `data` (an agent adapter as the suite wrote it) against each
    scenario's vars and setup rows. `fixed`: the names every conversation has (params,
    case, turn, session, the agent's environment): never a scenario's own. A name no
    scenario has is the union check's to report (with its suggestion), not this one's."""
    every_var = {v for sc, _, _ in scenarios for v in sc.vars}
    every_row = {r for sc, _, _ in scenarios for r in sc.setup}
    for where, text in walk(data, loc):
        try:
            tpl = Template(text)
        except TemplateError:
            continue  # reported by the union check
        for expr in tpl.expressions():
            for path in _required(expr):
                root = path[0]
                if root in fixed:
                    continue
                known = path[1] in every_var if root == "vars" else root in every_row
                if not known:
                    continue
                lacking = [
                    (sc, sc_src, i) for sc, sc_src, i in scenarios if _lacks(sc, path) is not None
                ]
                if lacking:
                    yield src.problem(where, _message(expr, path, lacking))


def _required(expr: Expr) -> Iterator[tuple[str, ...]]:
    """The names an expression cannot render without: its own path unless a `default`
    follows it (then a missing name renders the default), and every name a filter takes."""
    if not any(f.name == "default" for f in expr.filters):
        yield expr.path
    for path in expr.paths():
        if path != expr.path and (path[0] != "vars" or len(path) > 1):
            yield path


def _lacks(scenario: Scenario, path: tuple[str, ...]) -> str | None:
    """What the scenario lacks of `path` (None: it has it)."""
    root = path[0]
    if root != "vars":
        return None if root in scenario.setup else f"has no setup row `{root}`"
    if len(path) < 2:
        return None
    name = path[1]
    if name not in scenario.vars:
        return f"has no var `{name}`"
    if len(path) > 2:
        options = _options(scenario.vars[name])
        if options is not None and any(o is None or path[2] not in o for o in options):
            return f"has an option of vars.{name} without the field `{path[2]}`"
    return None


def _options(spec: Any) -> list[set[str] | None] | None:
    """The fields of each option of a choice (None for an option that is no mapping);
    None when the var is no choice (what it holds is known only when the case runs)."""
    choice = getattr(spec, "choice", None)
    if not isinstance(choice, list):
        return None
    return [set(map(str, o)) if isinstance(o, dict) else None for o in choice]


def _message(expr: Expr, path: tuple[str, ...], lacking: list[tuple[Scenario, Source, int]]) -> str:
    name = ".".join(path)
    first, src, index = lacking[0]
    line, _ = src.where(("scenarios", index), key=False)
    what = _lacks(first, path)
    if path[0] == "vars":
        add = f"declare vars.{path[1]} in it" if what and "no var" in what else "fix the var"
    else:
        add = f"add a setup row `{path[0]}` to it"
    told = f"scenario `{first.id}` ({src.display}:{line}) {what}"
    rest = lacking[1:]
    if rest:
        named = ", ".join(f"`{sc.id}` ({s.display})" for sc, s, _ in rest[:SHOWN])
        more = f" and {len(rest) - SHOWN} more" if len(rest) > SHOWN else ""
        told += f"; so do {named}{more}"
    fix = f"{{{{ {name} | default(...) }}}}"
    return (
        f"{{{{ {expr.source} }}}}: the agent's request renders in every scenario's cases, "
        f"but {told}; {add}, or use `{fix}`"
    )
