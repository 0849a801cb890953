"""A run's results as a pandas DataFrame, one row per case x check x trial, built from its
typed records only; and the same frame as `results.parquet`.

The evidence stays typed in the frame: `turns` is a list of turn mappings, `entities`,
`vars`, `session`, `calls`, `expected` and `found` are the stored JSON values, never text
to re-parse. In parquet they are Arrow's JSON type (`arrow.json`), which DuckDB and pyarrow
read as JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.core.types import SWEEP_CASE, Observation, as_data, dumps
from harness.runlog.models import AnyManifest, SweepRecord, TrialRecord

COLUMNS = [
    "run_id",
    "suite",
    "case_id",
    "scenario",
    "origin",
    "target",
    "own_requirement",  # a regression case's file's requirement and root cause; else None
    "own_shape",
    "trial",
    "seed",
    "session_id",
    "check_id",
    "check_type",
    "category",
    "requirements",  # comma-separated requirement ids
    "verdict",
    "message",
    "expected",
    "found",
    "turns",
    "entities",
    "vars",  # the case's inputs (as planned)
    "trial_vars",  # the vars the trial used (fresh unique values); {} before runs recorded them
    "session",  # what the conversation captured (masked); {} for the sweep
    "calls",  # the requests around its turns: {purpose, method, url, status, latency_ms, error}
    #: what it did on the way, on rows that did not pass (evidence; {} and [] on passes and
    #: when not traced): {id, spans, dropped, stray} of the trace the harness sent, and the
    #: requests stubbed services received for the trial (cases.jsonl keeps every trial's)
    "trace",
    "requests",
    #: the faults applied during the trial (FaultWindow: link, toxic, times, turns), [] none
    "faults",
    "case_error",  # what stopped the case, as text; None when nothing did
    "failure_kind",  # its kind (harness.core.FailureKind), None when nothing did
    "duration_ms",
    "started_at",
]
JSON_COLUMNS = (
    "expected",
    "found",
    "turns",
    "entities",
    "vars",
    "trial_vars",
    "session",
    "calls",
    "trace",
    "requests",
    "faults",
)
#: what a column missing from files written before it existed reads as, per row
EMPTY: dict[str, type[dict[str, Any]] | type[list[Any]]] = {
    "session": dict,
    "calls": list,
    "trial_vars": dict,
    "trace": dict,
    "requests": list,
    "faults": list,
}
TEXT_COLUMNS = [c for c in COLUMNS if c not in JSON_COLUMNS and c not in ("trial", "duration_ms")]


def _jsonable(value: Any) -> Any:
    """A value as plain JSON data. Records read from a folder hold JSON data already; a live
    value (a Decimal, a date) becomes the text the record would have held."""
    if value is None or isinstance(value, str | int | float | bool | dict | list):
        return value
    return orjson.loads(dumps(value))


def results_frame(
    records: Iterable[TrialRecord | SweepRecord], manifest: AnyManifest
) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for rec in records:
        if isinstance(rec, SweepRecord):
            common: dict[str, Any] = {
                "case_id": SWEEP_CASE,
                "scenario": SWEEP_CASE,
                "origin": "invariant-sweep",
                "target": None,
                "own_requirement": None,
                "own_shape": None,
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
        if isinstance(rec, TrialRecord) and any(c.verdict.value != "pass" for c in rec.checks):
            obs = rec.observation
            requests = as_data(obs.requests) if obs.requests else []
            failed = {"trace": _trace(obs), "requests": requests}
        for check in rec.checks:
            rows.append(
                {
                    "run_id": manifest.run_id,
                    "suite": manifest.suite,
                    **common,
                    **(passed if check.verdict.value == "pass" else failed),
                    "check_id": check.check_id,
                    "check_type": check.check_type,
                    "category": check.category,
                    "requirements": ",".join(check.requirements),
                    "verdict": check.verdict.value,
                    "message": check.message,
                    "expected": _jsonable(check.expected),
                    "found": _jsonable(check.found),
                }
            )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.astype({"trial": "int64", "duration_ms": "float64"})


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


def _json_array(values: list[Any]) -> pa.Array:
    # a trial's rows share its evidence (one object per trial, not a copy per check)
    done: dict[int, str] = {}
    texts = []
    for v in values:
        text = done.get(id(v)) if isinstance(v, dict | list) else None
        if text is None:
            text = orjson.dumps(v).decode()
            if isinstance(v, dict | list):
                done[id(v)] = text
        texts.append(text)
    storage = pa.array(texts, type=pa.string())
    return pa.ExtensionArray.from_storage(pa.json_(pa.string()), storage)


#: parquet's compression: zstd makes results.parquet of 100,000 echo cases 6 MB against
#: snappy's 13 MB (pyarrow's default), written as fast and read faster (benchmarks/RESULTS.md)
COMPRESSION: Literal["zstd"] = "zstd"


def save_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Any table as parquet (reliability.parquet, load.parquet)."""
    frame.to_parquet(path, index=False, compression=COMPRESSION)
    return path


def save_results(frame: pd.DataFrame, path: Path) -> Path:
    """The results frame as parquet (results.parquet), the evidence columns as Arrow JSON."""
    arrays = []
    for name in COLUMNS:
        column = frame[name]
        if name in JSON_COLUMNS:
            arrays.append(_json_array(column.tolist()))
        elif name == "trial":
            arrays.append(pa.array(column, type=pa.int64()))
        elif name == "duration_ms":
            arrays.append(pa.array(column, type=pa.float64()))
        else:
            values = column.tolist()  # plain objects: a Series yields each through pandas
            arrays.append(pa.array([None if _missing(v) else str(v) for v in values], pa.string()))
    pq.write_table(pa.table(arrays, names=COLUMNS), path, compression=COMPRESSION)
    return path


def read_parquet(path: Path) -> pd.DataFrame:
    """results.parquet back into the frame, the evidence decoded (also files written before
    the evidence was typed, which kept it as JSON text)."""
    table = pq.read_table(path)
    frame = table.to_pandas()
    for name in JSON_COLUMNS:
        if name in frame:
            frame[name] = [_decode(v) for v in frame[name]]
    for name in COLUMNS:
        if name not in frame:
            empty = EMPTY.get(name)
            frame[name] = None if empty is None else [empty() for _ in range(len(frame))]
    frame["duration_ms"] = pd.to_numeric(frame["duration_ms"], errors="coerce").fillna(0.0)
    frame["trial"] = pd.to_numeric(frame["trial"], errors="coerce").fillna(1).astype("int64")
    out: pd.DataFrame = frame[COLUMNS]
    return out


def _decode(value: Any) -> Any:
    if isinstance(value, str | bytes):
        return orjson.loads(value) if value else None
    return value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
