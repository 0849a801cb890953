"""`harness replay`: one case re-run exactly, from (suite, seed, case id) or a regression file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.core import TWIN, Case, CaseResult, Verdict
from harness.core.events import Emit, Note, Status, ignore
from harness.empty import empty_list
from harness.errors import ConfigError
from harness.run import regressions
from harness.run.plan import find_case, plan
from harness.runlog.models import ReplayManifest
from harness.runlog.store import RunLog
from harness.session.environment import preflight
from harness.session.faults import links_for, profile_links, scenario_links
from harness.session.lifecycle import Context, Start
from harness.session.manifest import suite_fields
from harness.session.options import SessionOptions
from harness.spec.loader import did_you_mean
from harness.spec.suite import Suite, load_suite


@dataclass
class ReplayOptions(SessionOptions):
    case_id: str = ""
    times: int = 1


def resolve_case(suite: Suite, case_id: str, seed: int) -> Case:
    """The exact case: a regression case as saved, or a scenario's case re-planned."""
    if case_id.startswith(regressions.PREFIX):
        rid = case_id.removeprefix(regressions.PREFIX)
        for reg in suite.regressions:
            if reg.id == rid:
                src = suite.regression_sources.get(rid)
                try:
                    return regressions.regression_case(
                        reg, suite.scenario(reg.scenario), suite.params, src
                    )
                except regressions.Unreadable as exc:
                    raise ConfigError([exc.problem]) from None
        broken = [p for p in suite.broken_regressions if Path(p.path).stem == rid]
        if broken:
            raise ConfigError(broken, hint="fix the file, or delete it to forget the case")
        known = [r.id for r in suite.regressions]
        raise ConfigError(
            f"no regression case {rid!r} in {suite.root / 'regressions'}{did_you_mean(rid, known)}"
        )
    try:
        return find_case(suite, seed, case_id)
    except (KeyError, ValueError) as exc:
        ids = dict.fromkeys(  # a drift scenario's cases at every point harness drift plays
            [c.id for c in plan(suite, seed)]
            + [c.id for c in plan(suite, seed, points=True)]
            + [regressions.PREFIX + r.id for r in suite.regressions]
        )
        raise ConfigError(
            f"{exc.args[0] if exc.args else exc}{did_you_mean(case_id, list(ids))}",
            hint="harness list SUITE shows the scenarios; case ids are scenario or scenario#N, "
            "a drift scenario's at a point scenario#N@LENGTH (+ -middle or -end)",
        ) from None


@dataclass
class ReplayDriver:
    options: ReplayOptions
    emit: Emit = ignore
    kind: str = "replay"
    concurrency: int = 1
    results: list[CaseResult] = field(default_factory=empty_list)
    fault_links: tuple[str, ...] = ()  # the links its case's faults name: proxied
    suite: Suite = field(init=False)
    case: Case = field(init=False)

    def plan(self) -> ReplayManifest:
        o = self.options
        assert o.suite is not None
        suite = self.suite = load_suite(o.suite)
        if o.seed is not None and o.case_id.startswith(regressions.PREFIX):
            raise ConfigError(
                f"--seed {o.seed}: a regression case replays with the seed and inputs "
                "saved in its file; --seed does not apply",
                hint=f"harness replay {o.case_id} (without --seed)",
            )
        preflight(suite)
        seed = o.seed if o.seed is not None else suite.manifest.defaults.seed
        case_id = o.case_id
        if case_id.endswith(TWIN):  # a load run's second conversation of a duplicate pair
            case_id = case_id.removesuffix(TWIN)
            self.emit(
                Note(
                    f"{o.case_id} was the second of two identical conversations a load run "
                    f"sent at once; a replay sends {case_id} alone, so a failure that needed "
                    "the race does not come back here: harness load reproduces it (pass "
                    "--seed with the load run's seed if it had its own)",
                    "warning",
                )
            )
        self.case = resolve_case(suite, case_id, seed)
        named = scenario_links(suite, [self.case]) | profile_links(suite, self.case.fault)
        self.fault_links = links_for(suite, named)
        flaky = regressions.trials_of(suite).get(self.case.id)
        if flaky is not None and o.times < flaky.trials:  # a pass here proves little
            self.emit(
                Note(
                    f"{self.case.id} is flaky ({regressions.flaky_words(flaky, o.times)}); "
                    f"harness run replays it {flaky.trials} times: --times {flaky.trials}",
                    "warning",
                )
            )
        return ReplayManifest(
            kind="replay",
            **suite_fields(suite, seed=seed, concurrency=1, case_timeout=None, group=o.group),
            deps_mode=o.deps.mode,
            case_id=self.case.id,
            times=o.times,
        )

    def resume(self, log: RunLog) -> None:
        raise ConfigError("a replay cannot be resumed", hint="replay the case again")

    def start(self, log: RunLog) -> Start:
        return Start(self.options.times)

    def needs_environment(self, log: RunLog) -> bool:
        return True

    async def drive(self, ctx: Context) -> None:
        assert ctx.env is not None
        engine = ctx.env.engine(1, ctx.log.manifest.case_timeout, ignore, ignore)
        for trial in range(1, self.options.times + 1):
            result = await engine.run_case(self.case, trial)
            ctx.log.append(result)
            self.results.append(result)

    def finish(self, log: RunLog, status: Status) -> tuple[Status, str | None]:
        return status, None

    def counts(self, log: RunLog) -> dict[str, int]:
        counts = {v.value: 0 for v in Verdict}
        for result in self.results:
            for check in result.checks:
                counts[check.verdict.value] += 1
        return counts
