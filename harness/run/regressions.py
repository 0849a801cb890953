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
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

import harness
from harness.core import Case, CaseResult, CheckResult, FailureKey, FailureShape, to_jsonable
from harness.generate.values import ValueGenerator
from harness.redact import redact
from harness.spec import models as m
from harness.spec.relative import DateEdge, DaysAgo, Relative, TimeEdge
from harness.spec.suite import REGRESSIONS_DIR, Suite
from harness.spec.template import format_value

PREFIX = "regression:"


CONFIDENCE = 0.95  # a flaky failure is replayed until it shows with this probability
MAX_FLAKY_TRIALS = 50  # ...but never more trials than this per run


def known_signatures(suite: Suite) -> set[str]:
    """The per-scenario failure identities (harness.core.FailureKey, as text) the saved cases
    cover: what files saved before root-cause grouping (without a `shape`) are known by."""
    return {s for r in suite.regressions if not r.shape for s in (r.signature, *r.breaks)}


def known_shapes(suite: Suite) -> set[str]:
    """The root causes (harness.core.FailureShape, as text) the saved cases cover."""
    return {r.shape for r in suite.regressions if r.shape}


def flaky_trials(failures: int, replays: int) -> int:
    """Trials that see a failure of observed rate failures/replays at least once with
    probability CONFIDENCE: ceil(log(1 - CONFIDENCE) / log(1 - rate)), capped."""
    rate = failures / replays
    if rate >= 1:
        return 1
    needed = math.ceil(math.log(1 - CONFIDENCE) / math.log(1 - rate))
    return max(1, min(MAX_FLAKY_TRIALS, needed))


def chance_to_see(rate: float, trials: int) -> float:
    """The probability that `trials` trials show a failure of `rate` at least once."""
    return 1 - (1 - rate) ** trials


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
    if isinstance(value, m.Model):
        raise ValueError(f"a regression case holds concrete values, not {type(value).__name__}")
    return value


def _rows(setup: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e: {c: _literal(v) for c, v in cols.items()} for e, cols in setup.items()}


def regression_case(
    reg: m.RegressionFile, scenario: m.Scenario | None = None, params: dict[str, Any] | None = None
) -> Case:
    """The saved case; a var the scenario declares that the file predates is generated from
    the saved seed, so a scenario may grow without breaking its regression cases."""
    values = {k: _literal(v) for k, v in reg.vars.items()}
    if scenario is not None and set(scenario.vars) - set(values):
        gen = ValueGenerator(reg.seed)
        context: dict[str, Any] = {"params": params or {}, "vars": {}}
        for name, spec in scenario.vars.items():
            context["vars"][name] = values[name] if name in values else gen.value(spec, context)
        values = context["vars"]
    return Case(
        id=PREFIX + reg.id,
        scenario=reg.scenario,
        index=0,
        seed=reg.seed,
        vars=values,
        setup=_rows(reg.setup),
        origin="regression",
        persona=reg.persona,
        persona_seed=reg.persona_seed,
        variant_setups=[_rows(s) for s in reg.variant_setups],
        target=targets(reg),
    )


def targets(reg: m.RegressionFile) -> str:
    """The checks a regression case is judged by, comma-separated: the one it is named
    after, then every other check the same case broke when it was found. The case still
    fails while any of them does."""
    broke = [key.check_id for b in reg.breaks if (key := FailureKey.parse(b)) is not None]
    return ",".join(dict.fromkeys([reg.check, *broke]))


def regression_cases(suite: Suite) -> list[Case]:
    return [regression_case(r, suite.scenario(r.scenario), suite.params) for r in suite.regressions]


def _stored(value: Any) -> Any:
    """A case value as YAML keeps it: relative dates as {days_ago: N}, numbers as text."""
    if isinstance(value, Relative):
        return value.stored()
    if isinstance(value, dict):
        return {str(k): _stored(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_stored(v) for v in value]
    if isinstance(value, Decimal | dt.date | dt.datetime):
        return format_value(value)
    return value


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
        **({"members": [x.model_dump() for x in members]} if members else {}),
        **({"flaky": flaky.model_dump()} if flaky is not None else {}),
        "seed": case.seed,
        "vars": _stored(case.vars),
        "setup": _stored(case.setup),
        **({"variant_setups": _stored(case.variant_setups)} if case.variant_setups else {}),
        "persona": case.persona,
        **({"persona_seed": case.persona_seed} if case.persona_seed else {}),
        "evidence": {
            "verdict": check.verdict.value,
            "message": _evidence(check.message),
            "turns": [t.text for t in result.observation.turns],
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
        },
    }
    also = f" and {len(members)} other case(s) listed under members" if members else ""
    seen = (
        f"# Flaky: failed {flaky.failures} of {flaky.replays} replays when found; every run "
        f"replays it {flaky.trials} times ({chance_to_see(flaky.rate, flaky.trials):.0%} "
        "chance to see it again at that rate).\n"
        if flaky is not None
        else ""
    )
    header = (
        f"# Regression case found by `harness hunt` (run {run_id}): {check.requirements[0]} "
        f"diverged in scenario {case.scenario}, check {check.check_id}{also}.\n{seen}"
        "# `harness run` replays it first on every run; `harness replay "
        f"{PREFIX}{rid}` replays it alone. Delete this file to forget it.\n"
    )
    path = folder / f"{rid}.yaml"
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    path.write_text(header + body, encoding="utf-8")
    return path


def delete(suite: Suite, rid: str) -> bool:
    path = suite.root / REGRESSIONS_DIR / f"{rid.removeprefix(PREFIX)}.yaml"
    if path.is_file():
        path.unlink()
        return True
    return False
