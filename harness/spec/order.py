"""The order a case's values are made in: its vars and setup values, by what they reference.

A var may use another var or a setup row's value (`date_text: "{{ order.ordered_on }}"`),
and a generated setup value may use a var or an earlier row's value. All of these are
made when the case is planned, before any row is inserted, so they can use only what the
scenario's setup gives: a column the database assigns (`order.id`) is known only at insert
time, in the templates of setup values, turns and checks. The order follows the
references (a value after everything it uses) and otherwise the file's order (vars as
declared, then the rows' columns), so a suite whose values use nothing later draws them
exactly as before. A cycle is refused when the suite loads, with its path.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from harness.spec.template import Template, TemplateError, iter_templates

#: ("vars", name) for a var, (row, column) for a setup value
Node = tuple[str, str]


def name(node: Node) -> str:
    return f"{node[0]}.{node[1]}"


def paths(value: Any) -> Iterator[tuple[str, ...]]:
    """Every name the templates inside a value read (a generator's model, a literal)."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(by_alias=True, exclude_unset=True)
    for text in iter_templates(value):
        try:
            yield from Template(text).paths()
        except TemplateError:
            continue  # reported where templates are checked (spec/references.py)


def is_generated(spec: Any) -> bool:
    """A value generator (a model), not a literal or a template."""
    return hasattr(spec, "model_dump")


@dataclass(frozen=True)
class Order:
    """What is made before the rows are inserted, and in which order."""

    nodes: tuple[Node, ...]  # every var and generated setup value, and what they use
    #: the setup values the vars use (directly or not): a variant keeps the case's
    var_inputs: frozenset[Node]
    problems: tuple[tuple[Node, str], ...]  # (where, message): cycles, insert-time columns


_ORDERS: dict[int, tuple[Any, Order]] = {}


def order(scenario: Any) -> Order:
    """The order of a scenario's values (computed once per scenario: cases are planned by
    the thousand)."""
    known = _ORDERS.get(id(scenario))
    if known is None or known[0] is not scenario:  # the scenario is kept: its id stays its own
        known = _ORDERS[id(scenario)] = (scenario, order_of(scenario))
    return known[1]


def order_of(scenario: Any) -> Order:
    setup: dict[str, Any] = {row: spec.values for row, spec in scenario.setup.items()}
    natural: list[Node] = [("vars", v) for v in scenario.vars]
    natural += [(row, col) for row, values in setup.items() for col in values]
    spec_of: dict[Node, Any] = {("vars", v): s for v, s in scenario.vars.items()}
    spec_of.update({(row, col): s for row, values in setup.items() for col, s in values.items()})
    uses: dict[Node, list[Node]] = {}
    late: dict[Node, list[str]] = {}  # node -> the insert-time names it reads
    for node in natural:
        uses[node], late[node] = [], []
        for path in paths(spec_of[node]):
            root = path[0]
            if root == "vars" and len(path) > 1 and path[1] in scenario.vars:
                uses[node].append(("vars", path[1]))
            elif root in setup:
                if len(path) > 1 and path[1] in setup[root]:
                    uses[node].append((root, path[1]))
                else:
                    late[node].append(".".join(path[:2]))
    # made at plan time: every var and generated value, and every value they use
    needed: set[Node] = set()
    stack = [n for n in natural if n[0] == "vars" or is_generated(spec_of[n])]
    while stack:
        node = stack.pop()
        if node not in needed:
            needed.add(node)
            stack.extend(uses[node])
    problems: list[tuple[Node, str]] = []
    for node in natural:
        if node in needed and late[node]:
            row = late[node][0].split(".")[0]
            given = ", ".join(f"{row}.{c}" for c in setup[row]) or "none"
            problems.append(
                (
                    node,
                    f"{name(node)} uses {late[node][0]}, which the database gives only when the "
                    "row is inserted, after the case's values are made; vars and generated "
                    f"values can use the values the setup gives ({given}); a setup value, turn "
                    "or check written as a template can use the inserted row",
                )
            )
    rank = {n: i for i, n in enumerate(natural)}
    made: list[Node] = []
    waiting = {n: set(uses[n]) for n in needed}
    ready = [rank[n] for n, w in waiting.items() if not w]
    heapq.heapify(ready)
    done: set[Node] = set()
    while ready:
        node = natural[heapq.heappop(ready)]
        made.append(node)
        done.add(node)
        for other, w in waiting.items():
            if node in w:
                w.discard(node)
                if not w and other not in done:
                    heapq.heappush(ready, rank[other])
    left = [n for n in natural if n in needed and n not in done]
    reported: set[Node] = set()
    for node in left:
        cycle = _cycle(node, uses, set(left))
        if cycle and not reported & set(cycle):
            reported.update(cycle)
            shown = " -> ".join(name(n) for n in [*cycle, cycle[0]])
            problems.append((cycle[0], f"{name(cycle[0])} depends on itself: {shown}"))
    var_inputs: set[Node] = set()
    stack = [u for n in natural if n[0] == "vars" for u in uses[n]]
    while stack:
        node = stack.pop()
        if node not in var_inputs:
            var_inputs.add(node)
            stack.extend(uses[node])
    return Order(
        nodes=tuple(made),
        var_inputs=frozenset(n for n in var_inputs if n[0] != "vars"),
        problems=tuple(problems),
    )


def _cycle(start: Node, uses: Mapping[Node, list[Node]], among: set[Node]) -> list[Node]:
    """A cycle reachable from `start` (its nodes in order), or [] if none."""
    path: list[Node] = []
    on_path: set[Node] = set()
    seen: set[Node] = set()

    def walk(node: Node) -> list[Node]:
        if node in on_path:
            return path[path.index(node) :]
        if node in seen or node not in among:
            return []
        seen.add(node)
        path.append(node)
        on_path.add(node)
        for used in uses[node]:
            found = walk(used)
            if found:
                return found
        path.pop()
        on_path.discard(node)
        return []

    return walk(start)
