"""A drift scenario's points and conversations: which (length, position) pairs it is played
at, each point's case id, and the turns of one point (the script with filler before the
probe, the remembered turns placed at the point's position)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from harness.core import Case
from harness.generate.filler import Line
from harness.spec import models as m

START = "start"
_POINT = re.compile(r"^(?P<base>.+)@(?P<length>[0-9]+)(?:-(?P<position>start|middle|end))?$")


def points(scenario: m.Scenario) -> list[tuple[int, str]]:
    """Every (length, position) `harness drift` plays for a scenario (see `plan_points`; a
    scenario without remembered turns has no positions to compare)."""
    drift = scenario.drift
    if drift is None:
        return []
    at = drift.at if remembered(scenario) else None
    return plan_points(drift.lengths, drift.positions, at)


def plan_points(
    lengths: Sequence[int], positions: Sequence[str], at: int | None
) -> list[tuple[int, str]]:
    """Each length with the remembered turns at the start, then the other positions at the
    position length `at` (one of the lengths: its start is already on the curve)."""
    out = [(n, START) for n in lengths]
    if at is not None:
        out += [(at, p) for p in positions if p != START]
    return out


def shortest(scenario: m.Scenario) -> tuple[int, str]:
    """The one point a plain `harness run` plays."""
    assert scenario.drift is not None
    return min(scenario.drift.lengths), START


def remembered(scenario: m.Scenario) -> list[int]:
    return [i for i, t in enumerate(scenario.turns) if not isinstance(t, str) and t.remember]


def probe_at(scenario: m.Scenario) -> int:
    return next(i for i, t in enumerate(scenario.turns) if not isinstance(t, str) and t.probe)


def point_id(base: str, length: int, position: str) -> str:
    return f"{base}@{length}" + ("" if position == START else f"-{position}")


def split_id(cid: str) -> tuple[str, int | None, str | None]:
    """A case id's base and drift point: `scenario#2@16-middle` -> (scenario#2, 16, middle)."""
    match = _POINT.match(cid)
    if match is None:
        return cid, None, None
    return match["base"], int(match["length"]), match["position"] or START


def at_point(case: Case, length: int, position: str) -> Case:
    """The same case (same inputs) at another point."""
    base, _, _ = split_id(case.id)
    return dataclasses.replace(
        case, id=point_id(base, length, position), length=length, position=position
    )


def compose(
    scenario: m.Scenario, turns: Sequence[Any], filler: Sequence[Line], length: int, position: str
) -> list[tuple[Any, str | None]]:
    """One point's turns with where each came from: the script before the probe (the
    remembered turns at `position` among the `length` filler lines), then the probe on."""
    probe = probe_at(scenario)
    keep = remembered(scenario)
    before = [(turns[i], "remember" if i in keep else None) for i in range(probe)]
    lines: list[tuple[Any, str | None]] = [(line, f"filler:{line.pool}") for line in filler]
    lines = lines[:length]
    if position == START or not keep:
        head = before + lines
    else:
        moved = [item for item in before if item[1] != "remember"]
        cut = len(lines) // 2 if position == "middle" else len(lines)
        head = moved + lines[:cut] + [(turns[i], "remember") for i in keep] + lines[cut:]
    tail = [(turns[i], "probe" if i == probe else None) for i in range(probe, len(turns))]
    return head + tail


def facts(ctx: Mapping[str, Any]) -> list[Any]:
    """What the case knows that its checks may depend on (its vars, its rows, its user): a
    filler line that names one of them is passed over."""
    return [ctx.get("vars"), ctx.get("user")] + [
        v for k, v in ctx.items() if k not in _NOT_FACTS and isinstance(v, dict)
    ]


_NOT_FACTS = {"params", "vars", "user", "case", "session", "reply", "replies", "turn"}
