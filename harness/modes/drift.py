"""`harness drift`: the suite's drift scenarios at every length and position, k trials each,
for the drift curves (report/drift.py). A drift run is a run of drift points: the same
engine, records, resume and invariant sweep as `harness run`; known regression cases are
left to `harness run`, which replays them first."""

from __future__ import annotations

from dataclasses import dataclass

from harness.core import Case
from harness.errors import ConfigError
from harness.modes.run import RunDriver, RunOptions
from harness.run import drift
from harness.run.plan import plan
from harness.runlog.models import DriftManifest, DriftPlan, RunManifest
from harness.runlog.store import RunLog
from harness.spec.suite import Suite


@dataclass
class DriftOptions(RunOptions):
    lengths: tuple[int, ...] = ()  # every drift scenario at these lengths instead of its own


def drift_plans(suite: Suite, lengths: tuple[int, ...] = ()) -> list[DriftPlan]:
    out: list[DriftPlan] = []
    for scenario in suite.scenarios:
        if scenario.drift is None:
            continue
        spec = scenario.drift
        if lengths:  # the positions at the scenario's position length if it is still run,
            # else at the longest length given
            given = sorted(set(lengths))
            at = spec.position_length if spec.position_length in given else None
            spec = spec.model_copy(update={"lengths": given, "position_length": at})
        has_positions = bool(drift.remembered(scenario))
        out.append(
            DriftPlan(
                scenario=scenario.id,
                lengths=list(spec.lengths),
                positions=list(spec.positions) if has_positions else [drift.START],
                position_length=spec.at if has_positions else None,
            )
        )
    return out


@dataclass
class DriftDriver(RunDriver):
    kind: str = "drift"

    def plan(self) -> DriftManifest:
        manifest = super().plan()
        o = self.options
        lengths = o.lengths if isinstance(o, DriftOptions) else ()
        plans = drift_plans(self.suite, lengths)
        if not plans:
            raise ConfigError(
                f"suite {self.suite.name} has no drift scenario",
                hint="give a scenario a `drift:` block and mark its probe turn `probe: true` "
                "(README, Long-task drift)",
            )
        self.cases = self._cases(manifest.seed, manifest.select, manifest.repeat, plans)
        if not self.cases:
            raise ConfigError(
                f"no drift case of suite {self.suite.name} matches {' '.join(o.select)}",
                hint="drift scenarios: " + ", ".join(p.scenario for p in plans),
            )
        return DriftManifest(
            **manifest.model_dump(exclude={"kind", "planned"}),
            planned=len(self.cases),
            drift=plans,
            cases_hash=self.suite.cases_hash,
        )

    def same_suite(self, suite: Suite, m: RunManifest) -> bool:
        """A drift run plays no regression file: one a hunt saved since does not change it."""
        if isinstance(m, DriftManifest) and m.cases_hash:
            return suite.cases_hash == m.cases_hash
        return super().same_suite(suite, m)

    def _cases(
        self, seed: int, select: list[str], repeat: int | None, plans: list[DriftPlan]
    ) -> list[Case]:
        """Each drift scenario's cases at every point of its plan (case by case, each case's
        points shortest first), the same inputs at every point."""
        wanted = {
            p.scenario: drift.plan_points(p.lengths, p.positions, p.position_length) for p in plans
        }
        return [
            drift.at_point(case, length, position)
            for case in plan(self.suite, seed, select=select, repeat=repeat)
            if case.scenario in wanted
            for length, position in wanted[case.scenario]
        ]

    def resume(self, log: RunLog) -> None:
        o, m = self.options, log.manifest
        given = o.lengths if isinstance(o, DriftOptions) else ()
        if given and isinstance(m, DriftManifest):
            stored = sorted({n for p in m.drift for n in p.lengths})
            if sorted(set(given)) != stored:
                raise ConfigError(
                    f"--lengths {','.join(map(str, given))} cannot change when resuming: run "
                    f"{log.run_id} plays lengths {','.join(map(str, stored))}",
                    hint="drop --lengths, or start a new drift run",
                )
        super().resume(log)
        m = log.manifest
        assert isinstance(m, DriftManifest)
        self.cases = self._cases(m.seed, m.select, m.repeat, m.drift)
