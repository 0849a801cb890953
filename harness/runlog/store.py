"""Writing a run folder: one per run, one harness process at a time, every record masked.

`reports/<run-id>/manifest.json` says what the run was; `cases.jsonl` holds one record
per finished trial (and each attempt's invariant sweep), appended the moment it ends, so
a killed run keeps every line it wrote (the records of one turn of the event loop reach the
file together, before the loop waits for anything again: one write for the ten or so cases
a busy run finishes at once). A run folder is held by one process through an
exclusive lock on its `.lock` file (the kernel drops it when the process dies, `kill -9`
included), so two resumes of one run can never both run its cases. Everything written
goes through `redact` first: nothing unmasked reaches the folder.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import os
import secrets
import shutil
from pathlib import Path
from typing import IO, Any

import orjson

from harness.core.types import CaseResult, CheckResult, as_map, dumps, strings_of
from harness.errors import ConfigError
from harness.redact import Redactor, redact, secret_name
from harness.runlog.models import SCHEMA_VERSION, AnyManifest, LoadTag, SweepRecord
from harness.runlog.read import CASES, MANIFEST, each_record, read_manifest, verdicts_of

LOCK = ".lock"
BUFFER = 1 << 18  # bytes of records held until the end of the event loop's turn, at most
#: the keys of a trial's record itself (its classes' own are their fields)
RECORD_KEYS = ("v", "type", "key", "case", "trial", "observation", "checks", "load")
DEFAULT_REPORTS_DIR = "reports"


def reports_root(cli_value: str | Path | None = None) -> Path:
    """--reports-dir, else HARNESS_REPORTS_DIR, else ./reports."""
    return Path(cli_value or os.environ.get("HARNESS_REPORTS_DIR") or DEFAULT_REPORTS_DIR)


def new_run_id() -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class RunBusy(ConfigError):
    """Another harness process holds the run folder."""


class RunLog:
    """The writer of one run folder, held (locked) by this process until `close`."""

    def __init__(self, directory: Path, manifest: AnyManifest, lock: IO[bytes]) -> None:
        self.dir = directory
        self.manifest = manifest
        self.done: set[str] = set()
        #: check verdicts of every record in the folder, kept as records are written
        self.verdicts: dict[str, int] = {"pass": 0, "fail": 0, "error": 0}
        #: whether the folder holds an invariant sweep (of any attempt)
        self.swept = False
        self._lock: IO[bytes] | None = lock
        self._fh: IO[bytes] | None = None
        self._flushing = False  # a flush is due at the start of the loop's next turn

    @property
    def run_id(self) -> str:
        return self.dir.name

    @classmethod
    def create(cls, root: Path, manifest: AnyManifest) -> RunLog:
        """A new run folder under root with a fresh id, locked by this process."""
        _writable(root)
        for _ in range(20):
            run_id = new_run_id()
            try:
                (root / run_id).mkdir()
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - twenty collisions of 16 random bits in one second
            raise RuntimeError("could not allocate a run id")
        directory = root / run_id
        lock = _take_lock(directory)
        assert lock is not None  # a folder made a moment ago is nobody else's
        manifest.run_id = run_id
        manifest.schema_version = SCHEMA_VERSION
        log = cls(directory, manifest, lock)
        log.save()
        (directory / CASES).touch()
        return log

    @classmethod
    def resume(cls, root: Path, run_id: str) -> RunLog:
        """An existing run folder, taken over by this process; refused while another harness
        process holds it."""
        directory = root / run_id
        if not (directory / MANIFEST).is_file():
            known = sorted(p.parent.name for p in root.glob(f"*/{MANIFEST}"))
            raise ConfigError(
                f"no run {run_id!r} under {root}",
                hint=f"latest runs there: {', '.join(known[-5:]) or 'none'} "
                "(--reports-dir or HARNESS_REPORTS_DIR choose another folder)",
            )
        lock = _take_lock(directory)
        manifest = read_manifest(directory)
        if lock is None:
            owner = manifest.owner
            who = f" (harness pid {owner.pid} on {owner.host})" if owner else ""
            raise RunBusy(
                f"run {run_id} is still going{who}: resuming it now would run its missing "
                "cases twice",
                hint="wait for it to end, or stop it (Ctrl-C, or kill that pid), then resume",
            )
        log = cls(directory, manifest, lock)
        # one record at a time: only each key's verdicts are kept (the last record of a key
        # counts), so a resume of a 100,000-case run holds no record it does not need
        last: dict[str, tuple[int, int, int]] = {}
        shared: dict[tuple[int, int, int], tuple[int, int, int]] = {}
        for record in each_record(directory, repair=True):
            counts = verdicts_of(record)
            last[record.key] = shared.setdefault(counts, counts)
            log.swept = log.swept or isinstance(record, SweepRecord)
        log.done = set(last)
        for counts in last.values():
            for name, n in zip(("pass", "fail", "error"), counts, strict=True):
                log.verdicts[name] += n
        return log

    def save(self) -> None:
        """Write the manifest (masked) atomically."""
        data = self.manifest.model_dump(mode="json", exclude_none=False)
        raw = redact.json(
            orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str), orjson.OPT_INDENT_2
        )
        tmp = self.dir / (MANIFEST + ".tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, self.dir / MANIFEST)

    def update(self, save: bool = True, **values: Any) -> None:
        """Set manifest fields (validated by the manifest's model) and save (unless a save
        follows at once anyway: each costs a rename, milliseconds on ext4)."""
        for key, value in values.items():
            setattr(self.manifest, key, value)
        if save:
            self.save()

    def append(self, result: CaseResult, load: LoadTag | None = None) -> None:
        """Write one finished trial now; a kill after this line loses nothing of it."""
        obs, key = result.observation, result.key
        record: dict[str, Any] = {  # the core dataclasses, as orjson writes them (`as_map`)
            "v": SCHEMA_VERSION,
            "type": "trial",
            "key": key,
            "case": as_map(result.case),
            "trial": result.trial,
            "observation": as_map(obs),
            "checks": [as_map(c) for c in result.checks],
        }
        # the same values without the field names (RECORD_KEYS and our classes' fields, none
        # of which holds a credential shape): where the masking looks for shapes
        strings: list[Any] = [
            key,
            strings_of(result.case),
            strings_of(obs),
            [strings_of(c) for c in result.checks],
        ]
        if load is not None:
            record["load"] = load.model_dump(exclude_none=True)
            strings.append(record["load"])
        # a secret-named value the agent handed this conversation (a captured `token`) is
        # masked wherever the record repeats it (later URLs, headers, rows), not only under
        # its own name; per record, since every conversation has its own
        handed = (
            {
                k: v
                for o in (obs, *obs.variants)
                for k, v in o.session.items()
                if isinstance(v, str) and secret_name(k)
            }
            if obs.session or obs.variants
            else None
        )
        self._write(record, Redactor(handed.values()) if handed else None, dumps(strings))
        self._count(result.checks, key)

    def append_sweep(self, attempt: int, checks: list[CheckResult]) -> None:
        """The run-wide invariant sweep of one attempt."""
        key = f"(run)@{attempt}"
        self._write(
            {
                "v": SCHEMA_VERSION,
                "type": "sweep",
                "key": key,
                "attempt": attempt,
                "checks": checks,
            }
        )
        self._count(checks, key)
        self.swept = True

    def _count(self, checks: list[CheckResult], key: str) -> None:
        if key in self.done:  # a record written again replaces the earlier one's verdicts
            return
        self.done.add(key)
        verdicts = self.verdicts
        for check in checks:
            verdicts[check.verdict] += 1  # a StrEnum: the same key as its value

    def _write(
        self, record: dict[str, Any], own: Redactor | None = None, strings: bytes | None = None
    ) -> None:
        """`strings`: the record's strings without its field names (`Redactor.json`)."""
        if self._fh is None:
            # kept open for the whole run; a buffer that holds a busy turn's records, so they
            # reach the file in one write when the turn ends (`_flush`), not one per 8 KiB
            self._fh = open(self.dir / CASES, "ab", buffering=BUFFER)  # noqa: SIM115
        raw = dumps(record)
        data = redact.json(raw, strings=strings)
        if own is not None:  # the strings are those of `raw`: of no other bytes
            data = own.json(data, strings=strings if data is raw else None)
        self._fh.write(data + b"\n")
        if self._flushing:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread (a hunt's search): at once
            self._fh.flush()
            return
        self._flushing = True
        loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flushing = False
        if self._fh is not None:
            self._fh.flush()

    def close(self) -> None:
        """Stop writing and let another process take the folder."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._lock is not None:
            self._lock.close()  # closing the descriptor drops the lock
            self._lock = None

    def discard(self) -> None:
        """Remove the folder (a new run refused before any case: exit 2 leaves nothing)."""
        self.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _writable(root: Path) -> None:
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


def _take_lock(directory: Path) -> IO[bytes] | None:
    """The folder's lock, or None while another process holds it."""
    handle = open(directory / LOCK, "ab")  # noqa: SIM115 - held for the whole session
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    os.set_inheritable(handle.fileno(), False)  # children (the agent, servers) never hold it
    return handle
