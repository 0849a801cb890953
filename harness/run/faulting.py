"""A case's faults on the agent's links, applied and removed on its schedule.

A scenario's `faults:` (whatever phase) and, in a `--faults NAME` run's faulted phase, the
profile's faults: `from_turn`..`to_turn` applied before `from_turn` is sent and removed once
`to_turn` has its reply; `after_turn` + `for` applied when that turn has its reply (0: at the
start) and removed `for` seconds later, the conversation going on meanwhile; a fault with no
window for the whole case. Whatever is still applied is removed when the case ends, however
it ends (`close`). Each applied fault becomes a `FaultWindow`: its times, the turns sent while
it was active, the connections the link saw and its toxicity hit meanwhile (the proxy's
samples).

A case with windowed faults runs alone (`alone`: the engine lets the cases in flight finish
first). A profile's fault with no window is shared by the faulted phase's cases in flight:
applied while any of them runs (`Shared` counts them), so concurrent faulted cases see one
link in one state; unless it has `times` or `after_sent` (`own`): those are applied per case,
which then runs alone, so that `times: 1` is one blip per case, not one per phase.

`fault` in the checks' templates: `{{ fault.profile }}` (None clean); `{{ fault.applied }}`
(a fault was applied during the case: the case ran with faults, whether or not any turn or
connection met it); `{{ fault.turns }}` (the turn numbers whose exchange overlapped a fault:
sent while one was applied; faults are applied and removed only between turns, so a turn
sent before one was applied never meets it); `{{ fault.hit }}` (a toxic acted on at least one
of the agent's connections, from the proxy's per-toxic samples: true, false, or None when
only `down` faults were applied, which refuse at the socket where no connection is seen);
`{{ fault.accepted }}` (the turns answered with a status a fault's `accept_status` allows).

`accept_status`: a turn sent while a fault that lists statuses is applied may be answered
with one of them; the turn is sent with those statuses in its contract (an http agent's
reply is then read from that answer's body, `expect_status`), recorded with its status
(`{{ statuses.N }}`) and judged by the checks; any other failed status on that turn ends
the conversation as the agent's failure (without `accept_status` a failed turn during a
fault is excused, as below). Outside such a fault the status is the agent's failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.core import Case, Observation, TurnRecord
from harness.core.failures import Failure, FailureKind
from harness.core.types import FaultWindow
from harness.faults import Toxic
from harness.spec import models as m
from harness.spec.models.faults import Fault, RecoveryCheck
from harness.spec.suite import Suite
from harness.spec.template import Template

if TYPE_CHECKING:
    from harness.faults import LinkProxy  # imported by a run with faults (session/faults)
    from harness.otel.context import CaseTrace

#: failures a turn sent while a fault was active may have without ending the conversation
#: (an agent that answers 503 while its database is down is judged by the checks)
EXCUSED = (FailureKind.STATUS, FailureKind.TIMEOUT, FailureKind.CONNECTION, FailureKind.MALFORMED)


def windowed(fault: Fault) -> bool:
    return any(
        v is not None for v in (fault.from_turn, fault.to_turn, fault.after_turn, fault.for_)
    )


def own(fault: Fault) -> bool:
    """Whether a profile's fault is applied per case (so the case runs alone): windowed, or
    one that counts or waits per activation (`times`, `after_sent`): shared by the cases in
    flight, `times: 1` would be spent once for the whole phase, not once per case."""
    return windowed(fault) or fault.times is not None or fault.after_sent is not None


def faults_of(suite: Suite, scenario: m.Scenario, case: Case) -> list[tuple[Fault, str]]:
    """A case's faults with their source: its scenario's, then its profile's (faulted phase)."""
    out = [(f, "scenario") for f in scenario.faults]
    if case.fault is not None:
        profile = suite.manifest.faults.profiles.get(case.fault)
        if profile is not None:
            out += [(f, f"profile:{case.fault}") for f in profile.faults]
    return out


def alone(suite: Suite, scenario: m.Scenario, case: Case) -> bool:
    """Whether a case must run with no other case in flight: a scenario's faults, or a
    profile's own ones (`own`; another profile fault with no window is shared by its phase)."""
    return any(src == "scenario" or own(f) for f, src in faults_of(suite, scenario, case))


class Plans:
    """Each (scenario, fault profile)'s faults (`faults_of`) and whether its cases run
    alone (`alone`), found once: the engine asks for every case."""

    def __init__(self, suite: Suite, scenarios: Mapping[str, m.Scenario]) -> None:
        self.suite = suite
        self.scenarios = scenarios
        self._found: dict[tuple[str, str | None], tuple[list[tuple[Fault, str]], bool]] = {}
        #: no case can run alone: no scenario has faults and the suite has no fault profile
        self.never_alone = not suite.manifest.faults.profiles and not any(
            s.faults for s in scenarios.values()
        )

    def of(self, case: Case) -> tuple[list[tuple[Fault, str]], bool]:
        key = (case.scenario, case.fault)
        found = self._found.get(key)
        if found is None:
            scenario = self.scenarios[case.scenario]
            found = faults_of(self.suite, scenario, case), alone(self.suite, scenario, case)
            self._found[key] = found
        return found


def releases(slots: asyncio.Semaphore, n: int) -> Callable[[], None]:
    """Give back the `n` places a case took (all of them: one that ran alone)."""

    def release() -> None:
        for _ in range(n):
            slots.release()

    return release


class Shared:
    """A profile's whole-case toxics, applied while any faulted case in flight needs them."""

    def __init__(self) -> None:
        self._count: dict[tuple[str, str], int] = {}

    def acquire(self, proxy: LinkProxy, toxic: Toxic) -> bool:
        key = (proxy.name, toxic.name)
        self._count[key] = self._count.get(key, 0) + 1
        if self._count[key] == 1:
            proxy.add(toxic)
            return True
        return False

    def release(self, proxy: LinkProxy, toxic: Toxic) -> None:
        key = (proxy.name, toxic.name)
        self._count[key] = self._count.get(key, 1) - 1
        if self._count[key] <= 0:
            del self._count[key]
            if any(t.name == toxic.name for t in proxy.toxics):
                proxy.remove(toxic.name)


@dataclass
class Active:
    fault: Fault
    proxy: LinkProxy
    toxic: Toxic
    window: FaultWindow
    shared: bool
    seen: tuple[set[int], set[int]] = field(default_factory=lambda: (set(), set()))
    timer: asyncio.TimerHandle | None = None


class CaseFaults:
    """One trial's faults; the engine calls `start`, `before_turn`, `after_reply`, `close`."""

    def __init__(
        self,
        faults: list[tuple[Fault, str]],
        links: Mapping[str, LinkProxy],
        shared: Shared,
        profile: str | None,
    ) -> None:
        self.faults = faults
        self.links = links
        self.shared = shared
        self.windows: list[FaultWindow] = []
        self.context: dict[str, Any] = {
            "profile": profile, "applied": False, "turns": [], "hit": False, "accepted": []
        }  # fmt: skip
        self._on_turn: dict[int, tuple[int, ...]] = {}  # turn -> the faults on when it was sent
        self._active: dict[int, Active] = {}
        self._done: set[int] = set()
        self._ended = asyncio.Event()
        self._ended.set()
        self.last_ended: float | None = None  # monotonic time the last fault ended

    # -- the schedule ---------------------------------------------------------------------
    def start(self) -> None:
        """The whole-case faults and those `after_turn: 0`."""
        for i, (fault, _) in enumerate(self.faults):
            if not windowed(fault) or fault.after_turn == 0:
                self._apply(i)

    def before_turn(self, number: int) -> None:
        for i, (fault, _) in enumerate(self.faults):
            first = fault.from_turn or (1 if fault.to_turn is not None else None)
            last = fault.to_turn or number
            if first is not None and first <= number <= last and i not in self._done:
                self._apply(i)
        if self._active:
            self._on_turn[number] = tuple(self._active)
            self.context["turns"].append(number)
            for active in self._active.values():
                w = active.window
                w.first_turn = w.first_turn or number
                w.last_turn = number

    def after_reply(self, number: int) -> None:
        for i, (fault, _) in enumerate(self.faults):
            if fault.to_turn is not None and fault.to_turn <= number and i in self._active:
                self._remove(i)
            if fault.after_turn is not None and fault.after_turn == number:
                self._apply(i)
        self.observe()

    def accepting(self, number: int) -> tuple[int, ...]:
        """The statuses the faults on while turn `number` was sent accept (`accept_status`)."""
        out: list[int] = []
        for i in self._on_turn.get(number, ()):
            out += [s for s in self.faults[i][0].accept_status if s not in out]
        return tuple(out)

    def accepts(self, number: int, status: int | None) -> bool:
        """Turn `number` was answered with a status a fault on during it accepts."""
        return status is not None and status in self.accepting(number)

    def excuses(self, number: int, failure: Failure | None) -> bool:
        """A failed turn sent while a fault was active is recorded, and the case goes on;
        but when the faults on say which statuses they accept, any other status is not."""
        if failure is None or failure.kind not in EXCUSED or number not in self._on_turn:
            return False
        return not (failure.kind is FailureKind.STATUS and self.accepting(number))

    def observe(self) -> None:
        """`fault.hit` from the proxy's samples: the ended windows' and the active ones'."""
        hit = any(w.affected for w in self.windows if w.ended_ns)
        for active in self._active.values():
            hit = hit or bool(_seen(active.proxy, active.toxic.name)[1] - active.seen[1])
        seen = any(w.toxic != "down" for w in self.windows)
        self.context["hit"] = True if hit else (False if seen or not self.windows else None)

    async def settle(self, limit: float) -> None:
        """Wait (at most `limit` s) until every timed window has ended (before recovery)."""
        if self._active and all(a.timer is None for a in self._active.values()):
            return  # only whole-case faults left: they end with the case
        try:
            async with asyncio.timeout(limit):
                await self._ended.wait()
        except TimeoutError:
            pass

    def end_own(self) -> None:
        """Remove this case's whole-case faults of its own (a scenario's), before recovery."""
        for i, active in list(self._active.items()):
            if active.timer is None and not active.shared:
                self._remove(i)

    def close(self) -> None:
        """Every way out: whatever is still applied is removed."""
        for i in list(self._active):
            self._remove(i)

    # -- applying -------------------------------------------------------------------------
    def _apply(self, i: int) -> None:
        if i in self._active or i in self._done:
            return
        fault, source = self.faults[i]
        proxy = self.links.get(fault.link)
        if proxy is None:  # links_for proxied every link a fault names; never here
            raise RuntimeError(f"fault link {fault.link!r} has no proxy in this run")
        name = f"{source.replace(':', '_')}_{i}_{fault.toxic}_{fault.stream}"
        toxic = fault.as_toxic(name)
        shared = not own(fault) and source != "scenario"
        # what the toxic's current activation saw before (a shared one already on): not ours
        on = any(t.name == name for t in proxy.toxics)
        seen = _seen(proxy, name) if on else (set[int](), set[int]())
        if shared:
            self.shared.acquire(proxy, toxic)
        else:
            proxy.add(toxic)
        window = FaultWindow(
            link=fault.link,
            toxic=fault.toxic,
            name=name,
            stream=fault.stream,
            toxicity=fault.toxicity,
            attributes=dict(toxic.attributes),
            after_sent=fault.after_sent,
            times=fault.times,
            source=source,
            started_ns=time.time_ns(),
        )
        active = Active(fault, proxy, toxic, window, shared, seen)
        if fault.after_turn is not None and fault.for_ is not None:
            loop = asyncio.get_running_loop()
            active.timer = loop.call_later(fault.for_, self._remove, i)
            self._ended.clear()
        self._active[i] = active
        self.windows.append(window)
        self.context["applied"] = True

    def _remove(self, i: int) -> None:
        active = self._active.pop(i, None)
        if active is None:
            return
        self._done.add(i)
        if active.timer is not None:
            active.timer.cancel()
        try:
            if active.shared:
                self.shared.release(active.proxy, active.toxic)
            elif any(t.name == active.toxic.name for t in active.proxy.toxics):
                active.proxy.remove(active.toxic.name)
        finally:
            considered, affected = _seen(active.proxy, active.toxic.name)
            w = active.window
            w.ended_ns = time.time_ns()
            w.connections = len(considered - active.seen[0])
            w.affected = len(affected - active.seen[1])
            self.last_ended = time.monotonic()
            if all(a.timer is None for a in self._active.values()):
                self._ended.set()
            self.observe()


def _seen(proxy: LinkProxy, name: str) -> tuple[set[int], set[int]]:
    """The connections the toxic's latest activation was drawn for, and those it hit."""
    sample = proxy.sample(name)
    if sample is None:
        return set(), set()
    return set(sample.considered), set(sample.affected)


MAX_PROBES = 1000  # probe turns of one recovery measurement, at most


async def recover(
    scenario: m.Scenario,
    faults: CaseFaults,
    conversation: Any,
    ctx: dict[str, Any],
    obs: Observation,
    number: int,
    health: str | None,
    record: Callable[..., TurnRecord],
    trace: CaseTrace | None = None,
) -> None:
    """The first `recovery` check of a scenario, measured once the case's faults have ended:
    its probe sent in the same conversation (turns with source `recovery`) every `every`
    seconds until the reply contains `expect`, or the agent's health URL polled until 200;
    at most `within` seconds (`record` makes a turn's record). Each window's `recovered_ms`:
    from its end to the recovery, or from when the measurement began if the conversation
    went on after the fault ended (its own turns then came first: the clock starts when the
    harness could first ask). A traced case's probe carries a `traceparent` of its own turn,
    as every turn does, so the agent's spans of a probe are the probe's."""
    from harness.agents.process import wait_healthy

    checks = [c for c in scenario.checks if isinstance(c, RecoveryCheck)]
    if not checks or not faults.windows:
        return
    check = checks[0]
    faults.end_own()
    await faults.settle(600.0)
    if any(w.ended_ns == 0 for w in faults.windows):
        return  # a profile's whole-case fault is still on: it ends with its phase
    began_ns = time.time_ns()
    deadline = max(faults.last_ended or 0.0, time.monotonic()) + check.within
    recovered_ns: int | None = None
    if check.health:
        if health is None:  # the judge says why (an error, not a failure of the agent)
            faults.context["unmeasured"] = "the agent has no health URL (process.health.url)"
            return
        left = max(0.0, deadline - time.monotonic())
        healthy, _ = await wait_healthy(health, left, max(check.every, 0.01))
        recovered_ns = time.time_ns() if healthy else None
    else:
        assert check.probe is not None and check.expect is not None
        from harness.check.output import norm  # as a `contains` check reads: any case, NFC

        text = Template(check.probe).render_text(ctx)
        expect = norm(check.expect, True)
        for _ in range(MAX_PROBES):
            number += 1
            ctx["turn"] = {"text": text, "index": number}
            if trace is not None:
                ctx["traceparent"] = trace.traceparent(number - 1)
            sent = time.time_ns()
            reply = await conversation.send(text, None, ctx)
            turn: TurnRecord = record(number, text, reply, "recovery", sent)
            obs.turns.append(turn)
            if reply.failure is None and expect in norm(reply.text or "", True):
                recovered_ns = time.time_ns()
                break
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(check.every)
    if recovered_ns is not None:
        for w in faults.windows:
            since = max(w.ended_ns, began_ns)
            w.recovered_ms = round(max(0.0, (recovered_ns - since) / 1e6), 3)
