"""Blocking work off the event loop, and cleanups that a cancellation cannot cut short.

docker-py and testcontainers block; the harness runs them in daemon threads (which never
hold up the interpreter's exit) and keeps its event loop responsive to Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def in_thread(fn: Callable[[], T], name: str) -> asyncio.Future[T]:
    """Run blocking `fn` in a daemon thread (it never holds up interpreter exit); its result
    as a future of the running loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    # a start given up on ends with Aborted, or a cleanup outlives a cancelled caller: nobody
    # awaits those results, and asyncio would print "Future exception was never retrieved"
    future.add_done_callback(_retrieve)

    def settle(ok: bool, value: Any) -> None:
        if not future.done():
            (future.set_result if ok else future.set_exception)(value)

    def target() -> None:
        try:
            result: Any = fn()
            ok = True
        except BaseException as exc:
            result, ok = exc, False
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, ok, result)

    threading.Thread(target=target, name=name, daemon=True).start()
    return future


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.debug("%s ended with %r", future, future.exception())


async def finish(work: Awaitable[T]) -> T:
    """Await `work` to its end even if the caller is cancelled meanwhile (a cleanup stopped
    half-way leaves containers behind; a second Ctrl-C must not do that), then pass the
    cancellation on. Unlike a bare `asyncio.shield`, the caller really waits."""
    future = asyncio.ensure_future(work)
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.cancelled():
                raise
            cancelled = True
        except BaseException:
            break  # `work` itself failed: result() below raises it
    if cancelled:
        if not future.cancelled():
            future.exception()  # retrieved: the cancellation is what the caller gets
        raise asyncio.CancelledError
    return future.result()
