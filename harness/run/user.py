"""The reactive user: holds a case's facts and answers what the agent asks from them, by the
suite's rules first and built-in ones for common questions, in whatever order the agent
asks. Deterministic: the same reply and facts give the same answer (a case's identity is
its rules, facts and seed; an agent that words its questions differently gets the same
rules, not necessarily the same text)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.spec import models as m
from harness.spec.template import Template

#: a sentence that asks for something (a question, or a request of the user)
_REQUEST = re.compile(
    r"\?|\b(please|give|provide|tell|need|enter|confirm|share|send|what|which|could you|"
    r"can you|may i|let me know)\b",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


@dataclass(frozen=True)
class Rule:
    id: str
    when: re.Pattern[str]
    say: Template
    facts: tuple[str, ...] = ()  # a built-in rule answers only when it holds one of these
    asked: bool = False  # a built-in rule answers only a sentence that asks for something


#: built-in answers: (id, pattern, the facts it may use in order, the answer)
_DEFAULTS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("name", r"\b(full\s+)?name\b", ("name", "full_name"), "My name is {{ fact }}."),
    ("pin", r"\bpin\b", ("pin",), "My PIN is {{ fact }}."),
    (
        "order",
        r"\bwhich order\b|\border\s+(number|no\b|id\b|reference)",
        ("order", "order_id"),
        "It's order #{{ fact }}.",
    ),
    ("email", r"\be-?mail\b", ("email",), "My email is {{ fact }}."),
    ("phone", r"\bphone\b|\bmobile number\b", ("phone",), "My phone number is {{ fact }}."),
    ("date", r"\b(which|what)\s+(date|day)\b", ("date",), "{{ fact }}."),
)


class ReactiveUser:
    def __init__(self, spec: m.User, cache: dict[str, Template]) -> None:
        self.spec = spec
        self.rules = [
            Rule(
                a.id or f"answers[{i}]", re.compile(a.when, re.IGNORECASE), _template(a.say, cache)
            )
            for i, a in enumerate(spec.answers)
        ]
        if spec.defaults:
            self.rules += [
                Rule(rid, _pattern(p), _template(say, cache), names, True)
                for rid, p, names, say in _DEFAULTS
            ]

    def facts(self, ctx: Mapping[str, Any], cache: dict[str, Template]) -> dict[str, Any]:
        """The user's facts, rendered over the case (its rows and vars) once set up."""
        return {k: _template(v, cache).render(ctx) for k, v in self.spec.facts.items()}

    def answer(self, reply: str | None, ctx: Mapping[str, Any]) -> tuple[str, str] | None:
        """What the user says to this reply, and the rules that said it (`name+pin`); None
        when it asks for nothing the user knows. Several questions in one reply are
        answered in the order the reply asks them."""
        if not reply:
            return None
        facts: Mapping[str, Any] = ctx.get("user") or {}
        found: list[tuple[int, Rule, Any]] = []
        seen: set[str] = set()
        asked_spans = [s.span() for s in _SENTENCE.finditer(reply) if _REQUEST.search(s.group())]
        for rule in self.rules:
            if rule.facts and not any(_known(facts.get(f)) for f in rule.facts):
                continue
            for match in rule.when.finditer(reply):
                if rule.asked and not any(a <= match.start() < b for a, b in asked_spans):
                    continue
                fact = next((facts[f] for f in rule.facts if _known(facts.get(f))), None)
                if rule.id not in seen:
                    seen.add(rule.id)
                    found.append((match.start(), rule, fact))
                break
        if not found:
            return None
        found.sort(key=lambda item: item[0])
        parts = [
            rule.say.render_text({**ctx, "fact": fact}) if rule.facts else rule.say.render_text(ctx)
            for _, rule, fact in found
        ]
        return " ".join(p for p in parts if p), "+".join(rule.id for _, rule, _ in found)


def _known(value: Any) -> bool:
    return value is not None and value != ""


def _template(source: str, cache: dict[str, Template]) -> Template:
    if source not in cache:
        cache[source] = Template(source)
    return cache[source]


def _pattern(source: str) -> re.Pattern[str]:
    return re.compile(source, re.IGNORECASE)
