"""Trace checks (`span`, Category.TRACE) and call checks (`call`, Category.CALL): a step of
the real chain occurred or did not, how many times, with what, with which status or answer,
before or after another span or call. Judged on what the harness observed (the spans the
agent sent, the requests stubbed services logged), never on the agent's own account."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.check.registry import CheckKind, Judging, register
from harness.check.steps import (
    MAX_MISSES,
    Render,
    Step,
    call_like,
    call_misses,
    call_steps,
    count_range,
    count_text,
    describe,
    describe_call,
    describe_span,
    in_turns,
    label,
    listed,
    selected,
    span_like,
    span_misses,
    span_steps,
    trace_problem,
)
from harness.core import Category, CheckResult, Observation, Verdict
from harness.core.calls import ServiceRequest
from harness.core.spans import TOOL, Span
from harness.spec import models as m


def _result(
    check: m.ChainCheck, cid: str, verdict: Verdict, message: str, expected: Any, found: Any
) -> CheckResult:
    category = Category.TRACE if isinstance(check, m.SpanCheck) else Category.CALL
    result = CheckResult(
        check_id=cid,
        check_type=check.type,  # type: ignore[attr-defined]
        category=category.value,
        requirements=tuple(check.requirements),
        verdict=verdict,
        message=message,
        expected=expected,
        found=found,
    )
    if isinstance(check.turn, int):
        result.turn = check.turn
    return result


def _needs_spans(check: m.ChainCheck) -> bool:
    refs = [check.before, check.after]
    return isinstance(check, m.SpanCheck) or any(r is not None and r.span for r in refs)


def _steps_of(ref: m.OrderRef, obs: Observation) -> list[Step]:
    return span_steps(obs) if ref.span is not None else call_steps(obs)


def _expected(check: m.ChainCheck, what: str, r: Render) -> dict[str, Any]:
    low, high = count_range(check)
    out: dict[str, Any] = {"step": what, "times": count_text(low, high)}
    if isinstance(check, m.SpanCheck):
        if check.attributes:
            out["attributes"] = _wants(check.attributes, r)
        if check.status != "any":
            out["status"] = check.status
    elif isinstance(check, m.CallCheck):
        for name in ("query", "headers"):
            if getattr(check, name):
                out[name] = _wants(getattr(check, name), r)
        if isinstance(check.body, str):
            out["body contains"] = r.text(check.body)
        elif check.body:
            out["body"] = _wants(check.body, r)
        if check.answered is not None:
            out["answered"] = check.answered
    if check.before is not None:
        out["before"] = f"the first {describe(check.before, r)}"
    if check.after is not None:
        out["after"] = f"the first {describe(check.after, r)}"
    if check.turn != "any":
        out["turn"] = check.turn
    return out


def _wants(wants: dict[str, m.Matcher], r: Render) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, want in wants.items():
        if isinstance(want, m.ValueMatch):
            how = next(k for k in ("regex", "contains", "exists") if getattr(want, k) is not None)
            value = getattr(want, how)
            out[key] = {how: value if isinstance(value, bool) else r.text(value)}
        else:
            out[key] = r(want)
    return out


def _order(
    check: m.ChainCheck, counted: list[Step], obs: Observation, r: Render, what: str
) -> str | None:
    """Why the counted occurrences are out of order against the other step (None: in order)."""
    for ref, before in ((check.before, True), (check.after, False)):
        if ref is None:
            continue
        turns = len(obs.replies)  # `last`: the conversation's, never a recovery probe
        others = [
            s for s in in_turns(check.turn, _steps_of(ref, obs), turns) if selected(ref, s, r)
        ]
        other = describe(ref, r)
        if not others:
            if before:
                continue  # judged only when both occur
            return f"the {what} must come after a {other}, which never occurred"
        first = min(others, key=lambda s: s.at_ns)
        wrong = [
            s for s in counted if (s.at_ns >= first.at_ns if before else s.at_ns <= first.at_ns)
        ]
        if wrong:
            side = "before" if before else "after"
            return (
                f"the {what} must start {side} the first {other} ({label(first)}), but "
                f"{label(wrong[0])} did not"
                + (f" ({len(wrong) - 1} more)" if len(wrong) > 1 else "")
            )
    return None


def _judge(
    check: m.ChainCheck,
    cid: str,
    j: Judging,
    steps: list[Step],
    like: Callable[[Step], bool],
    misses: Callable[[Step], list[str]],
    what: str,
    seen: str,
) -> CheckResult:
    obs = j.observation
    r = Render(j.context, j.cache)
    expected = _expected(check, what, r)
    turns = len(obs.replies)  # the conversation's turns: `last` is never a recovery probe
    if isinstance(check.turn, int) and not 1 <= check.turn <= max(turns, 1):
        message = f"turn {check.turn} does not exist (the case has {turns} turns)"
        return _result(check, cid, Verdict.ERROR, message, expected, None)
    judged = in_turns(check.turn, steps, turns)
    near = [(s, misses(s)) for s in judged if like(s)]
    counted = [s for s, why in near if not why]
    found: dict[str, Any] = {seen: listed(judged), "counted": len(counted)}
    dropped = obs.spans_dropped if seen == "spans" else 0
    if dropped:
        found["not kept"] = f"{dropped} span(s) over the harness's cap"
    low, high = count_range(check)
    n = len(counted)
    problem = None
    if n < low or (high is not None and n > high):
        if check.absent or high == 0:
            problem = f"the {what} occurred {n} time(s); it must never occur"
        elif n == 0:
            problem = f"the {what} never occurred"
            if seen == "spans" and (typo := near_name(check, steps)) is not None:
                problem += f"; {typo}"
        else:
            problem = f"the {what} occurred {n} time(s), expected {count_text(low, high)}"
        others = [(s, why) for s, why in near if why][:MAX_MISSES]
        if others and n < low:
            problem += "; like it but not counted: " + "; ".join(
                f"{label(s)}: {', '.join(why)}" for s, why in others
            )
    unseen = _unseen(check, j, seen)
    if unseen is not None:
        if seen == "requests":
            found["not seen"] = unseen
        # what it wants may be among what was not seen: a verdict that rests on absence
        # or a count (too few, or not too many) is an error, never a pass or a plain fail
        if n < low or (high is not None and n <= high and problem is None):
            message = (problem or f"the {what} occurred {n} time(s) for this case") + (
                f", but this cannot be judged: {unseen}"
            )
            return _result(check, cid, Verdict.ERROR, message, expected, found)
    problem = problem or _order(check, counted, obs, r, what)
    if problem is None:
        return _result(check, cid, Verdict.PASS, "", expected, found)
    if unseen_ref := _unseen_other(check, j, problem):
        found["other not seen"] = unseen_ref
        message = f"{problem}, but this cannot be judged: {unseen_ref}"
        return _result(check, cid, Verdict.ERROR, message, expected, found)
    return _result(check, cid, Verdict.FAIL, problem, expected, found)


def _unseen(check: m.ChainCheck, j: Judging, seen: str) -> str | None:
    """What the case may have done that the harness did not see: spans over its cap, or
    requests to the check's service that carried nothing of a case in flight."""
    obs = j.observation
    if seen == "spans":
        return dropped_hint(obs.spans_dropped) if obs.spans_dropped else None
    assert isinstance(check, m.CallCheck)
    return _stray(check.service, j)


def _stray(service: str, j: Judging) -> str | None:
    n = j.observation.requests_stray.get(service, 0)
    if not n:
        return None
    deps = j.suite.manifest.environment.dependencies if j.suite is not None else {}
    dep = deps.get(service)
    rule = getattr(dep, "match", None)
    if isinstance(rule, m.MatchRule):
        return (
            f"{n} request(s) to {service} while this case ran belonged to no case in flight "
            "(no case's `match:` value was found in them, or this case shared it with another "
            "in flight, a duplicate pair, which only `match: traceparent` tells apart): does "
            "the agent send the value its `match:` rule reads?"
        )
    return (
        f"{n} request(s) to {service} while this case ran carried no traceparent of a case "
        "in flight: does the agent propagate the traceparent header on its outgoing calls?"
    )


def dropped_hint(n: int) -> str:
    return (
        f"{n} span(s) over the harness's cap were not kept (the agent sent more than a case "
        "may keep), so what they held is not known"
    )


def _unseen_other(check: m.ChainCheck, j: Judging, problem: str) -> str | None:
    """Why an `after:` step that never occurred may be among what was not seen."""
    ref = check.after
    if ref is None or not problem.endswith("which never occurred"):
        return None
    if ref.call is not None:
        return _stray(ref.call.service, j)
    dropped = j.observation.spans_dropped
    return dropped_hint(dropped) if dropped else None


async def judge_span(check: m.SpanCheck, cid: str, j: Judging) -> CheckResult:
    """A span the agent sent, judged on the case's trace (an error when there is none)."""
    problem = trace_problem(j.observation)
    r = Render(j.context, j.cache)
    what = describe_span(check, r)
    if problem is not None:
        return _result(
            check, cid, Verdict.ERROR, problem, _expected(check, what, r), _no_spans(j.observation)
        )

    def like(s: Step) -> bool:
        return isinstance(s.item, Span) and span_like(check, s.item, r)

    def misses(s: Step) -> list[str]:
        assert isinstance(s.item, Span)
        return span_misses(check, s.item, r, check.status)

    return _judge(check, cid, j, span_steps(j.observation), like, misses, what, "spans")


async def judge_call(check: m.CallCheck, cid: str, j: Judging) -> CheckResult:
    """A request a stubbed service received for the case (its own log)."""
    r = Render(j.context, j.cache)
    what = describe_call(check, r)
    if _needs_spans(check) and (problem := trace_problem(j.observation)) is not None:
        return _result(
            check, cid, Verdict.ERROR, f"the order against a span cannot be judged: {problem}",
            _expected(check, what, r), _no_spans(j.observation),
        )  # fmt: skip

    def like(s: Step) -> bool:
        return isinstance(s.item, ServiceRequest) and call_like(check, s.item, r)

    def misses(s: Step) -> list[str]:
        assert isinstance(s.item, ServiceRequest)
        return call_misses(check, s.item, r, check.answered)

    return _judge(check, cid, j, call_steps(j.observation), like, misses, what, "requests")


def _no_spans(obs: Observation) -> dict[str, Any]:
    return {
        "trace": obs.trace_id,
        "spans": 0,
        "under other traces": obs.spans_stray,
    }


register(CheckKind(("span",), Category.TRACE, judge_span))
register(CheckKind(("call",), Category.CALL, judge_call))


def near_name(check: Any, steps: list[Step]) -> str | None:
    """The name or tool a span check selects when no span of the case has it and one has a
    name close to it: a typo in the check otherwise reads like a step the agent skipped."""
    from harness.spec.loader import did_you_mean

    for field in ("name", "tool"):
        wanted = getattr(check, field, None)
        if not isinstance(wanted, str):
            continue
        have = {n for s in steps if (n := _named(s.item, field)) is not None}
        if wanted not in have and (hint := did_you_mean(wanted, sorted(have))):
            return f"no span of this case has {field} {wanted!r}{hint}"
    return None


def _named(item: Any, field: str) -> str | None:
    value = getattr(item, "name", None) if field == "name" else item.attributes.get(TOOL)
    return value if isinstance(value, str) else None


def unseen_span_names(suite: Any, names: set[str], tools: set[str], played: set[str]) -> list[str]:
    """Span checks (and orders against a span) of the scenarios played whose name or tool no
    span of the run had, with the run's closest: such a check fails every case it judges, or
    passes it as `absent` (one whose `when` never held may have judged none)."""
    from harness.spec.loader import did_you_mean

    out = []
    for scenario in (s for s in suite.scenarios if s.id in played):
        for i, check in enumerate(scenario.checks):
            refs = [check] if check.type == "span" else []
            for order in (getattr(check, "before", None), getattr(check, "after", None)):
                if order is not None and order.span is not None:
                    refs.append(order.span)
            for ref in refs:
                for field, have in (("name", names), ("tool", tools)):
                    wanted = getattr(ref, field, None)
                    if not isinstance(wanted, str) or wanted in have:
                        continue
                    out.append(
                        f"scenario {scenario.id}, check {suite.check_id(scenario, i)}: no span "
                        f"of this run had {field} {wanted!r}{did_you_mean(wanted, sorted(have))}"
                        ": a typo? a check of it fails every case it judges, or passes it as "
                        "absent"
                    )
    return out
