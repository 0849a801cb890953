"""Regression cases: every divergence a hunt found, saved as a file and replayed forever.

The store is a folder of YAML files (`scenarios/<suite>/regressions/`) and needs
only save, fetch (through the suite loader, which validates them) and delete,
like hypothesis's example database. A file holds the minimal input, the seed,
the requirement it broke and the evidence; `harness run` replays every one of
them first and reports them apart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

import harness
from harness.core import Case, CaseResult, CheckResult, FailureKey, to_jsonable
from harness.generate import spaces
from harness.generate.values import ValueGenerator
from harness.redact import redact
from harness.spec import models as m
from harness.spec.clock import parse_duration
from harness.spec.relative import DateEdge, DaysAgo, DstMoment, Relative, TimeEdge
from harness.spec.suite import REGRESSIONS_DIR, Suite
from harness.spec.template import format_value

PREFIX = "regression:"


def known_signatures(suite: Suite) -> set[str]:
    """The failure identities (harness.core.FailureKey, as text) the saved cases cover."""
    return {s for r in suite.regressions for s in (r.signature, *r.breaks)}


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
    if isinstance(value, dt.timedelta):  # read back as a duration, not as text
        return {"duration": format_value(value)}
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
    suite: Suite, result: CaseResult, check: CheckResult, *, run_id: str, tried: int, shrunk: bool
) -> Path:
    """Write one regression case file; its id is stable for the same signature."""
    sig = str(check.key(result.case.scenario))
    digest = hashlib.blake2s(sig.encode(), digest_size=4).hexdigest()
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
    header = (
        f"# Regression case found by `harness hunt` (run {run_id}): {check.requirements[0]} "
        f"diverged in scenario {case.scenario}, check {check.check_id}.\n"
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
