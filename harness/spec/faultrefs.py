"""A suite's faults checked when it loads: every fault (a scenario's, a profile's) names a
link that is a dependency of the suite, a profile's `scenarios` exist, and a turn window
ends within the scenario's turns; each problem at its `path:line:col` with did-you-mean."""

from __future__ import annotations

from collections.abc import Iterator

from harness.errors import Problem
from harness.spec import models as m
from harness.spec.loader import PathKey, Source, did_you_mean


def check_faults(
    manifest: m.SuiteFile | None,
    manifest_src: Source | None,
    scenarios: list[tuple[m.Scenario, Source, int]],
) -> Iterator[Problem]:
    if manifest is None or manifest_src is None:
        return
    deps = sorted(manifest.environment.dependencies)

    def link(name: str, src: Source, at: PathKey) -> Iterator[Problem]:
        if name not in deps:
            yield src.problem(
                (*at, "link"),
                f"link {name!r} is not a dependency of this suite{did_you_mean(name, deps)}; "
                f"dependencies: {', '.join(deps) or 'none'}",
            )

    ids = [sc.id for sc, _, _ in scenarios]
    for name, profile in manifest.faults.profiles.items():
        at: PathKey = ("faults", "profiles", name)
        for k, fault in enumerate(profile.faults):
            yield from link(fault.link, manifest_src, (*at, "faults", k))
        for k, scenario_id in enumerate(profile.scenarios):
            if scenario_id not in ids:
                yield manifest_src.problem(
                    (*at, "scenarios", k),
                    f"no scenario {scenario_id!r}{did_you_mean(scenario_id, ids)}; scenarios: "
                    + ", ".join(ids),
                )
    for scenario, src, index in scenarios:
        for k, fault in enumerate(scenario.faults):
            where: PathKey = ("scenarios", index, "faults", k)
            yield from link(fault.link, src, where)
            first = fault.from_turn or fault.after_turn
            fixed = scenario.drift is None and scenario.user is None  # no turns added
            if fixed and first is not None and scenario.turns and first > len(scenario.turns):
                yield src.problem(
                    where,
                    f"the window starts at turn {first}, but the scenario has "
                    f"{len(scenario.turns)} turn(s)",
                )
