"""A run's results read in one pass over its records, one record held at a time, for the
reports of a run of any size: `results.parquet` written in batches of rows as they come, and
kept for the other reports only what they read of each row. A passing row of the run's own
cases keeps no evidence (its turns, inputs, expected and found values): the reports show the
evidence of divergences and replayed known regressions only, and the traffic (every turn's
latency and tokens) is counted as the records are read (`Tally`).

The trials a scenario's faults were applied in are kept whole, for the Faults section
(`faults_summary`: without a fault profile the other trials add nothing to it). Runs whose
reports need every record at once are left to the caller (`collect` returns None): a load or
drift run, a run played under a fault profile, and a folder where a key was written again
(readers keep the last one, in the first one's place).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.empty import empty_list
from harness.report.reliability import REGRESSION_ORIGIN
from harness.report.traffic import Tally
from harness.runlog.frame import COLUMNS, COMPRESSION, JSON_COLUMNS, Row
from harness.runlog.frame import results_table as results_table
from harness.runlog.models import AnyManifest, DriftManifest, LoadManifest, RunManifest, TrialRecord
from harness.runlog.read import RunFolder
from harness.runlog.rows import record_rows

if TYPE_CHECKING:
    import pyarrow.parquet as pq

    from harness.report.faults import FaultsSummary

#: rows of results.parquet built and written at a time (a row group each): a batch of echo
#: rows with their evidence holds about 130 MB; smaller row groups compress worse (20,000
#: rows made a 100,000-case run's file 12% larger), so a run of up to 50,000 two-check cases
#: is written as one, as before
BATCH = 100_000
#: what a passing row keeps: every column but the evidence
SLIM = [c for c in COLUMNS if c not in JSON_COLUMNS]
_slim = itemgetter(*SLIM)


@dataclass
class Collected:
    rows: list[Row]  # every row; a passing own row without its evidence columns
    tally: Tally = field(default_factory=Tally)
    #: the trials a scenario's fault windows were applied in, whole
    faulted: list[TrialRecord] = field(default_factory=empty_list)

    def faults(self, manifest: AnyManifest) -> FaultsSummary | None:
        """The Faults section's numbers (None: no fault ran). A run collected here has no
        fault profile (`collect`), so without a fault window there is nothing to sum."""
        if not self.faulted:
            return None
        from harness.report.faults import faults_summary  # a faulted run's only

        return faults_summary(manifest, self.faulted)


class ResultsWriter:
    """results.parquet written BATCH rows at a time (`add`, then `close`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[Row] = []
        self.writer: pq.ParquetWriter | None = None

    def add(self, rows: list[Row]) -> None:
        self.rows += rows
        if len(self.rows) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        import pyarrow.parquet as pq

        table = results_table(self.rows)
        self.rows = []
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema, compression=COMPRESSION)
        self.writer.write_table(table)

    def close(self) -> None:
        if self.rows or self.writer is None:
            self._flush()
        if self.writer is not None:
            self.writer.close()

    def abort(self) -> None:
        """Stop, leaving the file to be written again."""
        if self.writer is not None:
            self.writer.close()
        self.rows = []


def collect(run: RunFolder, parquet: Path | None) -> Collected | None:
    """The run's rows for its reports, results.parquet written to `parquet` on the way (None:
    not written); None when its reports need every record at once (see the module's text)."""
    manifest = run.manifest
    if isinstance(manifest, LoadManifest | DriftManifest) or (
        isinstance(manifest, RunManifest) and manifest.fault_profile
    ):
        return None
    writer = None if parquet is None else ResultsWriter(parquet)
    out = Collected([])
    keys: set[str] = set()
    done = False
    try:
        for rec in run.each_data():
            if isinstance(rec, dict):  # a trial as plain data (runlog.plain): no typed parts
                key, case, obs = rec["key"], rec["case"], rec["observation"]
                if key in keys or case["fault"]:  # see below
                    return None
                keys.add(key)
                rows = record_rows(rec, manifest)
                if obs["faults"]:
                    out.faulted.append(TrialRecord.model_validate(rec))
                if rows:
                    out.tally.add(case["id"], rec["trial"], rows[0]["turns"])
            else:
                if rec.key in keys:
                    return None
                keys.add(rec.key)
                rows = record_rows(rec, manifest)
                if isinstance(rec, TrialRecord):
                    if rec.case.fault:  # played under a profile the manifest does not name
                        return None
                    if rec.observation.faults:
                        out.faulted.append(rec)
                    if rows:
                        out.tally.add(rec.case.id, rec.trial, rows[0]["turns"])
            if writer is not None:
                writer.add(rows)
            out.rows += [
                dict(zip(SLIM, _slim(row), strict=True)) if _bare(row) else row for row in rows
            ]
        if writer is not None:
            writer.close()
        done = True
        return out
    finally:
        if writer is not None and not done:
            writer.abort()


def _bare(row: Row) -> Any:
    """A row the reports read no evidence of: a passing check of the run's own cases."""
    return row["verdict"] == "pass" and row["origin"] != REGRESSION_ORIGIN
