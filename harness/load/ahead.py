"""Requests rendered ahead, in the harness, for the load generator: every request of a case
whose templates do not read the conversation (its captures, its replies) is rendered with
the same code as `harness run` (agents/protocol.py) while the case is prepared, so the
generator's users only send it; a case with nothing left to render is sent without its
template context at all. The rest is rendered by the generator as the conversation goes.

Only the http adapter's requests are rendered ahead: an OpenAI conversation's body is its
whole message history, which only the conversation itself knows.
"""

from __future__ import annotations

from typing import Any

from harness.agents.protocol import body_template, reads_conversation, render_request
from harness.spec.models.agents import HttpAdapter, Request, Turn
from harness.spec.models.scenarios import Scenario
from harness.spec.template import Template

#: what a request rendered ahead is on the wire: [method, url, headers, body as text]
Wired = list[Any]


class Ahead:
    def __init__(
        self, config: HttpAdapter, base: dict[str, Any], scenarios: list[Scenario]
    ) -> None:
        self.config = config
        self.base = base
        self.cache: dict[str, Template] = {}
        self._requests: dict[str, Request] = {
            purpose: request
            for purpose in ("login", "open", "close")
            if (request := getattr(config, purpose)) is not None
        }
        #: which of a conversation's requests never read the conversation, by purpose
        self._static = {
            purpose: not reads_conversation([r.url, r.headers, r.body], self.cache)
            for purpose, r in self._requests.items()
        }
        self._turns: dict[str, list[tuple[Turn | None, bool]]] = {
            s.id: [(t if isinstance(t, Turn) else None, self._turn_static(t)) for t in s.turns]
            for s in scenarios
        }

    def _turn_static(self, turn: str | Turn) -> bool:
        cfg = self.config
        t = turn if isinstance(turn, Turn) else None
        if t is not None and t.body_bytes is not None:
            return False  # sent as built in the generator, never shipped as N bytes
        return not reads_conversation([cfg.url, cfg.headers, body_template(cfg, t)], self.cache)

    def render(
        self, scenario: str, ctx: dict[str, Any], texts: list[str | None]
    ) -> tuple[dict[str, Wired], bool]:
        """The requests of one case rendered ahead, and whether that is all of them (and of
        its turns' texts): then the generator needs no template context for it."""
        context = {**self.base, **ctx, "session": {}}
        ready: dict[str, Wired] = {}
        complete = True
        for purpose, request in self._requests.items():
            if self._static[purpose]:
                ready[purpose] = _wired(render_request(request, context, self.cache,
                                                       purpose=purpose))  # fmt: skip
            else:
                complete = False
        for i, (turn, static) in enumerate(self._turns[scenario]):
            text = texts[i] if i < len(texts) else None
            if not static or text is None:
                complete = False
                continue
            context["turn"] = {"text": text, "index": i + 1}
            out = render_request(self.config, context, self.cache, purpose="turn", turn=turn)
            ready[f"turn {i + 1}"] = _wired(out)
        return ready, complete


def _wired(out: Any) -> Wired:
    body = None if out.body is None else out.body.decode()  # rendered as UTF-8 (protocol.py)
    return [out.method, out.url, out.headers, body]
