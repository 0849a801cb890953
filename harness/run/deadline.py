"""The case timeout of every case an engine runs, kept on one timer.

`asyncio.timeout` gives every case a timer of its own: a handle pushed on the event loop's
heap when the case starts and cancelled when it ends (and popped off the heap later), a
twelfth of the harness's own work per case on the echo suite. An engine's cases all have
the same allowance and start one after another, so their deadlines come in the order the
cases started: a queue of them and one timer, set for the earliest deadline of a case still
running, do the same. When the timer fires, every case past its deadline is cancelled, and
its `with` turns the cancellation into `TimeoutError`, exactly as `asyncio.timeout` does (a
cancellation from elsewhere, a stop signal, stays a cancellation); then the timer is set for
the next deadline.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType

_RUNNING, _FIRED, _DONE = 0, 1, 2


class Deadlines:
    """One engine's case timeouts: `with deadlines():` around each case's work."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._queue: deque[Deadline] = deque()  # in the order the cases started: by deadline
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self) -> Deadline:
        return Deadline(self)

    def _fire(self) -> None:
        self._timer = None
        loop = self._loop
        assert loop is not None
        queue = self._queue
        # asyncio runs a timer once the clock is within its resolution of the deadline
        due = loop.time() + loop._clock_resolution  # type: ignore[attr-defined]
        while queue:
            deadline = queue[0]
            if deadline.state == _RUNNING:
                if deadline.when > due:
                    self._timer = loop.call_at(deadline.when, self._fire)
                    return
                deadline.state = _FIRED
                assert deadline.task is not None
                deadline.task.cancel()
            queue.popleft()


class Deadline:
    """One case's deadline (a `with` block: see Deadlines)."""

    __slots__ = ("_owner", "cancelling", "state", "task", "when")

    def __init__(self, owner: Deadlines) -> None:
        self._owner = owner
        self.state = _RUNNING
        self.task: asyncio.Task[object] | None = None
        self.cancelling = 0
        self.when = 0.0

    def __enter__(self) -> Deadline:
        owner = self._owner
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a case's deadline is kept inside a task")
        loop = task.get_loop()
        if loop is not owner._loop:  # a new event loop: nothing of the last one counts
            owner._queue.clear()
            owner._timer, owner._loop = None, loop
        self.task = task
        self.cancelling = task.cancelling()
        self.when = loop.time() + owner.seconds
        owner._queue.append(self)
        if owner._timer is None:
            owner._timer = loop.call_at(self.when, owner._fire)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        fired = self.state == _FIRED
        self.state = _DONE
        owner = self._owner
        queue = owner._queue  # the finished cases at its head forgotten; no timer for none
        while queue and queue[0].state == _DONE:
            queue.popleft()
        if not queue and owner._timer is not None:
            owner._timer.cancel()
            owner._timer = None
        if fired:
            assert self.task is not None
            if self.task.uncancel() <= self.cancelling and kind is asyncio.CancelledError:
                raise TimeoutError from exc
