"""The results store: one folder per run, every finished case appended the moment it ends.

`reports/<run-id>/manifest.json` says what the run was (suite, seed, options,
versions, dependencies, status); `cases.jsonl` holds one record per finished
trial. A killed run keeps every line it wrote; a resumed run appends to the same
file and skips the keys already there, and readers keep one record per key.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from harness.core import CaseResult, dumps
from harness.errors import ConfigError

CASES = "cases.jsonl"
MANIFEST = "manifest.json"
DEFAULT_REPORTS_DIR = "reports"


def reports_root(cli_value: str | Path | None = None) -> Path:
    """--reports-dir, else HARNESS_REPORTS_DIR, else ./reports."""
    return Path(cli_value or os.environ.get("HARNESS_REPORTS_DIR") or DEFAULT_REPORTS_DIR)


def new_run_id() -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class RunStore:
    root: Path
    run_id: str
    manifest: dict[str, Any] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    _fh: Any = None

    @property
    def dir(self) -> Path:
        return self.root / self.run_id

    @classmethod
    def create(cls, root: Path, manifest: dict[str, Any]) -> RunStore:
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / f".harness-write-test-{os.getpid()}"
            probe.touch()
            probe.unlink()
        except OSError as exc:
            raise ConfigError(
                f"cannot write runs to {root}: {exc.strerror or exc}",
                hint="choose a writable folder with --reports-dir or HARNESS_REPORTS_DIR",
            ) from None
        for _ in range(20):
            run_id = new_run_id()
            try:
                (root / run_id).mkdir()
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - twenty collisions of 16 random bits in one second
            raise RuntimeError("could not allocate a run id")
        store = cls(root, run_id, {**manifest, "run_id": run_id, "status": "running"})
        store.save_manifest()
        (store.dir / CASES).touch()
        return store

    @classmethod
    def open(cls, root: Path, run_id: str) -> RunStore:
        run_dir = root / run_id
        if not (run_dir / MANIFEST).is_file():
            known = sorted(p.parent.name for p in root.glob("*/manifest.json"))
            raise ConfigError(
                f"no run {run_id!r} under {root}",
                hint=f"latest runs there: {', '.join(known[-5:]) or 'none'} "
                "(--reports-dir or HARNESS_REPORTS_DIR choose another folder)",
            )
        manifest = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
        store = cls(root, run_id, manifest)
        store.done = {r["key"] for r in read_records(run_dir, repair=True)}
        return store

    def save_manifest(self) -> None:
        tmp = self.dir / (MANIFEST + ".tmp")
        tmp.write_bytes(orjson.dumps(self.manifest, option=orjson.OPT_INDENT_2, default=str))
        os.replace(tmp, self.dir / MANIFEST)

    def update(self, **values: Any) -> None:
        self.manifest.update(values)
        self.save_manifest()

    def append(self, result: CaseResult, **extra: Any) -> None:
        """Write one finished trial now; a kill after this line loses nothing of it.
        `extra` adds fields to the record (a load run's `load: {users, window, ...}`)."""
        if self._fh is None:
            self._fh = open(self.dir / CASES, "ab")  # noqa: SIM115 - kept open for the whole run
        self._fh.write(dumps({**result.to_record(), **extra}) + b"\n")
        self._fh.flush()
        self.done.add(result.key)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def read_records(run_dir: Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """Every stored record, one per key (the last written wins), in first-written order.

    A line cut short by a kill is skipped; with repair=True it is also cut from the
    file so that appending continues on a clean line.
    """
    path = run_dir / CASES
    if not path.is_file():
        return []
    data = path.read_bytes()
    records: dict[str, dict[str, Any]] = {}
    good_end = 0
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        if end == -1:
            break  # unterminated last line: cut short by a kill
        line = data[pos:end]
        pos = end + 1
        if not line.strip():
            good_end = pos
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        records[record["key"]] = record
        good_end = pos
    if repair and good_end < len(data):
        with open(path, "r+b") as f:
            f.truncate(good_end)
    return list(records.values())
