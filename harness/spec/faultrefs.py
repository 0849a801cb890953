"""A suite's faults checked when it loads: every fault (a scenario's, a profile's) names a
link that is a dependency of the suite, a profile's `scenarios` exist, and a turn window
(`from_turn`, `to_turn`, `after_turn`) lies within the turns of each scenario it applies to
(a scenario's own; every scenario a profile plays); `accept_status` only on a fault with a
window of turns or time. Each problem at its `path:line:col` with did-you-mean or the fix."""

from __future__ import annotations

from collections.abc import Iterator

from harness.errors import Problem
from harness.spec import models as m
from harness.spec.loader import PathKey, Source, did_you_mean
from harness.spec.models.faults import Fault


def turn_count(scenario: m.Scenario) -> int | None:
    """A scenario's scripted turns; None when a run adds turns (drift filler, a reactive
    user) or it has none: a window cannot be checked against them."""
    if scenario.drift is not None or scenario.user is not None or not scenario.turns:
        return None
    return len(scenario.turns)


def past_turns(fault: Fault, turns: int) -> tuple[str, str] | None:
    """The first key of `fault`'s window that lies past `turns` turns, with what it says."""
    for key, value in (
        ("from_turn", fault.from_turn),
        ("to_turn", fault.to_turn),
        ("after_turn", fault.after_turn),
    ):
        if value is not None and value > turns:
            verb = "ends" if key == "to_turn" else "starts"
            return key, f"the window {verb} at turn {value} ({key})"
    return None


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

    def window(fault: Fault, src: Source, at: PathKey, scenario: m.Scenario) -> Iterator[Problem]:
        turns = turn_count(scenario)
        past = None if turns is None else past_turns(fault, turns)
        if past is not None:
            key, said = past
            yield src.problem(
                (*at, key),
                f"{said}, but scenario {scenario.id!r} has {turns} turn(s): it would never "
                f"apply; fix: a turn from 1 to {turns}"
                + (", or 0 for the case's start" if key == "after_turn" else ""),
            )

    ids = [sc.id for sc, _, _ in scenarios]
    for name, profile in manifest.faults.profiles.items():
        at: PathKey = ("faults", "profiles", name)
        for k, scenario_id in enumerate(profile.scenarios):
            if scenario_id not in ids:
                yield manifest_src.problem(
                    (*at, "scenarios", k),
                    f"no scenario {scenario_id!r}{did_you_mean(scenario_id, ids)}; scenarios: "
                    + ", ".join(ids),
                )
        played = [
            sc for sc, _, _ in scenarios if not profile.scenarios or sc.id in profile.scenarios
        ]
        for k, fault in enumerate(profile.faults):
            yield from link(fault.link, manifest_src, (*at, "faults", k))
            for scenario in played:  # the first scenario the window misses, at its key
                problems = list(window(fault, manifest_src, (*at, "faults", k), scenario))
                if problems:
                    yield problems[0]
                    break
    for scenario, src, index in scenarios:
        for k, fault in enumerate(scenario.faults):
            where: PathKey = ("scenarios", index, "faults", k)
            yield from link(fault.link, src, where)
            yield from window(fault, src, where, scenario)
