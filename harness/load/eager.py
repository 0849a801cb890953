"""A coroutine run at once, up to its first real wait, with a task only if it has to wait.

The feeder judges every finished conversation as its own task (so a trace's settle wait, a
database check or the agent's exit never holds up the others). Most conversations judge
without ever waiting (output checks, nothing traced), and a task each then costs more than
the judging's own bookkeeping: its creation, a turn of the event loop, its done callback.
`start` runs the coroutine in a context of its own (as a task would, so what it sets, such
as a pinned clock, never leaks into the caller's) until it returns or first waits; only in
the second case does a task take over, in that same context, from where it stopped
(asyncio's eager task factory, which Python 3.11 does not have).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine, Generator
from typing import Any


def start(coro: Coroutine[Any, Any, None]) -> asyncio.Future[None] | None:
    """Run `coro` now; None when it finished without waiting, else the future that finishes
    it (a task, or a future holding the exception it raised, which asyncio reports as an
    unretrieved task exception would be)."""
    context = contextvars.copy_context()
    try:
        first = context.run(coro.send, None)
    except StopIteration:
        return None
    except Exception as exc:
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        failed.set_exception(exc)
        return failed
    return asyncio.get_running_loop().create_task(_Rest(coro, first), context=context)


_TAKEN = object()


class _Rest(Coroutine[Any, Any, None]):
    """The rest of a coroutine that has already started, for a task to finish: its first
    step hands the task what the coroutine waits on; then every value sent and every
    exception thrown (a cancellation, even one before that first step) goes to the
    coroutine itself."""

    def __init__(self, coro: Coroutine[Any, Any, None], waiting: Any) -> None:
        self._coro = coro
        self._waiting = waiting

    def send(self, value: Any) -> Any:
        if self._waiting is not _TAKEN:
            waiting, self._waiting = self._waiting, _TAKEN
            return waiting
        return self._coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        self._waiting = _TAKEN
        if val is None and tb is None:
            return self._coro.throw(typ)
        return self._coro.throw(typ, val, tb)  # pragma: no cover - the old signature

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, None]:  # pragma: no cover - a task drives it
        raise TypeError("driven by its task only")
