"""A load profile's fault windows on the load's clock: each window's toxic applied to its
link's proxy `at` seconds after the load started and removed `for` seconds later.

The plan is fixed by the profile (times) and the seed (the proxies are seeded, and each
window's toxic has its own name, so which connections a toxicity hits replays); what
happened is recorded as `LoadFaultWindow`s (runlog/loadinfo.py): when each window was
actually on, the connections drawn for and hit. Whatever is still applied is removed on
every way out (`close`), before the proxies stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from harness.core.types import FaultWindow, Observation
from harness.errors import HarnessError
from harness.faults import LinkProxy
from harness.load.schedule import Schedule, Window
from harness.runlog.loadinfo import LoadFaultWindow
from harness.spec.load import LoadFault

TICK = 0.02  # seconds between looks at the clock before the load has started


def planned(faults: list[LoadFault]) -> list[LoadFaultWindow]:
    """The windows as the manifest records them before any is applied."""
    out = []
    for i, f in enumerate(faults):
        toxic = f.window_toxic(i)
        out.append(
            LoadFaultWindow(
                link=f.link,
                toxic=f.toxic,
                name=toxic.name,
                stream=f.stream,
                toxicity=f.toxicity,
                attributes=dict(toxic.attributes),
                at=f.at,
                for_s=f.for_,
            )
        )
    return out


class FaultWindows:
    """Applies and removes a profile's fault windows on the load's clock."""

    def __init__(
        self,
        faults: list[LoadFault],
        proxies: Mapping[str, LinkProxy],
        t0: Callable[[], float | None],
        note: Callable[[str], None] = lambda _: None,
        source: str = "load",
    ) -> None:
        self.faults = faults
        self.proxies = proxies
        self._t0 = t0  # the load's start (epoch seconds), once known
        self._note = note
        self.windows = planned(faults)
        self._on: set[int] = set()
        self._epochs: dict[int, tuple[float, float | None]] = {}  # window -> applied, removed
        self.closed = False
        self.source = source

    def _events(self) -> list[tuple[float, int, int]]:
        """(seconds, 0 remove / 1 apply, window) in order: at one moment, removals first."""
        events = []
        for i, f in enumerate(self.faults):
            events += [(f.at, 1, i), (f.end, 0, i)]
        return sorted(events)

    async def run(self) -> None:
        """Until every window has ended; cancelled at the load's end (then `close`)."""
        if not self.faults:
            return
        while (t0 := self._t0()) is None:
            await asyncio.sleep(TICK)
        for seconds, apply, i in self._events():
            delay = t0 + seconds - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if apply:
                self._apply(i, time.time() - t0)
            else:
                self._remove(i, time.time() - t0)

    def _apply(self, i: int, at: float) -> None:
        if self.closed:
            return
        w, f = self.windows[i], self.faults[i]
        proxy = self.proxies.get(f.link)
        if proxy is None:
            w.error = f"no proxy on link {f.link}: the window was not applied"
            self._note(f"fault window {i + 1}: {w.error}")
            return
        try:
            proxy.add(f.window_toxic(i))
        except HarnessError as exc:
            w.error = str(exc)
            self._note(f"fault window {i + 1} on {f.link} was not applied: {exc}")
            return
        self._on.add(i)
        self._epochs[i] = (time.time(), None)
        w.started, w.seed = round(at, 3), proxy.seed
        self._note(f"fault window {i + 1}: {f.toxic} on {f.link} at {at:.1f} s for {f.for_:g} s")

    def _remove(self, i: int, at: float) -> None:
        if i not in self._on:
            return
        self._on.discard(i)
        w = self.windows[i]
        proxy = self.proxies[self.faults[i].link]
        with contextlib.suppress(HarnessError):  # already gone (the proxy was cleared)
            proxy.remove(w.name)
        w.ended = round(at, 3)
        self._epochs[i] = (self._epochs[i][0], time.time())
        self.observe(i)
        hit = f"; {w.affected} of {w.connections} connection(s) hit" if w.connections else ""
        self._note(f"fault window {i + 1} removed at {at:.1f} s{hit}")

    def mark(
        self, obs: Observation, sent: list[float], end: float, ctx: dict[str, Any]
    ) -> list[int]:
        """The windows (1-based) a conversation overlapped, from its first turn sent (epoch
        seconds) to `end` (its last reply); each becomes a `FaultWindow` of its observation
        (the turns in flight while it was on), and the checks' `fault` context says so (`applied`,
        `turns`), as in a run, so a check can excuse what a fault explains."""
        if not sent or not self._epochs:
            return []
        hit = []
        # a copy: a duplicate pair's two contexts share the dict they were made with
        fault = dict(ctx.get("fault") or {"profile": None, "applied": False, "turns": []})
        for i, (on, off) in sorted(self._epochs.items()):
            if on >= end or (off is not None and off <= sent[0]):
                continue
            w = self.windows[i]
            turns = [  # in flight while it was on: sent before its end, answered after its start
                k + 1
                for k, at in enumerate(sent)
                if (off is None or at < off) and at + _latency(obs, k) >= on
            ]
            obs.faults.append(
                FaultWindow(
                    link=w.link,
                    toxic=w.toxic,
                    name=w.name,
                    stream=w.stream,
                    toxicity=w.toxicity,
                    attributes=dict(w.attributes),
                    source=self.source,
                    started_ns=int(on * 1e9),
                    ended_ns=int(off * 1e9) if off is not None else 0,
                    first_turn=turns[0] if turns else None,
                    last_turn=turns[-1] if turns else None,
                    connections=w.connections,
                    affected=w.affected,
                )
            )
            hit.append(i + 1)
            fault["applied"] = True
            fault["turns"] = sorted(set(fault.get("turns") or []) | set(turns))
        if hit:
            ctx["fault"] = fault
        return hit

    def schedule(self) -> Schedule:
        """The windows as they were applied (epoch seconds), with their `accept_status`."""
        return Schedule(
            [
                Window(on, off, tuple(self.faults[i].accept_status))
                for i, (on, off) in sorted(self._epochs.items())
            ]
        )

    def observe(self, i: int) -> None:
        """The connections window i's toxic was drawn for and hit, from its proxy's samples."""
        w = self.windows[i]
        proxy = self.proxies.get(self.faults[i].link)
        if proxy is None:
            return
        sample = proxy.sample(w.name)  # its own activation (each window's toxic has its name)
        if sample is not None:
            w.connections, w.affected = len(sample.considered), len(sample.affected)

    def refresh(self) -> None:
        """The counts of the windows on now, for a manifest written while the load runs."""
        for i in self._on:
            self.observe(i)

    def close(self) -> None:
        """Remove whatever is still applied (the load ended or was stopped inside a window)."""
        self.closed = True
        t0 = self._t0()
        now = time.time() - t0 if t0 is not None else 0.0
        for i in sorted(self._on):
            self._remove(i, now)


def _latency(obs: Observation, k: int) -> float:
    """Seconds turn k (0-based) took, by its record (0 when it has none)."""
    return obs.turns[k].latency_ms / 1000 if k < len(obs.turns) else 0.0
