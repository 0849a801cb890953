"""The run as data: a typed, versioned run log (manifest + records) per run folder.

Reader API (documented in the README, "Reading run folders"):
`open_run(path)` -> `RunFolder` with `.manifest`, `.trials()`, `.sweeps()`, `.frame()`;
`stored_runs(root)` for the history. The models are in `harness.runlog.models`; their JSON
Schema is published with the suite schemas (`harness schema`).
"""

from harness.runlog.history import KILLED, find_run, group_runs, run_status, stored_runs, suite_runs
from harness.runlog.models import (
    SCHEMA_VERSION,
    AnyManifest,
    DriftManifest,
    Finding,
    HuntManifest,
    LoadLevel,
    LoadManifest,
    ReplayManifest,
    RunManifest,
    SweepRecord,
    TrialRecord,
)
from harness.runlog.read import RunFolder, each_record, open_run, read_manifest, read_records

__all__ = [
    "KILLED",
    "SCHEMA_VERSION",
    "AnyManifest",
    "DriftManifest",
    "Finding",
    "HuntManifest",
    "LoadLevel",
    "LoadManifest",
    "ReplayManifest",
    "RunFolder",
    "RunManifest",
    "SweepRecord",
    "TrialRecord",
    "each_record",
    "find_run",
    "group_runs",
    "open_run",
    "read_manifest",
    "read_records",
    "run_status",
    "stored_runs",
    "suite_runs",
]
