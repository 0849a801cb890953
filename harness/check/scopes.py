"""Invariants' scope: which violating rows belong to which case.

A scope maps a column of an invariant's rows to what a case owns: the rows it set up in a
table (`orders`, or `orders.ref` for another column than `id`), or any value of its
conversation written as a template (`{{ case.session_id }}`, `{{ session.conversation_id }}`,
`{{ reply.ticket }}`), compared as text. A row the agent wrote for *another* customer shares
no setup row with the case that caused it, but it carries that case's conversation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from harness.core import Observation
from harness.spec import models as m
from harness.spec.template import Template, TemplateError, format_value, render_deep

if TYPE_CHECKING:
    from harness.spec.load import ProfileBase
    from harness.spec.suite import Suite


def is_value(target: str) -> bool:
    """A scope target that is a value the case owns (a template), not a table of rows."""
    return "{{" in target


def scoped_query(query: str, scope: Mapping[str, str], *, exclude: bool = False) -> str:
    """Restrict an invariant's violations to rows tied to one case (its rows and values), or
    with exclude=True to the rows no case owns."""
    conditions = " or ".join(
        f'_inv."{column}"::text = any(%s)' if is_value(target) else f'_inv."{column}" = any(%s)'
        for column, target in scope.items()
    )
    if exclude:
        conditions = f"not coalesce({conditions}, false)"
    inner = query.rstrip().rstrip(";").replace("%", "%%")  # the query's own % are literal
    return f"select * from ({inner}) as _inv where {conditions}"


def conversation_context(ctx: Mapping[str, Any], obs: Observation) -> dict[str, Any]:
    """What one conversation of a case (its own or a variant's) holds: the case's context
    with that conversation's session id, captures and replies."""
    case = dict(ctx.get("case") or {})
    case["session_id"] = obs.session_id
    return {
        **ctx,
        "case": case,
        "session": obs.session,
        "reply": obs.turns[-1].data if obs.turns else None,
        "replies": {str(t.index): t.data for t in obs.turns},
    }


def owned_values(
    target: str,
    ctx: Mapping[str, Any],
    observations: Iterable[Observation],
    cache: dict[str, Template],
) -> list[str]:
    """The value a scope's template names, in each conversation that has it (as text)."""
    out: list[str] = []
    for obs in observations:
        try:
            value = render_deep(target, conversation_context(ctx, obs), cache)
        except TemplateError:
            continue  # e.g. the agent never gave the id: nothing of this conversation to tie
        text = format_value(value)
        if text and text not in out:
            out.append(text)
    return out


def scope_ids(
    inv: m.Invariant,
    scenario: m.Scenario,
    observations: Iterable[Observation],
    ctx: Mapping[str, Any] | None = None,
    cache: dict[str, Template] | None = None,
) -> list[list[Any]]:
    """For each scope column of a scoped invariant, what these observations own: the ids of
    the rows they inserted into its table, or the values of their conversations. The
    parameters of `scoped_query`."""
    assert inv.scope is not None
    observations = list(observations)
    ids: list[list[Any]] = []
    for target in inv.scope.values():
        if is_value(target):
            values = owned_values(target, ctx or {}, observations, {} if cache is None else cache)
            ids.append(values)
            continue
        table, _, column = target.partition(".")
        ids.append(
            [
                row.get(column or "id")
                for o in observations
                for name, row in o.entities.items()
                if scenario.setup[name].table == table
            ]
        )
    return ids


def by_values(inv: m.Invariant) -> bool:
    """The invariant ties rows through a value of the conversation: every case may own some."""
    return any(is_value(t) for t in (inv.scope or {}).values())


def covers(inv: m.Invariant, scenario: m.Scenario) -> bool:
    """Whether a scoped invariant can judge a case of the scenario: it ties rows through a
    conversation's values, or through a table the scenario's setup inserts into."""
    if not inv.scope:
        return False
    tables = {row.table for row in scenario.setup.values()}
    return by_values(inv) or bool(tables & {t.partition(".")[0] for t in inv.scope.values()})


def unjudged_pairs(
    suite: Suite, name: str, profile: ProfileBase, played: Iterable[m.Scenario] | None = None
) -> list[str]:
    """The warning for a profile whose duplicate pairs nothing can judge: a pair is judged by
    the invariants scoped to the rows it shares alone (its two conversations may rightly end
    apart), so in a scenario no scoped invariant covers, a race goes unseen."""
    if profile.duplicates.share <= 0:
        return []
    if played is None:
        from harness.spec.load import selected

        played = selected(profile, list(suite.scenarios))
    bare = [s.id for s in played if not any(covers(i, s) for i in suite.invariants)]
    if not bare:
        return []
    return [
        f"load profile {name} sends {profile.duplicates.share:.0%} of cases as duplicate pairs, "
        "which only invariants scoped to the rows they share judge, and no scoped invariant "
        f"covers scenario(s) {', '.join(bare)}: their pairs are judged by nothing, and a race "
        "(two conversations writing the same rows) cannot be seen there; add an invariant with "
        "`scope:` (see the README's Load section), or set `duplicates: 0`"
    ]


def pair_warnings(suite: Suite) -> list[str]:
    """`unjudged_pairs` of every load profile of the suite (what `harness validate` says)."""
    profiles = suite.manifest.load.profiles if suite.manifest.load else {}
    return [w for name, p in profiles.items() for w in unjudged_pairs(suite, name, p)]
