"""What went to the agent and came back, from the results' rows: over the run (turns, reply
latency, time to first byte, tokens and their cost) and, per turn, what a reply carried
besides its text (its other JSON fields, its tool calls).

Everything here is raw data from the agent: the report's view caps and redacts it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.core import SWEEP_CASE
from harness.report.frame import Row, as_rows
from harness.report.text import quantile, show
from harness.runlog.models import AnyManifest

if TYPE_CHECKING:
    import pandas as pd

TOKENS = ("prompt_tokens", "completion_tokens", "total_tokens")
SHOWN_APART = ("usage", "tool_calls")  # a turn's own fields, not repeated among the others


@dataclass
class Traffic:
    """The run's conversations with the agent, one per (case, trial); the sweep has none."""

    conversations: int
    turns: int
    latency_p50: float | None = None  # ms, over every turn sent
    latency_p95: float | None = None
    first_byte_turns: int = 0  # turns that recorded a time to first byte
    first_byte_p50: float | None = None
    first_byte_p95: float | None = None
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKENS, 0))
    reporting: int = 0  # conversations with a turn that reported its tokens
    model: str | None = None
    price: dict[str, Any] | None = None  # {input, output (per 1,000 tokens), currency}

    @property
    def per_conversation(self) -> float | None:
        """Mean tokens of a conversation that reported them."""
        return self.tokens["total_tokens"] / self.reporting if self.reporting else None

    @property
    def cost(self) -> float | None:
        """Prompt and completion tokens at the model's price; None without both."""
        if self.price is None or not self.reporting:
            return None
        per_input = finite(self.price.get("input")) or 0.0
        per_output = finite(self.price.get("output")) or 0.0
        return (
            self.tokens["prompt_tokens"] / 1000 * per_input
            + self.tokens["completion_tokens"] / 1000 * per_output
        )

    def lines(self, quote: Callable[[str], str] = str) -> list[str]:
        """The section's sentences; `quote` marks up the model's name (the only text that did
        not come from the harness)."""
        out = [
            f"{self.conversations} conversation(s), {self.turns} turn(s); reply latency p50 "
            f"{_ms(self.latency_p50)}, p95 {_ms(self.latency_p95)}."
        ]
        if self.first_byte_turns:
            out.append(
                f"Time to first byte p50 {_ms(self.first_byte_p50)}, p95 "
                f"{_ms(self.first_byte_p95)}, over the {self.first_byte_turns} turn(s) that "
                "recorded it."
            )
        if not self.reporting:
            return out
        t, mean = self.tokens, self.per_conversation or 0.0
        out.append(
            f"Tokens: {t['prompt_tokens']:,} prompt, {t['completion_tokens']:,} completion, "
            f"{t['total_tokens']:,} total; {mean:,.1f} per conversation on average "
            f"({self.reporting} of {self.conversations} conversation(s) reported tokens)."
        )
        model = "the model" if self.model is None else f"model {quote(self.model)}"
        cost = self.cost
        if cost is None or self.price is None:
            out.append(f"No price was given for {model}, so the cost is not known.")
        else:
            out.append(
                f"Cost: {_money(cost)} {self.price.get('currency') or 'USD'} for {model} at "
                f"{show(self.price.get('input'))} per 1,000 prompt tokens and "
                f"{show(self.price.get('output'))} per 1,000 completion tokens."
            )
        return out


def traffic(results: list[Row] | pd.DataFrame, manifest: AnyManifest) -> Traffic | None:
    """The run's traffic, or None when no turn was sent."""
    tally = Tally()
    for row in as_rows(results):
        tally.add(row["case_id"], row["trial"], row["turns"])
    return tally.traffic(manifest)


class Tally:
    """The run's traffic counted one conversation at a time (each once: the turns of its
    first row), so that a reader of the records holds none of their turns."""

    def __init__(self) -> None:
        self.seen: set[tuple[Any, Any]] = set()
        self.conversations = self.turns = self.reporting = 0
        self.latencies: list[float] = []
        self.first: list[float] = []
        self.tokens = dict.fromkeys(TOKENS, 0)

    def add(self, case_id: Any, trial: Any, turns: Any) -> None:
        """A row's conversation: (case, trial) and its turns; the sweep's is none."""
        if case_id == SWEEP_CASE or (case_id, trial) in self.seen:
            return
        self.seen.add((case_id, trial))
        self.conversations += 1
        mine = [t for t in turns if isinstance(t, dict)] if isinstance(turns, list) else []
        self.turns += len(mine)
        for t in mine:
            if (v := finite(t.get("latency_ms"))) is not None:
                self.latencies.append(v)
            if (v := finite(t.get("first_byte_ms"))) is not None:
                self.first.append(v)
        usages = [u for t in mine if isinstance(u := t.get("usage"), dict) and u]
        self.reporting += bool(usages)
        for usage in usages:
            prompt = _count(usage.get("prompt_tokens"))
            completion = _count(usage.get("completion_tokens"))
            total = usage.get("total_tokens")
            self.tokens["prompt_tokens"] += prompt
            self.tokens["completion_tokens"] += completion
            self.tokens["total_tokens"] += (
                _count(total) if total is not None else prompt + completion
            )

    def traffic(self, manifest: AnyManifest) -> Traffic | None:
        """The run's traffic, or None when no turn was sent."""
        if not self.turns:
            return None
        out = Traffic(self.conversations, self.turns, tokens=dict(self.tokens))
        latencies, first = self.latencies, self.first
        out.latency_p50, out.latency_p95 = _quantile(latencies, 0.5), _quantile(latencies, 0.95)
        out.first_byte_turns = len(first)
        out.first_byte_p50, out.first_byte_p95 = _quantile(first, 0.5), _quantile(first, 0.95)
        out.reporting = self.reporting
        agent = manifest.agent
        if agent is not None and agent.model is not None:
            out.model = agent.model
            out.price = (agent.prices or {}).get(agent.model)
        return out


def other_fields(turn: dict[str, Any], session_id: str | None = None) -> Any:
    """The reply's JSON without what the evidence shows apart (its text, tool calls and
    tokens, a field that only repeats the conversation's `session_id`); None when nothing
    else is left."""
    data, reply = turn.get("data"), turn.get("reply")
    if data is None or (reply is not None and _as_text(data) == reply):
        return None
    if isinstance(data, dict | list):
        whole, data = data, _without(data, reply)
        if isinstance(data, dict) and isinstance(whole, dict):  # no {} the reply's removal left
            data = {k: v for k, v in data.items() if v not in ({}, []) or whole[k] in ({}, [])}
    if isinstance(data, dict):
        shown = {k for k in SHOWN_APART if (data.get(k) or None) == (turn.get(k) or None)}
        if session_id:  # an echo of the id the harness sent (another one is evidence)
            shown |= {k for k, v in data.items() if v == session_id}
        data = {k: v for k, v in data.items() if k not in shown}
    return None if data in ({}, []) else data


def call_text(call: Any) -> str:
    """An OpenAI tool call as `name(arguments) -> result`: its arguments as the JSON text they
    came as, and what the harness answered (the scenario's tool result), when it did."""
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict):
        return _as_text(call)
    args = fn.get("arguments")
    text = f"{_as_text(fn.get('name'))}({'' if args is None else _as_text(args)})"
    if "result" in call:
        text += f" -> {_as_text(call['result'])}"
    return text


def _as_text(value: Any) -> str:
    """A JSON value as the reply's text would hold it (agents/protocol.py `as_text`)."""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return value if isinstance(value, str) else show(value)


def _without(data: Any, reply: str | None) -> Any:
    """The JSON without the value shown as the reply's text: the shallowest that reads so."""
    if reply is None:
        return data
    level: list[tuple[tuple[Any, ...], Any]] = [((), data)]
    while level:
        deeper = []
        for path, node in level:
            for key, value in node.items() if isinstance(node, dict) else enumerate(node):
                if _as_text(value) == reply:
                    return _drop(data, (*path, key))
                if isinstance(value, dict | list):
                    deeper.append(((*path, key), value))
        level = deeper
    return data


def _drop(node: Any, path: tuple[Any, ...]) -> Any:
    """A copy of a JSON value without the item at path (keys and list indexes)."""
    key, rest = path[0], path[1:]
    if isinstance(node, dict):
        if not rest:
            return {k: v for k, v in node.items() if k != key}
        return {k: _drop(v, rest) if k == key else v for k, v in node.items()}
    if not rest:
        return [v for i, v in enumerate(node) if i != key]
    return [_drop(v, rest) if i == key else v for i, v in enumerate(node)]


_INF = float("inf")


def finite(value: Any) -> float | None:
    """A finite number, else None (the agent's values are whatever it sent)."""
    kind = type(value)  # a float or an int first: a 100,000-case run asks 200,000 times
    if kind is float:
        return value if value == value and abs(value) != _INF else None
    if kind is int:
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value and abs(value) != float("inf") else None


def _count(value: Any) -> int:
    number = finite(value)
    return int(number) if number is not None and number > 0 else 0


def _quantile(values: list[float], q: float) -> float | None:
    return quantile(values, q)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def _money(value: float) -> str:
    return f"{value:,.2f}" if value >= 1 else f"{value:.4g}"
