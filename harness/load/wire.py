"""What the harness and its load generator processes tell each other, over loopback HTTP.

Both sides import this module (it imports neither asyncio nor gevent), so the
message shapes and the words of a failed call are written once.

- `GET  {base}/config` -> the agent's address and adapter, the schedule, limits.
- `GET  {base}/cases?n=N` -> up to N prepared cases: `[{token, turns, twin}]`, each turn
  `[body, content_type]`; `twin` is the duplicate conversation of the same case.
- `POST {base}/results` <- finished conversations `[{token, turns: [Outcome...]}]` and the
  process's counters; answers whether to stop.
- `POST {base}/status` <- the runner's users and state (single process or master).
- `POST {base}/totals` <- each process's own request and failure counts at its end.
- `POST {base}/returned` <- tokens of cases fetched but never started.
"""

from __future__ import annotations

from typing import Any

from harness.core.failures import Failure, FailureKind

#: locust's request name for every turn, so its statistics group them as one endpoint
REQUEST_NAME = "turn"
#: the agent's turns as locust counts them; the harness's own calls are not counted
STOP_GRACE = 10.0  # seconds the harness allows past the profile's end before it kills


def timeout_error(seconds: float) -> Failure:
    """The same words as the http adapter's, so load and run errors read alike."""
    return Failure(FailureKind.TIMEOUT, f"timeout: no reply within {seconds:g} s")


def connection_error(exc: BaseException) -> Failure:
    return Failure(FailureKind.CONNECTION, f"connection failed: {type(exc).__name__}: {exc}")


def transport_error(error: BaseException, seconds: float) -> Failure:
    """A failed request in the http adapter's words: the HTTP client's wrappers (geventhttpclient's
    `RetriesExceeded(original=...)`) are unwrapped, so a timeout reads as a timeout."""
    for _ in range(5):
        inner = getattr(error, "original", None)
        if not isinstance(inner, BaseException):
            break
        error = inner
    if isinstance(error, TimeoutError) or type(error).__name__ == "Timeout":  # gevent's too
        return timeout_error(seconds)
    return connection_error(error)


def outcome(
    at: float, status: int | None, text: str | None, latency_ms: float, failure: Failure | None
) -> list[Any]:
    """One turn as sent back: when it was sent (epoch seconds) and the judged reply (its
    failure as {kind, message}, or null)."""
    return [
        round(at, 4),
        status,
        text,
        round(latency_ms, 3),
        None if failure is None else failure.to_dict(),
    ]
