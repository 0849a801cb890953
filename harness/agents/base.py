"""The adapter protocol: one message in, one reply (or a recorded failure) out.

An adapter never raises for anything the agent does: a crash, a hang, a non-JSON
body or a reply larger than the cap comes back as a Reply with a `failure` (its kind
and the evidence), and the engine turns it into an error verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from harness.core.failures import Failure, FailureKind


@dataclass(frozen=True, slots=True)
class Reply:
    text: str | None
    latency_ms: float
    status: int | None = None
    failure: Failure | None = None

    @classmethod
    def failed(
        cls, kind: FailureKind, message: str, latency_ms: float, status: int | None = None
    ) -> Reply:
        return cls(None, latency_ms, status, Failure(kind, message))


class AgentAdapter(Protocol):
    """How the harness talks to the system under test."""

    name: str

    async def open(self) -> None: ...

    async def send(self, text: str, context: dict[str, Any]) -> Reply:
        """Send one turn. `context` holds case, turn and params for request templates."""
        ...

    async def close(self) -> None: ...


def decode_capped(body: bytes, max_bytes: int) -> tuple[str | None, str | None]:
    """Body as text, or why not when it exceeds the cap (which is reported, never kept)."""
    if len(body) > max_bytes:
        return None, f"reply exceeds the size cap of {max_bytes} bytes"
    return body.decode("utf-8", errors="replace"), None
