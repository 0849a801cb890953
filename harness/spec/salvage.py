"""What of a file that failed validation can still be checked against the rest of the suite,
so that one pass of `harness validate` says every problem it can find: the scenarios of a
scenario file that are valid on their own; a scenario's faults that are valid on their own
(its window against its turns, its link); suite.yaml without the faults and load profiles
that are wrong (the rest of them checked as if it were valid). Nothing here is run: it only
feeds the cross-file checks, and the suite is refused for the problems already found."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from harness.errors import Problem
from harness.spec.load import LoadFault
from harness.spec.loader import Source, format_loc, validate_model
from harness.spec.models import Scenario, SuiteFile
from harness.spec.models.base import REQUIREMENT_ID
from harness.spec.models.faults import Fault

ID = re.compile(REQUIREMENT_ID)
#: rounds of pruning suite.yaml (each drops the faults or profiles the last one refused)
ROUNDS = 4


@dataclass(frozen=True)
class Unloaded:
    """A scenario that failed validation, as far as it can still be checked: its id and
    scripted turns as written, each of its faults that is valid on its own, and the
    requirement ids its checks name."""

    id: str | None
    turns: int | None
    faults: tuple[tuple[int, Fault], ...]
    source: Source
    index: int
    #: each check's requirement ids as written (check index, ids), when they are a list
    requirements: tuple[tuple[int, tuple[str, ...]], ...] = ()


def salvage_scenarios(
    src: Source,
) -> tuple[list[tuple[Scenario, Source, int]], list[Unloaded]]:
    """The scenarios of a file that failed validation that are valid on their own, and the
    others as `Unloaded`."""
    items = src.data.get("scenarios") if isinstance(src.data, dict) else None
    loaded: list[tuple[Scenario, Source, int]] = []
    unloaded: list[Unloaded] = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        try:
            loaded.append((Scenario.model_validate(item), src, i))
            continue
        except ValidationError:
            pass
        if not isinstance(item, dict):
            continue
        turns = item.get("turns")
        scripted = (
            len(turns)
            if isinstance(turns, list) and turns and not {"drift", "user"} & set(item)
            else None
        )
        raw = item.get("faults")
        unloaded.append(
            Unloaded(
                item["id"] if isinstance(item.get("id"), str) else None,
                scripted,
                tuple(_valid_faults(raw if isinstance(raw, list) else [])),
                src,
                i,
                _requirement_ids(item.get("checks")),
            )
        )
    return loaded, unloaded


def _requirement_ids(checks: Any) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """Each check's `requirements` that is a list of well-formed ids (anything else is its
    shape's problem, already said)."""
    out = []
    for c, check in enumerate(checks if isinstance(checks, list) else []):
        ids = check.get("requirements") if isinstance(check, dict) else None
        if isinstance(ids, list) and all(isinstance(i, str) and ID.match(i) for i in ids):
            out.append((c, tuple(ids)))  # an id of the wrong form is the shape's problem
    return tuple(out)


def _valid_faults(raw: list[Any]) -> list[tuple[int, Fault]]:
    """Each fault valid on its own; of the others, their link and window as written, when
    those are valid (a toxicity over 1 does not make a window past the last turn right)."""
    out = []
    for k, item in enumerate(raw):
        try:
            out.append((k, Fault.model_validate(item)))
        except ValidationError:
            kept = stand_in("faults", item)
            if kept.get("link") != "_" and any(w in kept for w in WINDOW["faults"]):
                out.append((k, Fault.model_validate(kept)))
    return out


def salvage_suite(
    src: Source, said: list[Problem]
) -> tuple[SuiteFile | None, list[Problem], set[str]]:
    """suite.yaml with each fault it refused in a fault or load profile replaced by a stand-in
    (and a profile refused otherwise dropped), when the rest is valid; the problems that only
    show once those are gone (a load window past its profile's end, hidden by a wrong window
    beside it); and the keys of the stand-ins, where no later problem is said. None when a
    problem lies elsewhere (its environment, its defaults): nothing is checked against it."""
    data = copy.deepcopy(src.data)
    if not isinstance(data, dict) or "extends" in data:
        return None, [], set()
    known = {(p.line, p.col, p.message) for p in said}
    more: list[Problem] = []
    masked: set[str] = set()
    for _ in range(ROUNDS):
        try:
            return SuiteFile.model_validate(data), more, masked
        except ValidationError as exc:
            errors = [tuple(e["loc"]) for e in exc.errors()]
        _, problems = validate_model(_with(src, data), SuiteFile)
        for problem in problems:
            if (problem.line, problem.col, problem.message) not in known and not hidden(
                problem, masked
            ):
                more.append(problem)
                known.add((problem.line, problem.col, problem.message))
        if not _prune(data, errors, masked):
            break
    return None, more, masked


def hidden(problem: Problem, masked: set[str]) -> bool:
    """A problem at a stand-in (or in a dropped profile): not the suite's."""
    return any(problem.key == m or problem.key.startswith((m + ".", m + "[")) for m in masked)


def _with(src: Source, data: Any) -> Source:
    return Source(src.path, data, src.display, src.values, src.keys, src.text, src.spans)


#: a fault that changes nothing; its link `_` is checked against nothing (its key is masked)
_STAND_IN: dict[str, dict[str, Any]] = {
    "faults": {"link": "_", "toxic": "latency"},
    "load": {"link": "_", "toxic": "latency", "at": 0, "for": 0.001},
}
#: the keys of a fault's window, kept in its stand-in when they are valid
WINDOW = {"faults": ("from_turn", "to_turn", "after_turn", "for"), "load": ("at", "for")}


def stand_in(section: str, raw: Any) -> dict[str, Any]:
    """A valid fault in place of `raw` (a fault or load window refused for its toxic): its
    link and window as written when they are valid, so they are still checked (a link that is
    no dependency, a window past the last turn or the profile's end); else the inert ones."""
    base = dict(_STAND_IN[section])
    if not isinstance(raw, dict):
        return base
    model = Fault if section == "faults" else LoadFault
    best = base
    for keys in (("link", *WINDOW[section]), WINDOW[section], ("link",)):
        kept = {**base, **{k: raw[k] for k in keys if k in raw}}
        try:
            model.model_validate(kept)
        except ValidationError:
            continue
        best = kept
        break
    return best


def _prune(data: dict[str, Any], errors: list[tuple[Any, ...]], masked: set[str]) -> bool:
    """Replace each fault an error lies in by a stand-in, else drop the profile; False when
    an error lies elsewhere (then the file cannot be checked further) or nothing changed."""
    changed = False
    for loc in errors:
        if not (len(loc) >= 3 and loc[0] in ("faults", "load") and loc[1] == "profiles"):
            return False
        section, name = loc[0], loc[2]
        rest = loc[3:]
        if section == "load" and len(rest) >= 2 and rest[1] == "faults":
            rest = rest[1:]  # the union tag pydantic puts in the loc (the load's shape)
        profiles = data[section]["profiles"]
        profile = profiles.get(name)
        faults = profile.get("faults") if isinstance(profile, dict) else None
        if len(rest) >= 2 and rest[0] == "faults" and isinstance(rest[1], int):
            key = format_loc((section, "profiles", name, "faults", rest[1]))
            if key + ".toxic" in masked or not isinstance(faults, list) or rest[1] >= len(faults):
                continue  # stood in already (each of its problems is an error of its own)
            faults[rest[1]] = stand_in(section, faults[rest[1]])
            if faults[rest[1]]["link"] == "_":
                masked.add(key + ".link")
            masked.add(key + ".toxic")  # the rest of its keys are as written
            changed = True
        elif name in profiles:
            whole = format_loc((section, "profiles", name))
            if section == "faults" and whole not in masked:
                # kept as the scenarios it plays (a recovery check there has a fault), checked
                # against nothing else; all scenarios when they are not plain names
                played = profile.get("scenarios") if isinstance(profile, dict) else None
                plain = isinstance(played, list) and all(isinstance(i, str) for i in played)
                profiles[name] = {
                    "faults": [dict(_STAND_IN[section])],
                    "scenarios": played if plain else [],
                }
            else:
                profiles.pop(name)
            masked.add(whole)
            changed = True
    return changed
