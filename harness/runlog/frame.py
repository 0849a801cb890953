"""A run's results, one row per case x check x trial, built from its typed records only: as
plain rows (`results_rows`, what a run's reports are built from, without pandas), as a pandas
DataFrame (`results_frame`, the reader API), and as `results.parquet` (through pyarrow alone).

The evidence stays typed in the frame: `turns` is a list of turn mappings, `entities`,
`vars`, `session`, `calls`, `expected` and `found` are the stored JSON values, never text
to re-parse. In parquet they are Arrow's JSON type (`arrow.json`), which DuckDB and pyarrow
read as JSON.
"""

from __future__ import annotations

from array import array
from collections.abc import Collection, Iterable
from itertools import accumulate, repeat
from math import isnan
from operator import is_not, itemgetter, truth
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from harness.runlog.models import AnyManifest, SweepRecord, TrialRecord
from harness.runlog.rows import Row as Row
from harness.runlog.rows import record_rows as record_rows

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

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
EMPTY: dict[str, type[dict[str, Any]] | type[list[Any]]] = dict(
    session=dict, calls=list, trial_vars=dict, trace=dict, requests=list, faults=list
)
TEXT_COLUMNS = [c for c in COLUMNS if c not in JSON_COLUMNS and c not in ("trial", "duration_ms")]


def results_frame(
    records: Iterable[TrialRecord | SweepRecord], manifest: AnyManifest
) -> pd.DataFrame:
    """The results as a pandas DataFrame (pandas imported here, on first use)."""
    return rows_frame(results_rows(records, manifest))


def rows_frame(rows: list[Row]) -> pd.DataFrame:
    """results_rows as a pandas DataFrame (for a reader that needs both)."""
    import pandas as pd

    return pd.DataFrame(rows, columns=COLUMNS).astype({"trial": "int64", "duration_ms": "float64"})


def results_rows(records: Iterable[TrialRecord | SweepRecord], manifest: AnyManifest) -> list[Row]:
    """The results as plain rows, every column in each (a trial's evidence shared by its rows)."""
    rows: list[Row] = []
    for rec in records:
        rows += record_rows(rec, manifest)
    return rows


def _json_array(values: list[Any]) -> pa.Array:
    import pyarrow as pa

    # a trial's rows share its evidence (one object per trial, not a copy per check)
    done: dict[int, str] = {}
    texts: list[str | None] = []
    for v in values:
        kind = type(v)
        if kind is dict or kind is list:
            if not v:
                texts.append("{}" if kind is dict else "[]")
                continue
            text = done.get(id(v))
            if text is None:
                text = done[id(v)] = orjson.dumps(v).decode()
        else:
            text = orjson.dumps(v).decode()
        texts.append(text)
    storage = arrow_column(texts, "string")
    return pa.ExtensionArray.from_storage(pa.json_(pa.string()), storage)


#: the most bytes one string array holds (its offsets are 32-bit); more go in chunks
_CHUNK = 2**31 - 1


def arrow_column(values: list[Any], kind: str) -> pa.Array | pa.ChunkedArray:
    """Plain values (None for a missing one) as an Arrow array of `kind` ("string",
    "large_string", "int64", "double", "bool", "null"), built from its buffers: `pa.array`
    first asks whether a value is a pandas object, which imports pandas (0.3-0.5 s)."""
    import pyarrow as pa

    n = len(values)
    if kind == "null":
        return pa.nulls(n)
    nulls = values.count(None) if None in values else 0
    validity = None
    if nulls:
        validity = pa.py_buffer(_bitmap(bytes(map(is_not, values, repeat(None)))))
    kind_of = pa.type_for_alias(kind)
    if kind == "bool":
        buffers = [validity, pa.py_buffer(_bitmap(bytes(map(truth, values))))]
        return pa.Array.from_buffers(kind_of, n, buffers, nulls)
    if kind in ("int64", "double"):
        code, blank = ("q", 0) if kind == "int64" else ("d", 0.0)
        data = array(code, list(map({None: blank}.get, values, values)) if nulls else values)
        return pa.Array.from_buffers(kind_of, n, [validity, pa.py_buffer(data)], nulls)
    if not nulls and n > 1 and type(values[0]) is str and values.count(values[0]) == n:
        one = values[0].encode()  # the same text in every row (a run's id, its suite...)
        code, step = ("q" if kind == "large_string" else "i"), len(one)
        if kind == "large_string" or step * n <= _CHUNK:
            offsets = array(code, range(0, step * n + 1, step) if step else [0] * (n + 1))
            buffers = [None, pa.py_buffer(offsets), pa.py_buffer(one * n)]
            return pa.Array.from_buffers(kind_of, n, buffers, 0)
    texts: list[str] = list(map({None: ""}.get, values, values)) if nulls else values  # None: ""
    joined = "".join(texts)
    if joined.isascii():  # one encode; a character is a byte
        text, lengths = joined.encode(), list(map(len, texts))
    else:
        encoded = [v.encode() for v in texts]
        text, lengths = b"".join(encoded), list(map(len, encoded))
    if kind == "string" and len(text) > _CHUNK and n > 1:  # as pa.array splits a large column
        half = n // 2
        parts = [arrow_column(values[:half], kind), arrow_column(values[half:], kind)]
        return pa.chunked_array([c for p in parts for c in getattr(p, "chunks", [p])], kind_of)
    offsets = array("q" if kind == "large_string" else "i", accumulate(lengths, initial=0))
    buffers = [validity, pa.py_buffer(offsets), pa.py_buffer(text)]
    return pa.Array.from_buffers(kind_of, n, buffers, nulls)


_DIGITS = bytes.maketrans(b"\x00\x01", b"01")


def _bitmap(flags: bytes) -> bytes:
    """Flags (bytes 0 or 1) as Arrow's bitmap, least significant bit first: one number."""
    number = int(flags.translate(_DIGITS)[::-1] or b"0", 2)
    return number.to_bytes((len(flags) + 7) // 8, "little")


#: zstd: results.parquet of 100,000 echo cases 6 MB, snappy (the default) 13 MB (RESULTS.md)
COMPRESSION: Literal["zstd"] = "zstd"


def save_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Any pandas table as parquet (load.parquet, drift.parquet, faults.parquet)."""
    frame.to_parquet(path, index=False, compression=COMPRESSION)
    return path


def save_table(
    rows: list[Row], types: dict[str, str], path: Path, fixed: Collection[str] = ()
) -> Path:
    """Plain rows as parquet through pyarrow alone (`save_columns`), a column no row has absent."""
    columns = {name: [row.get(name) for row in rows] for name in types}
    absent = {name for name in types if not any(name in row for row in rows)}
    return save_columns(columns, types, path, absent=absent, fixed=fixed)


def save_columns(
    columns: dict[str, list[Any]],
    types: dict[str, str],
    path: Path,
    *,
    absent: Collection[str] = (),
    fixed: Collection[str] = (),
) -> Path:
    """Columns of plain values as parquet through pyarrow alone, in the order of `types` with
    their Arrow types ("large_string", "int64", "double", "bool"), as pandas' `to_parquet` of a
    DataFrame of the same rows wrote them (reliability.parquet, faults.parquet): None or a
    float NaN is null; where pandas inferred the type (the columns not `fixed` by an
    `astype`), a column of no value is doubles when no row had it (`absent`) or it holds a
    NaN, else nulls (and every such column of a table with no rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = []
    for name, kind in types.items():
        values = columns[name]
        if name not in fixed and all(_missing(v) for v in values):  # no rows: all nulls
            floats = name in absent or any(isinstance(v, float) for v in values)
            kind = "double" if floats and values else "null"
        if kind in ("double", "null") and not _numbers(values):
            values = [None if v is None or v != v else v for v in values]
        arrays.append(arrow_column(values, kind))
    pq.write_table(pa.table(arrays, names=list(types)), path, compression=COMPRESSION)
    return path


def save_results(table: pd.DataFrame | list[Row], path: Path) -> Path:
    """The results (plain rows or the frame) as parquet (results.parquet), the evidence
    columns as Arrow JSON; through pyarrow alone, imported here."""
    import pyarrow.parquet as pq

    pq.write_table(results_table(table), path, compression=COMPRESSION)
    return path


def results_table(table: pd.DataFrame | list[Row]) -> pa.Table:
    """The results as an Arrow table of results.parquet's columns and types (a batch of
    rows of it: report/collect.py writes a large run's in batches)."""
    import pyarrow as pa

    arrays = []
    if isinstance(table, list):  # one pass over the rows, then each column
        cells = zip(*map(itemgetter(*COLUMNS), table), strict=True)
        columns: list[list[Any]] = [list(c) for c in cells] or [[] for _ in COLUMNS]
    else:  # plain objects: a Series yields each through pandas
        columns = [table[name].tolist() for name in COLUMNS]
    for name, column in zip(COLUMNS, columns, strict=True):
        if name in JSON_COLUMNS:
            arrays.append(_json_array(column))
        elif name == "trial":
            arrays.append(arrow_column([int(v) for v in column], "int64"))
        elif name == "duration_ms":
            arrays.append(arrow_column([float(v) for v in column], "double"))
        else:
            texts = column
            if not {str, type(None)}.issuperset(map(type, column)):  # as text, NaN as None
                texts = [v if type(v) is str else None if _missing(v) else str(v) for v in column]
            arrays.append(arrow_column(texts, "string"))
    return pa.table(arrays, names=COLUMNS)


def read_parquet(path: Path) -> pd.DataFrame:
    """results.parquet back into the frame, the evidence decoded (also files written before
    the evidence was typed, which kept it as JSON text)."""
    import pandas as pd
    import pyarrow.parquet as pq

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
    text = isinstance(value, str | bytes)
    return (orjson.loads(value) if value else None) if text else value


def _numbers(values: list[Any]) -> bool:
    """Whether values are all numbers, none None or NaN (found without a loop in Python: a
    reliability.parquet column of a 100,000-case run has 300,000)."""
    if None in values:
        return False
    try:
        return not any(map(isnan, values))
    except (TypeError, OverflowError):
        return False


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
