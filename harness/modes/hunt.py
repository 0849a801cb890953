"""`harness hunt`: search a suite's generated inputs for divergences within a time budget.

The environment comes up as for a run; the search itself runs in a worker thread
(modes/hunter.py), which an interrupted hunt stops and waits for before the environment
goes. Every root cause found is shrunk, replayed to tell a steady failure from a flaky
one (saved with its rate), and saved as one regression case listing the other scenarios
that failed the same way. The hypothesis example database and the rounds each scenario
has been searched live under the suite (`.hypothesis/`), so the next hunt goes on where
this one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import random
from dataclasses import dataclass, field

from harness.core.events import Emit, Note, Status, ignore
from harness.empty import empty_list
from harness.errors import ConfigError, EnvironmentFault
from harness.modes.hunter import Hunter, filler_only, hard_parts, searchable
from harness.runlog.models import HuntManifest
from harness.runlog.store import RunLog
from harness.session.environment import preflight
from harness.session.faults import links_for
from harness.session.lifecycle import Context, Start
from harness.session.manifest import suite_fields
from harness.session.options import SessionOptions
from harness.spec.models import Scenario
from harness.spec.suite import Suite, load_suite

#: what a hunt can vary, for a suite or a `-k` that gives it nothing
NOTHING_TO_VARY = (
    "give a scenario generated values a hunt searches (boundary, amount_text, text_trap, "
    "pool, date and time edges, choice, a range, faker with `locales:`), personas or drift "
    "lengths (a faker value alone is filler, fresh for each case but never searched); see "
    "the README's Hunting for edge cases"
)


def _ids(scenarios: list[Scenario], most: int = 12) -> str:
    more = len(scenarios) - most
    return ", ".join(s.id for s in scenarios[:most]) + (f" and {more} more" if more > 0 else "")


@dataclass
class HuntOptions(SessionOptions):
    budget: float = 300.0
    select: tuple[str, ...] = ()
    plain: bool = False
    max_length: int | None = None  # the longest drift length drawn (None: each scenario's)


@dataclass
class HuntDriver:
    options: HuntOptions
    emit: Emit = ignore
    kind: str = "hunt"
    concurrency: int = 1
    hunter: Hunter | None = None
    scenarios: list[Scenario] = field(default_factory=empty_list)
    left_out: list[Scenario] = field(default_factory=empty_list)  # generated values, filler only
    seed: int = 0
    fault_links: tuple[str, ...] = ()  # the links its scenarios' faults name: proxied
    suite: Suite = field(init=False)

    def plan(self) -> HuntManifest:
        o = self.options
        assert o.suite is not None
        suite = self.suite = load_suite(o.suite)
        preflight(suite)
        # where defects hide first: a short budget goes to boundaries, formats and traps
        scenarios = sorted(
            (s for s in suite.scenarios if searchable(s)), key=lambda s: not hard_parts(s)
        )
        # generated values, but only filler: left out, and said so
        filler = [s for s in suite.scenarios if filler_only(s)]
        if o.select:

            def chosen(s: Scenario) -> bool:
                return any(fnmatch.fnmatchcase(s.id, p) for p in o.select)

            matched, filler = [s for s in scenarios if chosen(s)], [s for s in filler if chosen(s)]
            if not matched and filler:
                raise ConfigError(
                    f"-k {' '.join(o.select)} matches {_ids(filler)} of suite {suite.name}, "
                    "whose only generated values are faker filler: nothing to hunt",
                    hint=NOTHING_TO_VARY,
                )
            if not matched:  # a typo in -k must not turn a CI job green: nothing starts
                raise ConfigError(
                    f"no scenario of suite {suite.name} with generated inputs matches "
                    f"{' '.join(o.select)}",
                    hint=f"scenarios a hunt can search: {_ids(scenarios) or 'none'}",
                )
            scenarios = matched
        if not scenarios:
            raise ConfigError(
                f"suite {suite.name} has no scenario with generated inputs a hunt can vary: "
                "nothing to hunt",
                hint=NOTHING_TO_VARY,
            )
        self.scenarios, self.left_out = scenarios, filler
        self.fault_links = links_for(suite, {f.link for s in scenarios for f in s.faults})
        # a given seed replays a hunt exactly; otherwise every hunt draws anew
        self.seed = o.seed if o.seed is not None else random.SystemRandom().randrange(2**32)
        return HuntManifest(
            kind="hunt",
            **suite_fields(suite, seed=self.seed, concurrency=1, case_timeout=None, group=o.group),
            deps_mode=o.deps.mode,
            budget_seconds=o.budget,
            plain=o.plain,
            max_length=o.max_length,
            scenarios=[s.id for s in scenarios],
        )

    def resume(self, log: RunLog) -> None:
        raise ConfigError("a hunt cannot be resumed", hint="start another: it goes on where "
                          "the last one stopped (the suite's .hypothesis/ folder)")  # fmt: skip

    def start(self, log: RunLog) -> Start:
        if self.left_out:
            self.emit(
                Note(
                    f"left out, their only generated values faker filler (nothing to vary): "
                    f"{_ids(self.left_out)}"
                )
            )
        hard = sum(1 for s in self.scenarios if hard_parts(s))
        said = (
            f"plain random values for the {len(self.scenarios)} scenario(s): no boundaries, "
            "formats, traps or pools, no shrinking, nothing saved (the baseline of a hunt)"
            if self.options.plain
            else f"{hard} of the {len(self.scenarios)} scenario(s) have boundaries, formats, "
            "traps, pools, personas or rewordings and are searched first; the others vary "
            "only choices, ranges, faker locales and drift lengths"
        )
        self.emit(Note(said))
        return Start(len(self.scenarios))

    def needs_environment(self, log: RunLog) -> bool:
        return True

    async def drive(self, ctx: Context) -> None:
        from harness.generate.strategies import use_home

        assert ctx.env is not None
        use_home(self.suite.root / ".hypothesis")
        engine = ctx.env.engine(1, ctx.log.manifest.case_timeout, ignore, ignore)
        hunter = self.hunter = Hunter(
            self.suite,
            engine,
            ctx.log,
            budget=self.options.budget,
            seed=self.seed,
            plain=self.options.plain,
            emit=ctx.emit,
            loop=asyncio.get_running_loop(),
            max_length=self.options.max_length,
        )
        search = asyncio.ensure_future(asyncio.to_thread(hunter.hunt, self.scenarios))
        try:
            await asyncio.shield(search)
        except asyncio.CancelledError:
            # the search ends (its case in flight cancelled, nothing cut short saved) before
            # the environment goes: no case of it meets an agent the harness is stopping
            hunter.stop()
            while not search.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait({search})
            if not search.cancelled():
                search.exception()  # retrieved: the interruption is what the session gets
            raise
        if hunter.agent_exit is not None:
            agent_log = getattr(engine.agent, "log_path", None)
            raise EnvironmentFault(
                f"the agent process exited with code {hunter.agent_exit} during the hunt; the "
                f"hunt stopped there: {len(hunter.found)} divergence(s) found before it are "
                "kept, nothing after it is saved",
                hint=f"see the agent's log: {agent_log}" if agent_log else None,
            )

    def finish(self, log: RunLog, status: Status) -> tuple[Status, str | None]:
        h = self.hunter
        log.update(
            tried=h.tried if h else 0,
            repeats=h.repeats if h else 0,
            found=list(h.found) if h else [],
            suite_warnings=list(h.told) if h else [],
        )
        return status, None

    def counts(self, log: RunLog) -> dict[str, int]:
        return {"fail": len(self.hunter.found) if self.hunter else 0}
