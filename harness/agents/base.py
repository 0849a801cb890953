"""The adapter protocol: an agent holds conversations; a conversation is opened, takes turns
(one message in, one reply or a recorded failure out) and is closed.

An adapter never raises for anything the agent does: a crash, a hang, a non-JSON
body, a stalled stream or a reply larger than the cap comes back as a Reply with a
`failure` (its kind and the evidence), and the engine turns it into an error verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from harness.core.failures import Failure, FailureKind
from harness.empty import empty_dict

if TYPE_CHECKING:
    from harness.spec.models.agents import Turn


@dataclass(slots=True)
class Reply:
    """One turn's answer as the engine records it."""

    text: str | None
    latency_ms: float
    status: int | None = None
    failure: Failure | None = None
    data: Any = None  # the reply's JSON (a stream: what it assembled)
    first_byte_ms: float | None = None  # time to the first byte (a stream: its first event)
    #: values this reply gave the session
    captured: dict[str, Any] = field(default_factory=empty_dict)
    usage: dict[str, int] | None = None  # tokens, when the agent reports them
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None

    @classmethod
    def failed(
        cls, kind: FailureKind, message: str, latency_ms: float, status: int | None = None
    ) -> Reply:
        return cls(None, latency_ms, status, Failure(kind, message))


@dataclass(slots=True)
class Call:
    """A request around the turns (login, open, close): recorded, judged only by its effect."""

    purpose: str
    method: str
    url: str
    status: int | None
    latency_ms: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "purpose": self.purpose,
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "latency_ms": round(self.latency_ms, 3),
            "error": self.error,
        }


class Conversation(Protocol):
    """One conversation with the agent: what it captured so far, the calls around its turns."""

    @property
    def session(self) -> dict[str, Any]: ...

    @property
    def calls(self) -> list[Call]: ...

    @property
    def closes(self) -> bool:
        """Whether closing it sends anything (else the engine does not wait for it)."""
        ...

    async def open(self, context: dict[str, Any]) -> Failure | None:
        """Log in and open the conversation, when the agent's API does that."""
        ...

    async def send(self, text: str, turn: Turn | None, context: dict[str, Any]) -> Reply:
        """One turn. `context` holds case, turn, session, reply and params for templates."""
        ...

    async def close(self, context: dict[str, Any]) -> None:
        """Close it (best effort, never raises)."""
        ...


class AgentAdapter(Protocol):
    """How the harness talks to the system under test."""

    name: str

    async def open(self) -> None: ...

    def conversation(self, context: dict[str, Any]) -> Conversation: ...

    async def close(self) -> None: ...


class Plain:
    """A conversation with no protocol of its own around its turns (one call per turn)."""

    closes = False

    def __init__(self, send: Any) -> None:
        self.session: dict[str, Any] = {}
        self.calls: list[Call] = []
        self._send = send

    async def open(self, context: dict[str, Any]) -> Failure | None:
        return None

    async def send(self, text: str, turn: Turn | None, context: dict[str, Any]) -> Reply:
        reply: Reply = await self._send(text, context)
        return reply

    async def close(self, context: dict[str, Any]) -> None:
        return None
