"""One record's rows of the results (one per check; frame.py's columns): from a typed record,
or from a trial record read as plain data (`plain.plain_trial`: exactly what the typed record
would give, so its rows are the same, without validating it into the types or writing its
parts back to plain data)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from harness.core.failures import Failure
from harness.core.types import SWEEP_CASE, Observation, as_data, dumps
from harness.runlog.models import AnyManifest, SweepRecord, TrialRecord

#: one row of the results: a column name to its value (frame.COLUMNS, in that order)
Row = dict[str, Any]

_SWEEP: dict[str, Any] = {
    "case_id": SWEEP_CASE,
    "scenario": SWEEP_CASE,
    "origin": "invariant-sweep",
    "target": None,
    "own_requirement": None,
    "own_shape": None,
}


def _jsonable(value: Any) -> Any:
    """A value as plain JSON data. Records read from a folder hold JSON data already; a live
    value (a Decimal, a date) becomes the text the record would have held."""
    if type(value) in _PLAIN or isinstance(value, str | int | float | bool | dict | list):
        return value
    return orjson.loads(dumps(value))


_PLAIN = frozenset({type(None), str, int, float, bool, dict, list})


def record_rows(
    rec: TrialRecord | SweepRecord | dict[str, Any], manifest: AnyManifest
) -> list[Row]:
    """One record's rows (frame.results_rows), one per check; `rec` typed, or a trial record
    as plain data that `plain.plain_trial` accepted."""
    if type(rec) is dict:
        return _plain_rows(rec, manifest)
    if isinstance(rec, SweepRecord):
        common: dict[str, Any] = {
            **_SWEEP,
            "trial": rec.attempt,
            "seed": "0",
            "session_id": "-",
            "turns": [],
            "entities": {},
            "vars": {},
            "trial_vars": {},
            "session": {},
            "calls": [],
            "faults": [],
            "case_error": None,
            "failure_kind": None,
            "duration_ms": 0.0,
            "started_at": "",
        }
    else:
        assert isinstance(rec, TrialRecord)
        case, obs = rec.case, rec.observation
        common = {
            "case_id": case.id,
            "scenario": case.scenario,
            "origin": case.origin,
            "target": case.target,
            "own_requirement": case.requirement,
            "own_shape": case.shape,
            "trial": rec.trial,
            "seed": str(case.seed),
            "session_id": obs.session_id,
            "turns": as_data(obs.turns),
            "entities": _jsonable(obs.entities),
            "vars": _jsonable(case.vars),
            "trial_vars": _jsonable(obs.vars),
            "session": _jsonable(obs.session),
            "calls": _jsonable(obs.calls),
            "faults": as_data(obs.faults) if obs.faults else [],
            "case_error": None if obs.error is None else str(obs.error),
            "failure_kind": None if obs.error is None else obs.error.kind.value,
            "duration_ms": float(obs.duration_ms or 0.0),
            "started_at": obs.started_at,
        }
    # what it did on the way is evidence: kept on the rows that did not pass (a trace of
    # many spans copied onto every passing check made results.parquet 5x larger)
    passed: dict[str, Any] = {"trace": {}, "requests": []}
    failed = passed
    verdicts = [c.verdict.value for c in rec.checks]  # an enum's value is slow to read
    if isinstance(rec, TrialRecord) and any(v != "pass" for v in verdicts):
        obs = rec.observation
        requests = as_data(obs.requests) if obs.requests else []
        failed = {"trace": _trace(obs), "requests": requests}
    checks = (
        (c.check_id, c.check_type, c.category, ",".join(c.requirements), v, c.message,
         _jsonable(c.expected), _jsonable(c.found), c.cause and c.cause.value)
        for c, v in zip(rec.checks, verdicts, strict=True)
    )  # fmt: skip
    return _rows(manifest, common, passed, failed, checks)


#: the texts rows repeat (a scenario, a check's id, a verdict...) as one object each, as
#: pydantic's string cache made them: orjson makes a new one per record, and the rows of a
#: 100,000-case run held 90 MB more (cleared when full: bounded whatever the texts)
_SHARED: dict[str, str] = {}
_SHARED_MOST = 16_384


def _plain_rows(data: dict[str, Any], manifest: AnyManifest) -> list[Row]:
    """`record_rows` of a trial as plain data: every value as the typed record gives it."""
    case, obs = data["case"], data["observation"]
    error = obs["error"]
    if len(_SHARED) > _SHARED_MOST:
        _SHARED.clear()
    shared = _SHARED.setdefault
    common = {
        "case_id": case["id"],
        "scenario": shared(case["scenario"], case["scenario"]),
        "origin": shared(case["origin"], case["origin"]),
        "target": case["target"],
        "own_requirement": case["requirement"],
        "own_shape": case["shape"],
        "trial": data["trial"],
        "seed": str(case["seed"]),
        "session_id": obs["session_id"],
        "turns": obs["turns"],
        "entities": obs["entities"],
        "vars": case["vars"],
        "trial_vars": obs["vars"],
        "session": obs["session"],
        "calls": obs["calls"],
        "faults": obs["faults"],
        "case_error": None if error is None else str(Failure.from_stored(error)),
        "failure_kind": None if error is None else error["kind"],
        "duration_ms": float(obs["duration_ms"] or 0.0),
        "started_at": shared(obs["started_at"], obs["started_at"]),
    }
    passed: dict[str, Any] = {"trace": {}, "requests": []}
    failed = passed
    stored = data["checks"]
    if any(c["verdict"] != "pass" for c in stored):
        trace: dict[str, Any] = {}
        if obs["trace_id"] is not None:
            trace = {
                "id": obs["trace_id"],
                "spans": obs["spans"],
                "dropped": obs["spans_dropped"],
                "stray": obs["spans_stray"],
                "late": obs["spans_late"],
            }
        failed = {"trace": trace, "requests": obs["requests"]}
    checks = (
        (shared(c["check_id"], c["check_id"]), shared(c["check_type"], c["check_type"]),
         shared(c["category"], c["category"]), ",".join(c["requirements"]),
         shared(c["verdict"], c["verdict"]), shared(c["message"], c["message"]),
         c["expected"], c["found"], c["cause"])
        for c in stored
    )  # fmt: skip
    return _rows(manifest, common, passed, failed, checks)


def _rows(
    manifest: AnyManifest,
    common: dict[str, Any],
    passed: dict[str, Any],
    failed: dict[str, Any],
    checks: Iterable[tuple[str, str, str, str, str, str, Any, Any, str | None]],
) -> list[Row]:
    """A row per check; an error's own cause (a check that raised) names its failure kind."""
    run_id, suite, kind = manifest.run_id, manifest.suite, common["failure_kind"]
    return [
        {
            "run_id": run_id,
            "suite": suite,
            **common,
            **(passed if verdict == "pass" else failed),
            "check_id": check_id,
            "check_type": check_type,
            "category": category,
            "requirements": requirements,
            "verdict": verdict,
            "message": message,
            "expected": expected,
            "found": found,
            "failure_kind": cause or kind,
        }
        for check_id, check_type, category, requirements, verdict, message, expected, found,
        cause in checks
    ]  # fmt: skip


def _trace(obs: Observation) -> dict[str, Any]:
    """The case's trace as the evidence reads it; {} when the harness sent none."""
    if obs.trace_id is None:
        return {}
    return {
        "id": obs.trace_id,
        "spans": as_data(obs.spans) if obs.spans else [],
        "dropped": obs.spans_dropped,
        "stray": obs.spans_stray,
        "late": obs.spans_late,
    }
