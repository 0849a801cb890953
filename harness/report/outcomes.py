"""Each case's outcome per trial, as reliability counts it (report/reliability.py): one mark
per trial (P pass, F fail, E error) per case and requirement, in the order reports list
cases (`natural_key`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from operator import itemgetter

from harness.report.frame import Row

SWEEP_ORIGIN = "invariant-sweep"  # the run-wide invariant sweep is no trial of any case
REGRESSION_ORIGIN = "regression"  # replayed known regressions: reported and gated apart
NOT_COUNTED = (SWEEP_ORIGIN, REGRESSION_ORIGIN)
_DIGITS = re.compile(r"(\d+)")  # the digit runs case ids sort by (`natural_key`)


def own_cases(rows: list[Row]) -> list[Row]:
    """The rows reliability counts: the run's own cases, without replayed known
    regressions (judged apart) and the run-wide invariant sweep (no case's trial)."""
    return [r for r in rows if r["origin"] not in NOT_COUNTED]


@lru_cache(maxsize=65536)
def natural_key(text: str) -> tuple[tuple[int, str], ...]:
    """Sort key that puts case#2 before case#13."""
    parts = _DIGITS.split(text)  # a list, not a generator: a run sorts 100,000 case ids
    return tuple([(0, p) if not p.isdigit() else (1, f"{int(p):012d}") for p in parts])


MARKS = {"pass": "P", "fail": "F", "error": "E"}  # one letter per trial in `outcomes`


def _mark(verdicts: Iterable[str]) -> str:
    """A trial's mark from its checks' verdicts: P only if all pass; an error outranks a fail."""
    seen = set(verdicts)
    return "P" if seen == {"pass"} else ("E" if "error" in seen else "F")


#: a trial's mark is its checks' worst (MARKS: a check's verdict as a mark)
_WORSE = {("P", "F"): "F", ("P", "E"): "E", ("F", "E"): "E"}


def trial_outcomes(rows: list[Row]) -> dict[tuple[str, str, str, str], str]:
    """Per (case, scenario, origin, requirement) one mark per trial in trial order, plus
    requirement "" for the whole case, over the cases reliability counts (`own_cases`): P
    only if every check passed; an error outranks a fail (`_mark`). In the order reports
    list them: case ids in natural order (`natural_key`), then requirement, then case id,
    then as the rows first had them."""
    marks: dict[tuple[str, str, str, str], dict[int, str]] = {}
    split: dict[object, tuple[str, ...]] = {}
    for row in own_cases(rows):
        case_id, scenario, origin = row["case_id"], row["scenario"], row["origin"]
        trial, requirements, verdict = row["trial"], row["requirements"], row["verdict"]
        if not (type(case_id) is str and type(scenario) is str and type(origin) is str):
            if missing(case_id) or missing(scenario) or missing(origin):
                continue  # as a groupby leaves out a key that is missing
            case_id, scenario, origin = str(case_id), str(scenario), str(origin)
        if missing(trial):
            continue
        mark = MARKS.get(verdict, "F")  # another verdict is no pass
        rids = split.get(requirements)  # each distinct text split once
        if rids is None:
            rids = split[requirements] = (
                "",
                *([] if missing(requirements) else str(requirements).split(",")),
            )
        for rid in rids:
            by_trial = marks.get((case_id, scenario, origin, rid))
            if by_trial is None:
                by_trial = marks[(case_id, scenario, origin, rid)] = {}
            had = by_trial.get(trial)
            if had is None:
                by_trial[trial] = mark
            elif had != mark:
                by_trial[trial] = _WORSE.get((had, mark), had)
    # one sort of the case ids' natural keys (a 100,000-case run has three times as many
    # keys), then each one's few keys by requirement and case id, stable
    alike: dict[tuple[tuple[int, str], ...], list[tuple[str, str, str, str]]] = {}
    last, natural = None, natural_key("")
    for key in marks:
        if key[0] != last:  # a case's keys come together
            last, natural = key[0], natural_key.__wrapped__(key[0])
        same = alike.get(natural)
        if same is None:
            alike[natural] = [key]
        else:
            same.append(key)
    out = {}
    for group in sorted(alike):
        same = alike[group]
        for key in same if len(same) == 1 else sorted(same, key=itemgetter(3, 0)):
            by_trial = marks[key]
            out[key] = (
                "".join(by_trial[t] for t in sorted(by_trial)) if len(by_trial) > 1
                else next(iter(by_trial.values()))
            )  # fmt: skip
    return out


def missing(value: object) -> bool:
    """None or NaN (a missing value in a frame's rows)."""
    return value is None or value != value  # None or NaN
