"""The files a command wrote are listed on stdout with their paths in one column."""

from __future__ import annotations

from pathlib import Path

from harness.cli.common import out, print_paths


def test_every_path_starts_in_the_same_column_whatever_the_label() -> None:
    with out.capture() as captured:
        print_paths(
            {
                "markdown": Path("reports/r/summary.md"),
                "reliability": Path("reports/r/reliability.parquet"),
                "load": Path("reports/r/load.parquet"),
            }
        )
    lines = captured.get().splitlines()
    assert [line.index("reports/") for line in lines] == [15, 15, 15]
    assert lines[1] == "  reliability  reports/r/reliability.parquet"
