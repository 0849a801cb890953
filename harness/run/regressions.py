"""Regression cases: every divergence a hunt found, saved as a file and replayed forever.

The store is a folder of YAML files (`scenarios/<suite>/regressions/`) and needs
only save, fetch (through the suite loader, which validates them) and delete,
like hypothesis's example database. A file holds the minimal input, the seed,
the requirement it broke and the evidence, its root cause (`shape`) with the other
cases that failed the same way (`members`), and, for a failure that did not come back on
every replay, its observed rate and the trials to replay it with (`flaky`); `harness run`
replays every one of them first and reports them apart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

import harness
from harness.core import Case, CaseResult, CheckResult, FailureKey, FailureShape, to_jsonable
from harness.core.types import TurnRecord
from harness.errors import Problem
from harness.generate import spaces
from harness.generate.cases import Rows, make_values, seeded
from harness.generate.values import ValueGenerator
from harness.redact import redact
from harness.run import drift, saved
from harness.spec import models as m
from harness.spec.clock import parse_duration
from harness.spec.loader import PathKey, Source, format_loc
from harness.spec.relative import DateEdge, DaysAgo, DstMoment, TimeEdge
from harness.spec.suite import REGRESSIONS_DIR, Suite

Values = dict[str, Any]

PREFIX = "regression:"


CONFIDENCE = 0.95  # a flaky failure is replayed until it shows with this probability
BOUND_Z = 1.2816  # z of a one-sided 90% bound: the rate it is replayed for is that cautious
MAX_FLAKY_TRIALS = 50  # ...but never more trials than this per run


def known_signatures(suite: Suite) -> set[str]:
    """The per-scenario failure identities (harness.core.FailureKey, as text) the saved cases
    cover where their root cause was not saved: every check a file saved before root-cause
    grouping (without a `shape`) broke, and the other checks a file saved before `shapes`
    broke (its own check is known by its `shape`)."""
    return {
        s
        for r in suite.regressions
        if not r.shapes
        for s in (r.signature, *r.breaks)
        if not r.shape or s != r.signature
    }


def known_shapes(suite: Suite) -> set[str]:
    """The root causes (harness.core.FailureShape, as text) the saved cases cover: each file's
    own and that of every other check its case broke."""
    return {s for r in suite.regressions for s in (r.shape, *r.shapes) if s}


def cautious_rate(failures: int, replays: int) -> float:
    """How often a flaky failure fails, estimated cautiously: the lower one-sided 90% Wilson
    bound over the confirming replays. The run that found it is left out (it was chosen for
    failing, so counting it overstates the rate); one seen by that run alone gets 0."""
    k, n = failures - 1, replays - 1
    if n <= 0 or k <= 0:
        return 0.0
    p, z2 = k / n, BOUND_Z * BOUND_Z
    center = p + z2 / (2 * n)
    margin = BOUND_Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, (center - margin) / (1 + z2 / n))


def flaky_trials(failures: int, replays: int) -> int:
    """Trials that see the failure at least once with probability CONFIDENCE if it fails as
    often as its cautious rate: ceil(log(1 - CONFIDENCE) / log(1 - rate)), capped (the cap
    when there is no estimate)."""
    if failures >= replays:
        return 1
    rate = cautious_rate(failures, replays)
    if rate <= 0:
        return MAX_FLAKY_TRIALS
    needed = math.ceil(math.log(1 - CONFIDENCE) / math.log(1 - rate))
    return max(1, min(MAX_FLAKY_TRIALS, needed))


def chance_to_see(rate: float, trials: int) -> float:
    """The probability that `trials` trials show a failure of `rate` at least once."""
    return 1 - (1 - rate) ** trials


def flaky_words(flaky: m.Flaky, trials: int) -> str:
    """What replaying a flaky case `trials` times is worth, said plainly."""
    found = f"failed {flaky.failures} of {flaky.replays} runs when found"
    rate = cautious_rate(flaky.failures, flaky.replays)
    if rate <= 0:
        return f"{found}: replayed {trials} times (too few failures to estimate its rate)"
    return (
        f"{found}: replayed {trials} times, a {chance_to_see(rate, trials):.0%} chance to see "
        f"it again if it fails in at least {rate:.0%} of runs (its rate, estimated cautiously)"
    )


def trials_of(suite: Suite) -> dict[str, m.Flaky]:
    """Each flaky regression case's stored rate and trials, by case id."""
    return {PREFIX + r.id: r.flaky for r in suite.regressions if r.flaky is not None}


def _literal(value: Any) -> Any:
    """A stored value back as a case value: relative dates stay relative."""
    if isinstance(value, m.DaysAgoGen) and isinstance(value.days_ago, int):
        return DaysAgo(value.days_ago)
    if isinstance(value, m.DateEdgeGen) and isinstance(value.date_edge, str):
        return DateEdge(value.date_edge)
    if isinstance(value, m.TimeEdgeGen) and isinstance(value.time_edge, str):
        assert isinstance(value.timezones, str)
        return TimeEdge(value.time_edge, value.timezones, value.days_ago)
    if isinstance(value, m.DurationGen) and isinstance(value.duration, str):
        return parse_duration(value.duration)
    if isinstance(value, m.MomentGen) and isinstance(value.in_, str):
        return spaces.moment(value, parse_duration(value.in_))
    one_dst = isinstance(value, m.DstGen) and isinstance(value.dst, str)
    if one_dst and isinstance(value.timezones, str):
        return DstMoment(value.dst, value.timezones, value.which)
    if isinstance(value, m.Model):
        keys = list(value.model_dump(by_alias=True, exclude_unset=True))
        kind = keys[0] if keys else "generator"
        raise ValueError(
            f"a regression case holds concrete values, not a value generator ({{{kind}: ...}}); "
            "write the value the case used"
        )
    return value


class Unreadable(Exception):
    """A regression file that cannot be replayed; carries where and why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def decoded(reg: m.RegressionFile, src: Source | None = None) -> tuple[Values, Rows, list[Rows]]:
    """A file's vars, setup and variant setups as the case had them (saved.py reads both
    formats); an unreadable value raises Unreadable with its position."""
    where: list[str | int] = []

    def read(section: str, value: Any, *loc: str | int) -> Any:
        where[:] = [section, *loc]
        return saved.value(value, saved.type_at(reg.types, (section, *loc)), reg.format, _literal)

    try:
        values = {k: read("vars", v, k) for k, v in reg.vars.items()}
        setup = {
            r: {c: read("setup", v, r, c) for c, v in cols.items()} for r, cols in reg.setup.items()
        }
        variants = [
            {
                r: {c: read("variant_setups", v, i, r, c) for c, v in cols.items()}
                for r, cols in rows.items()
            }
            for i, rows in enumerate(reg.variant_setups)
        ]
    except (ValueError, TypeError, ValidationError) as exc:
        raise Unreadable(_problem(reg, src, tuple(where), saved.reason(exc))) from None
    return values, setup, variants


def _problem(reg: m.RegressionFile, src: Source | None, loc: PathKey, message: str) -> Problem:
    if src is not None:
        return src.problem(loc, message)
    return Problem(f"{REGRESSIONS_DIR}/{reg.id}.yaml", 1, 1, format_loc(loc), message)


def regression_case(
    reg: m.RegressionFile,
    scenario: m.Scenario | None = None,
    params: dict[str, Any] | None = None,
    src: Source | None = None,
) -> Case:
    """The saved case; a var the scenario declares that the file predates is generated from
    the saved seed, so a scenario may grow without breaking its regression cases."""
    values, setup, variants = decoded(reg, src)
    if scenario is not None and set(scenario.vars) - set(values):
        gen = ValueGenerator(reg.seed)
        try:
            values, _ = make_values(
                scenario, params or {}, seeded(gen, 0), given_vars=values, given_setup=setup
            )
        except (ValueError, TypeError, ArithmeticError) as exc:  # TemplateError included
            missing = ", ".join(sorted(set(scenario.vars) - set(reg.vars)))
            raise Unreadable(
                _problem(
                    reg,
                    src,
                    ("vars",),
                    f"the scenario's new var(s) {missing} cannot be "
                    f"made from the saved values: {exc}",
                )
            ) from None
    return Case(
        id=PREFIX + reg.id,
        scenario=reg.scenario,
        index=0,
        seed=reg.seed,
        vars=values,
        setup=setup,
        origin="regression",
        persona=reg.persona,
        persona_seed=reg.persona_seed,
        variant_setups=variants,
        target=targets(reg),
        requirement=reg.requirement,
        shape=reg.shape or None,
        **point(reg, scenario),
    )


def point(reg: m.RegressionFile, scenario: m.Scenario | None) -> dict[str, Any]:
    """A drift case's point as its file saved it (a file without one: the scenario's
    shortest length, as harness run plays it); nothing for other scenarios."""
    if scenario is None or scenario.drift is None:
        return {}
    if reg.length is None:
        length, position = drift.shortest(scenario)
        return {"length": length, "position": reg.position or position}
    return {"length": reg.length, "position": reg.position or drift.START}


def targets(reg: m.RegressionFile) -> str:
    """The checks a regression case is judged by, comma-separated: the one it is named
    after, then every other check the same case broke when it was found. The case still
    fails while any of them does."""
    broke = [key.check_id for b in reg.breaks if (key := FailureKey.parse(b)) is not None]
    return ",".join(dict.fromkeys([reg.check, *broke]))


@dataclass(frozen=True)
class Known:
    """The regression cases a suite replays, and the files it cannot (each with why)."""

    cases: list[Case]
    unreadable: list[Problem]


def known(suite: Suite) -> Known:
    """Every saved regression case; a file that cannot be replayed is listed, not raised."""
    cases: list[Case] = []
    unreadable = list(suite.broken_regressions)
    for reg in suite.regressions:
        try:
            src = suite.regression_sources.get(reg.id)
            cases.append(regression_case(reg, suite.scenario(reg.scenario), suite.params, src))
        except Unreadable as exc:
            unreadable.append(exc.problem)
    return Known(cases, unreadable)


def regression_cases(suite: Suite) -> list[Case]:
    return known(suite).cases


EVIDENCE_CAP = 2000  # characters of one agent text kept in a file meant to be committed


def _evidence(value: Any) -> Any:
    """Agent text as a regression file keeps it: secrets redacted, long text capped."""
    if isinstance(value, str):
        text = redact(value)
        cut = len(text) - EVIDENCE_CAP
        return text if cut <= 0 else text[:EVIDENCE_CAP] + f" … [{cut} more characters]"
    if isinstance(value, dict):
        return {str(k): _evidence(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_evidence(v) for v in value[:50]]
    return value


def _sources(turns: list[TurnRecord]) -> dict[str, dict[int, str]]:
    """`turn_sources` of a conversation with turns not the script's own; else nothing."""
    sources = {t.index: _evidence(t.source) for t in turns if t.source}
    return {"turn_sources": sources} if sources else {}


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def save(
    suite: Suite,
    result: CaseResult,
    check: CheckResult,
    *,
    run_id: str,
    tried: int,
    shrunk: bool,
    members: list[m.RegressionMember] | None = None,
    flaky: m.Flaky | None = None,
    lengths: dict[str, int | None] | None = None,
) -> Path:
    """Write one regression case file per root cause; its id is stable for the same shape
    and representative. Saving it again (a new member seen) rewrites it."""
    sig = str(check.key(result.case.scenario))
    shape: FailureShape = result.shape(check)
    digest = hashlib.blake2s(str(shape).encode(), digest_size=4).hexdigest()
    rid = f"{_slug(check.requirements[0])}-{result.case.scenario}-{_slug(check.check_id)}-{digest}"
    folder = suite.root / REGRESSIONS_DIR
    folder.mkdir(exist_ok=True)
    case = result.case
    replies = [t.reply for t in result.observation.turns]
    document = {
        "id": rid,
        "requirement": check.requirements[0],
        "requirements": list(check.requirements),
        "scenario": case.scenario,
        "check": check.check_id,
        "signature": sig,
        "breaks": [str(k) for k in result.failing_keys()],
        "shape": str(shape),
        "shapes": [str(s) for s in dict.fromkeys(result.failing_shapes())],
        **({"members": [x.model_dump() for x in members]} if members else {}),
        **({"flaky": flaky.model_dump()} if flaky is not None else {}),
        "seed": case.seed,
        "format": 2,
        **saved.stored(case.vars, case.setup, case.variant_setups),
        "persona": case.persona,
        **({"persona_seed": case.persona_seed} if case.persona_seed else {}),
        **({"length": case.length, "position": case.position} if case.length is not None else {}),
        "evidence": {
            "verdict": check.verdict.value,
            "message": _evidence(check.message),
            "turns": [t.text for t in result.observation.turns],
            # where a turn came from when not the script (turn number -> `answer:<rules>`,
            # `filler:<pool>`, `remember`, `probe`): which rule answered what
            **_sources(result.observation.turns),
            "replies": _evidence(replies),
            "expected": _evidence(to_jsonable(check.expected)),
            "found": _evidence(to_jsonable(check.found)),
            "rows": to_jsonable(result.observation.entities),  # the setup rows as inserted
        },
        "found": {
            "run_id": run_id,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "harness_version": harness.__version__,
            "cases_tried": tried,
            "shrunk": shrunk,
            **(lengths or {}),
        },
    }
    also = f" and {len(members)} other case(s) listed under members" if members else ""
    seen = (
        f"# Flaky: {flaky_words(flaky, flaky.trials)}; every run replays it so.\n"
        if flaky is not None
        else ""
    )
    header = (
        f"# Regression case found by `harness hunt` (run {run_id}): {check.requirements[0]} "
        f"diverged in scenario {case.scenario}, check {check.check_id}{also}.\n{seen}"
        f"{_length_words(case, lengths)}"
        "# `harness run` replays it first on every run; `harness replay "
        f"{PREFIX}{rid}` replays it alone. Delete this file to forget it.\n"
    )
    path = folder / f"{rid}.yaml"
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    path.write_text(header + body, encoding="utf-8")
    return path


def _length_words(case: Case, lengths: dict[str, int | None] | None) -> str:
    """The header line of a drift case: the point it replays at and how it was found."""
    if case.length is None:
        return ""
    where = f"length {case.length}, position {case.position or drift.START}"
    if not lengths or lengths.get("found_at_length") is None:
        return f"# A drift case: replayed at {where}.\n"
    passed = lengths.get("longest_passing_length")
    below = f"it passed at length {passed}" if passed is not None else "no shorter length was tried"
    return (
        f"# A drift case, shrunk to the shortest conversation that still fails: {where} "
        f"(found at length {lengths['found_at_length']}; {below}).\n"
    )


def delete(suite: Suite, rid: str) -> bool:
    path = suite.root / REGRESSIONS_DIR / f"{rid.removeprefix(PREFIX)}.yaml"
    if path.is_file():
        path.unlink()
        return True
    return False
