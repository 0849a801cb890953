"""Reading a run folder into typed records: the reader API for reports and users' own tools.

    from harness.runlog import open_run
    run = open_run("reports/20261205-101500-ab12")
    run.manifest.status, run.manifest.suite          # typed (runlog/models.py)
    for record in run.trials(): ...                  # TrialRecord: case, observation, checks
    for record in run.each_record(): ...             # one at a time, whatever the run's size
    frame = run.frame()                              # pandas: one row per case x check x trial

Old run folders (schema 1) read into the same types. Readers keep one record per key (the
last written wins); a line cut short by a kill is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import TypeAdapter, ValidationError

from harness.core.events import Status
from harness.errors import ConfigError
from harness.runlog.models import (
    MANIFEST_KINDS,
    AnyManifest,
    AnyRecord,
    Manifest,
    SweepRecord,
    TrialRecord,
    manifest_kind,
)
from harness.runlog.plain import plain_trial

if TYPE_CHECKING:
    import pandas as pd

CASES = "cases.jsonl"
MANIFEST = "manifest.json"
RESULTS_PARQUET = "results.parquet"


@cache
def _manifests() -> TypeAdapter[AnyManifest]:
    """Built on first use: a run that reads no manifest or record builds none of their
    validators (the run-log models defer their builds, runlog/base.py)."""
    return TypeAdapter(Manifest)


@cache
def _records() -> TypeAdapter[TrialRecord | SweepRecord]:
    return TypeAdapter(AnyRecord)


def parse_manifest(data: bytes | str | dict[str, object]) -> AnyManifest:
    """A manifest validated by its kind's model (as `Manifest`'s tag would choose it), so
    that reading one builds one model's validator; anything else through the union, for
    its error."""
    if isinstance(data, dict):
        model = MANIFEST_KINDS.get(manifest_kind(data))
        return model.model_validate(data) if model else _manifests().validate_python(data)
    try:
        peek = orjson.loads(data)
    except orjson.JSONDecodeError:
        peek = None
    model = MANIFEST_KINDS.get(manifest_kind(peek)) if isinstance(peek, dict) else None
    return model.model_validate_json(data) if model else _manifests().validate_json(data)


def read_manifest(directory: Path) -> AnyManifest:
    path = directory / MANIFEST
    try:
        return parse_manifest(path.read_bytes())
    except ValidationError as exc:
        raise ConfigError(
            f"{path}: not a run manifest this harness can read ({exc.error_count()} problem(s): "
            f"{exc.errors()[0]['msg']})",
            hint="the run folder is damaged or from another tool; use another run",
        ) from None


def read_records(directory: Path, *, repair: bool = False) -> list[TrialRecord | SweepRecord]:
    """Every stored record, one per key (the last written wins), in first-written order.

    A line cut short by a kill is skipped; with repair=True it is also cut from the file so
    that appending continues on a clean line.
    """
    records: dict[str, TrialRecord | SweepRecord] = {}
    for record in each_record(directory, repair=repair):
        records[record.key] = record
    return list(records.values())


def each_record(directory: Path, *, repair: bool = False) -> Iterator[TrialRecord | SweepRecord]:
    """Every readable record as written, one at a time: the file is read line by line, so
    a reader that keeps what it needs of each (a resume: keys and verdicts) holds one record
    whatever the run's size. A key written again comes again (the last one counts). A line
    cut short by a kill is skipped; with repair=True, once every line has been read, it is
    also cut from the file so that appending continues on a clean line."""
    path = directory / CASES
    if not path.is_file():
        return
    good_end = pos = 0
    with open(path, "rb") as lines:
        for line in lines:
            pos += len(line)
            if not line.endswith(b"\n"):
                break  # unterminated last line: cut short by a kill
            if not line.strip():
                good_end = pos
                continue
            try:
                record = _records().validate_json(line)
            except (ValidationError, orjson.JSONDecodeError, ValueError):
                continue
            good_end = pos
            yield record
    if repair and good_end < pos:
        with open(path, "r+b") as f:
            f.truncate(good_end)


def each_data(directory: Path) -> Iterator[dict[str, Any] | TrialRecord | SweepRecord]:
    """`each_record`, but a trial record of the current schema that the types would give back
    as it is comes as the plain map orjson reads (`plain.plain_trial`), unvalidated: for
    readers that want plain data (the reports); any other record typed, as `each_record`."""
    path = directory / CASES
    if not path.is_file():
        return
    with open(path, "rb") as lines:
        for line in lines:
            if not line.endswith(b"\n"):
                break  # unterminated last line: cut short by a kill
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError:
                data = None  # not JSON orjson reads (or a blank line): as each_record does
            if plain_trial(data):
                yield data
                continue
            if not line.strip():
                continue
            try:
                record = _records().validate_json(line)
            except (ValidationError, orjson.JSONDecodeError, ValueError):
                continue
            yield record


KILLED = "killed (did not finish)"


def run_status(manifest: AnyManifest) -> str:
    """The run's status, except that a run still marked running whose harness process is
    gone (killed, or the machine went down) is called what it is: killed."""
    status = str(manifest.status)
    if status != Status.RUNNING or manifest.owner is None:
        return status
    return KILLED if manifest.owner.alive() is False else status


def verdict_counts(records: Iterable[TrialRecord | SweepRecord]) -> dict[str, int]:
    """Check verdicts of a run: {"pass": n, "fail": n, "error": n}."""
    counts = {"pass": 0, "fail": 0, "error": 0}
    for record in records:
        for check in record.checks:
            counts[check.verdict.value] += 1
    return counts


def verdicts_of(record: TrialRecord | SweepRecord) -> tuple[int, int, int]:
    """A record's check verdicts as (pass, fail, error)."""
    counts = verdict_counts((record,))
    return counts["pass"], counts["fail"], counts["error"]


@dataclass
class RunFolder:
    """One stored run: its typed manifest and records."""

    dir: Path
    manifest: AnyManifest

    @property
    def run_id(self) -> str:
        return self.dir.name

    @property
    def kind(self) -> str:
        return self.manifest.kind

    @property
    def suite(self) -> str:
        return self.manifest.suite

    @property
    def started_at(self) -> str:
        return self.manifest.started_at

    @property
    def described(self) -> str:
        """What made it, in words: "a suite run (harness run)", "a load run (harness load)"."""
        return f"a {'suite' if self.kind == 'run' else self.kind} run (harness {self.kind})"

    @property
    def status(self) -> str:
        return run_status(self.manifest)

    def records(self) -> list[TrialRecord | SweepRecord]:
        return read_records(self.dir)

    def each_record(self) -> Iterator[TrialRecord | SweepRecord]:
        """The records one at a time, as written (a key written again comes again)."""
        return each_record(self.dir)

    def each_data(self) -> Iterator[dict[str, Any] | TrialRecord | SweepRecord]:
        """The records one at a time, a current trial as plain data (see `each_data`)."""
        return each_data(self.dir)

    def trials(self) -> Iterator[TrialRecord]:
        return (r for r in self.records() if isinstance(r, TrialRecord))

    def sweeps(self) -> Iterator[SweepRecord]:
        return (r for r in self.records() if isinstance(r, SweepRecord))

    @property
    def parquet_only(self) -> bool:
        """Only results.parquet was kept (e.g. a CI artifact), not cases.jsonl: the results
        can be read, the records cannot."""
        return not (self.dir / CASES).is_file() and (self.dir / RESULTS_PARQUET).is_file()

    def frame(self) -> pd.DataFrame:
        """One row per case x check x trial, from cases.jsonl (the source of truth), or from
        results.parquet when only that was kept (e.g. a CI artifact)."""
        from harness.runlog.frame import read_parquet, results_frame

        if self.parquet_only:
            return read_parquet(self.dir / RESULTS_PARQUET)
        return results_frame(self.records(), self.manifest)


def open_run(path: str | Path) -> RunFolder:
    """A run folder (its path), typed; a ConfigError when it is none."""
    directory = Path(path)
    if not (directory / MANIFEST).is_file():
        raise ConfigError(
            f"{directory} is not a run folder (no {MANIFEST})",
            hint="run folders are the folders under the reports directory (./reports)",
        )
    return RunFolder(directory, read_manifest(directory))
