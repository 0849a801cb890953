"""The pieces that let a run's reports skip pandas give what pandas gave: quantiles to the
bit, and Arrow columns built from buffers equal to `pa.array`'s."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from harness.report.text import quantile
from harness.runlog.frame import arrow_column


def test_quantile_is_pandas_linear_quantile_to_the_bit() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        values = [rng.choice([rng.random() * 1000, rng.randint(0, 99), rng.expovariate(0.01)])
                  for _ in range(rng.randint(1, 40))]  # fmt: skip
        for q in (0.0, 0.05, 0.5, 0.9, 0.95, 0.99, 1.0, rng.random()):
            assert quantile(values, q) == float(pd.Series(values).quantile(q))
    assert quantile([], 0.5) is None
    assert quantile([1.0, float("nan"), 3.0], 0.5) == 2.0  # NaN skipped, as pandas does


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("string", ["a", None, "ünï", "", "x" * 300]),
        ("large_string", [None, None, "b"]),
        ("int64", [1, None, -(2**40), 0]),
        ("double", [0.5, None, float("nan"), -1e300]),
        ("bool", [True, None, False, True, True, False, False, True, None]),
        ("string", []),
    ],
)
def test_arrow_columns_from_buffers_equal_pa_array(kind: str, values: list[object]) -> None:
    built = arrow_column(values, kind)
    assert built.type == pa.type_for_alias(kind)
    assert built.to_pylist() == pa.array(values, type=pa.type_for_alias(kind)).to_pylist() or (
        kind == "double"  # NaN != NaN: compare as text
        and str(built.to_pylist()) == str(pa.array(values, type=pa.float64()).to_pylist())
    )
    assert built.null_count == sum(v is None for v in values)


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [{"a": 1, "b": "x", "c": 0.5}, {"a": 2, "c": None}],
        [{"a": 1, "b": None, "c": float("nan")}],
        [{"a": 1}],
    ],
)
def test_a_table_of_rows_is_written_as_pandas_wrote_it(tmp_path: Path, rows: list[dict]) -> None:
    import pyarrow.parquet as pq

    from harness.runlog.frame import save_table

    columns = ["a", "b", "c"]
    pd.DataFrame(rows, columns=columns).to_parquet(tmp_path / "pandas.parquet", index=False)
    types = {"a": "int64", "b": "large_string", "c": "double"}
    save_table(rows, types, tmp_path / "rows.parquet")
    want, got = pq.read_table(tmp_path / "pandas.parquet"), pq.read_table(tmp_path / "rows.parquet")
    assert got.schema.remove_metadata() == want.schema.remove_metadata()
    assert got.to_pylist() == want.to_pylist()
