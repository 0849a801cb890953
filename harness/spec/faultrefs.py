"""A suite's faults checked when it loads: every fault (a scenario's, a profile's) names a
link that is a dependency of the suite, a profile's `scenarios` exist, and a turn window
(`from_turn`, `to_turn`, `after_turn`) lies within the turns of each scenario it applies to
(a scenario's own; every scenario a profile plays); `accept_status` only on a fault with a
window of turns or time; a `recovery` check only in a scenario that has a fault (its own, or
a profile's that plays it). Each problem at its `path:line:col` with did-you-mean or the fix.
A scenario that failed to load is checked as far as it can be (salvage.py): its faults that
are valid on their own against the turns it writes; a profile may name it."""

from __future__ import annotations

from collections.abc import Iterator

from harness.errors import Problem
from harness.spec import models as m
from harness.spec.loader import PathKey, Source, did_you_mean
from harness.spec.models.faults import Fault
from harness.spec.salvage import Unloaded


def turn_count(scenario: m.Scenario) -> int | None:
    """A scenario's scripted turns; None when a run adds turns (drift filler, a reactive
    user) or it has none: a window cannot be checked against them."""
    if scenario.drift is not None or scenario.user is not None or not scenario.turns:
        return None
    return len(scenario.turns)


def past_turns(fault: Fault, turns: int) -> tuple[str, str, str] | None:
    """The first key of `fault`'s window that lies past `turns` turns: the key, what it says,
    and what follows from it with the fix."""
    never = f"it would never apply; fix: a turn from 1 to {turns}"
    if fault.from_turn is not None and fault.from_turn > turns:
        return "from_turn", f"the window starts at turn {fault.from_turn} (from_turn)", never
    if fault.to_turn is not None and fault.to_turn > turns:
        return (
            "to_turn",
            f"the window ends at turn {fault.to_turn} (to_turn)",
            f"it ends past the last turn (it applies up to turn {turns}); fix: to_turn: "
            f"{turns}, or leave it out (to the last turn)",
        )
    if fault.after_turn is not None and fault.after_turn > turns:
        return (
            "after_turn",
            f"the window starts at turn {fault.after_turn} (after_turn)",
            never + ", or 0 for the case's start",
        )
    return None


def check_faults(
    manifest: m.SuiteFile | None,
    manifest_src: Source | None,
    scenarios: list[tuple[m.Scenario, Source, int]],
    unloaded: tuple[Unloaded, ...] = (),
    *,
    unread: bool = False,
) -> Iterator[Problem]:
    """`unloaded`: the scenarios that failed to load, as far as they are known; `unread`: a
    scenario file could not be read at all (a profile's scenario may be there)."""
    played_by: set[str] = set()
    if manifest is not None and manifest_src is not None:
        yield from _manifest_faults(manifest, manifest_src, scenarios, unloaded, unread)
        for profile in manifest.faults.profiles.values():
            played_by.update(profile.scenarios or [sc.id for sc, _, _ in scenarios])
    deps = sorted(manifest.environment.dependencies) if manifest is not None else None
    for scenario, src, index in scenarios:
        for k, fault in enumerate(scenario.faults):
            where: PathKey = ("scenarios", index, "faults", k)
            yield from _link(fault.link, deps, src, where)
            yield from _window(fault, src, where, scenario.id, turn_count(scenario))
        if scenario.faults or scenario.id in played_by or manifest is None:
            continue
        for c, check in enumerate(scenario.checks):
            if check.needs_fault:
                yield src.problem(
                    ("scenarios", index, "checks", c, "type"),
                    f"a recovery check, but scenario {scenario.id!r} has no fault and no fault "
                    "profile plays it: there is nothing to recover from; fix: add a fault to the "
                    "scenario (faults:) or list it in a profile's scenarios (faults: profiles:)",
                )
    for loose in unloaded:
        for k, fault in loose.faults:
            where = ("scenarios", loose.index, "faults", k)
            yield from _link(fault.link, deps, loose.source, where)
            yield from _window(fault, loose.source, where, loose.id, loose.turns)


def _link(name: str, deps: list[str] | None, src: Source, at: PathKey) -> Iterator[Problem]:
    if deps is not None and name not in deps:
        yield src.problem(
            (*at, "link"),
            f"link {name!r} is not a dependency of this suite{did_you_mean(name, deps)}; "
            f"dependencies: {', '.join(deps) or 'none'}",
        )


def _window(
    fault: Fault, src: Source, at: PathKey, scenario_id: str | None, turns: int | None
) -> Iterator[Problem]:
    past = None if turns is None else past_turns(fault, turns)
    if past is not None:
        key, said, fix = past
        yield src.problem(
            (*at, key), f"{said}, but scenario {scenario_id!r} has {turns} turn(s): {fix}"
        )


def _manifest_faults(
    manifest: m.SuiteFile,
    manifest_src: Source,
    scenarios: list[tuple[m.Scenario, Source, int]],
    unloaded: tuple[Unloaded, ...],
    unread: bool,
) -> Iterator[Problem]:
    deps = sorted(manifest.environment.dependencies)
    ids = [sc.id for sc, _, _ in scenarios]
    failed = [u.id for u in unloaded if u.id is not None]
    unknown = unread or any(u.id is None for u in unloaded)  # a scenario whose id is unknown
    turns = [(sc.id, turn_count(sc)) for sc, _, _ in scenarios]
    turns += [(u.id, u.turns) for u in unloaded if u.id is not None]
    for name, profile in manifest.faults.profiles.items():
        at: PathKey = ("faults", "profiles", name)
        for k, scenario_id in enumerate(profile.scenarios):
            if scenario_id not in ids and scenario_id not in failed and not unknown:
                yield manifest_src.problem(
                    (*at, "scenarios", k),
                    f"no scenario {scenario_id!r}{did_you_mean(scenario_id, ids + failed)}; "
                    "scenarios: " + ", ".join(ids + failed),
                )
        played = [(i, n) for i, n in turns if not profile.scenarios or i in profile.scenarios]
        for k, fault in enumerate(profile.faults):
            yield from _link(fault.link, deps, manifest_src, (*at, "faults", k))
            misses = [
                (count, scenario_id, past)
                for scenario_id, count in played
                if count is not None and (past := past_turns(fault, count)) is not None
            ]
            if len(misses) == 1:
                count, scenario_id, _ = misses[0]
                yield from _window(fault, manifest_src, (*at, "faults", k), scenario_id, count)
            elif misses:  # said once, at the key the fewest turns need fixed, naming them all
                count, _, (key, said, fix) = min(misses, key=lambda m: m[0])
                names = ", ".join(f"{i!r} ({n})" for n, i, _ in misses)
                yield manifest_src.problem(
                    (*at, "faults", k, key),
                    f"{said}, but {len(misses)} scenarios this profile plays have fewer turns, "
                    f"{names}: {fix}",
                )
