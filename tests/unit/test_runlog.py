"""The run log is a documented interface: its published schemas are current, what the
writer writes validates against them, records read back into the same types, secrets are
masked at the boundary, and run folders written before the log was typed still read."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from harness.core import (
    Case,
    CaseResult,
    CheckResult,
    Failure,
    FailureKind,
    Observation,
    TurnRecord,
    Verdict,
)
from harness.core.events import Status
from harness.errors import ConfigError
from harness.redact import redact
from harness.runlog.models import RunManifest, SweepRecord, TrialRecord
from harness.runlog.read import each_record, open_run, read_records
from harness.runlog.schema import log_schemas
from harness.runlog.store import RunBusy, RunLog
from tests.helpers import ROOT


@pytest.mark.parametrize("name", sorted(log_schemas()))
def test_committed_log_schema_is_current(name: str) -> None:
    committed = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
    assert committed == log_schemas()[name], "run `harness schema --out schemas` and commit"


def result(case_id: str = "c#1", trial: int = 1) -> CaseResult:
    obs = Observation(session_id="h-1", started_at="2026-01-01T00:00:00+00:00")
    obs.turns.append(TurnRecord(index=1, text="hi", reply=None, latency_ms=5.0, status=500,
                                error=Failure(FailureKind.STATUS, "HTTP 500: boom")))  # fmt: skip
    obs.fail(Failure(FailureKind.STATUS, "HTTP 500: boom", turn=1))
    check = CheckResult(
        check_id="x",
        check_type="contains",
        category="output",
        requirements=("R-1",),
        verdict=Verdict.ERROR,
        message="not judged",
    )
    return CaseResult(case=Case(id=case_id, scenario="c", index=0, seed=7, vars={"a": 1}),
                      trial=trial, observation=obs, checks=[check])  # fmt: skip


def test_what_the_writer_writes_validates_and_reads_back_typed(tmp_path: Path) -> None:
    log = RunLog.create(tmp_path, RunManifest(suite="s", seed=3))
    log.append(result())
    log.append_sweep(1, [])
    log.close()
    schemas = log_schemas()
    manifest = json.loads((log.dir / "manifest.json").read_text())
    jsonschema.validate(manifest, schemas["run-manifest"])
    for line in (log.dir / "cases.jsonl").read_text().splitlines():
        jsonschema.validate(json.loads(line), schemas["run-record"])
    trial, sweep = read_records(log.dir)
    assert isinstance(trial, TrialRecord) and isinstance(sweep, SweepRecord)
    error = trial.observation.error
    assert error is not None and error.kind is FailureKind.STATUS and error.turn == 1
    assert str(error) == "turn 1: HTTP 500: boom"  # reads as the evidence always did
    assert trial.observation.turns[0].error == Failure(FailureKind.STATUS, "HTTP 500: boom")
    run = open_run(log.dir)
    assert run.manifest.kind == "run" and run.manifest.seed == 3
    frame = run.frame()
    assert frame.loc[0, "failure_kind"] == "status" and frame.loc[0, "turns"][0]["status"] == 500


def test_a_held_run_folder_is_refused_to_a_second_process(tmp_path: Path) -> None:
    first = RunLog.create(tmp_path, RunManifest(suite="s"))
    with pytest.raises(RunBusy, match="is still going"):
        RunLog.resume(tmp_path, first.run_id)
    first.close()
    second = RunLog.resume(tmp_path, first.run_id)  # released: taken over
    second.close()


def test_a_resume_reads_keys_and_verdicts_one_record_at_a_time_and_repairs_a_cut_line(
    tmp_path: Path,
) -> None:
    """A resume keeps each key's last verdicts and whether a sweep was stored, streamed from
    the file (a 100,000-case run is never held whole); a line a kill cut short is cut off."""
    log = RunLog.create(tmp_path, RunManifest(suite="s"))
    log.append(result("c#1"))
    log.append(result("c#2"))
    passed = result("c#1")
    passed.checks[0].verdict = Verdict.PASS
    log._write({"v": 2, "type": "trial", "key": passed.key, "case": passed.case, "trial": 1,
                "observation": passed.observation, "checks": passed.checks})  # fmt: skip
    assert not log.swept
    log.close()
    cases = log.dir / "cases.jsonl"
    whole = cases.read_bytes()
    cases.write_bytes(whole + b'{"v": 2, "type": "tri')  # a kill in the middle of a line
    streamed = each_record(log.dir)
    assert next(streamed).key == "c#1@1"  # read as the file goes, not all at once
    assert [r.key for r in streamed] == ["c#2@1", "c#1@1"], "a key written again comes again"
    assert cases.read_bytes().endswith(b'"tri'), "no repair unless asked"
    again = RunLog.resume(tmp_path, log.run_id)
    assert again.done == {"c#1@1", "c#2@1"}
    assert again.verdicts == {"pass": 1, "fail": 0, "error": 1}, "the last record of a key counts"
    assert not again.swept
    assert cases.read_bytes() == whole, "the cut line is cut off for appending"
    again.append_sweep(2, [])
    assert again.swept
    again.close()
    third = RunLog.resume(tmp_path, log.run_id)
    assert third.swept
    third.close()
    assert [r.key for r in read_records(log.dir)] == ["c#1@1", "c#2@1", "(run)@2"]


def test_secrets_are_masked_at_the_store_boundary_in_every_form(tmp_path: Path) -> None:
    secret = 'pa"ss/w@rd-123'
    redact.add(secret)
    log = RunLog.create(tmp_path, RunManifest(suite="s", spec_title=f"title {secret}"))
    leaked = result()
    leaked.observation.turns[0].reply = f"here: {secret} and %22 pa%22ss%2Fw%40rd-123"
    log.append(leaked)
    log.close()
    for name in ("manifest.json", "cases.jsonl"):
        text = (log.dir / name).read_text()
        assert 'pa\\"ss/w@rd-123' not in text and "pa%22ss%2Fw%40rd-123" not in text
        assert "***" in text


def test_a_secret_named_value_the_agent_handed_out_is_masked_wherever_it_recurs(
    tmp_path: Path,
) -> None:
    """A captured `token` is masked under its name and also in a later URL or a row found,
    which no name or credential pattern would flag; an ordinary capture is left alone."""
    log = RunLog.create(tmp_path, RunManifest(suite="s"))
    handed = result()
    handed.observation.session = {"token": "tk9f3a77c2", "conversation_id": "conv-118"}
    handed.observation.turns[0].reply = "closed /v2/desk/sessions/tk9f3a77c2?x=1 conv-118"
    handed.observation.entities["visit"] = {"key": "tk9f3a77c2"}
    log.append(handed)
    log.close()
    text = (log.dir / "cases.jsonl").read_text()
    assert "tk9f3a77c2" not in text and text.count("***") >= 3
    assert "conv-118" in text  # not secret-named: evidence stays readable


def test_a_credential_shape_in_a_reply_or_a_description_keeps_the_log_readable(
    tmp_path: Path,
) -> None:
    """The mask works on the record's strings, never on its JSON text: a reply saying
    `token: "A1B2"` or a check described as `never prints token: "abc"` is masked and every
    record and the manifest still read back (none silently dropped)."""
    from harness.runlog.models import RequirementInfo

    manifest = RunManifest(
        suite="s",
        spec_title='never prints a line like token: "abc"',
        requirements=[RequirementInfo(id="R-1", title='secret: "x"')],
    )
    log = RunLog.create(tmp_path, manifest)
    for i, text in enumerate(['Your reset token: "A1B2C3" expires', 'X-Api-Key="k-1234567"']):
        leaked = result(f"c#{i}")
        leaked.observation.turns[0].reply = text
        log.append(leaked)
    log.close()
    records = read_records(log.dir)
    assert len(records) == 2 and len((log.dir / "cases.jsonl").read_text().splitlines()) == 2
    replies = [r.observation.turns[0].reply for r in records if isinstance(r, TrialRecord)]
    assert replies == ['Your reset token: "***" expires', 'X-Api-Key="***"']
    run = open_run(log.dir)
    assert run.manifest.spec_title == 'never prints a line like token: "***"'


def test_a_schema_1_run_folder_reads_into_the_same_types(tmp_path: Path) -> None:
    """As every harness before the typed log wrote it: flat pid/host, text errors, the sweep
    as a trial of the pseudo-case (run)."""
    run = tmp_path / "20260101-000000-abcd"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({
        "suite": "s", "status": "finished", "pid": 123, "host": "elsewhere", "seed": 1,
        "requirements": [{"id": "R-1", "title": "t", "severity": "major", "text": "t"}],
        "dependencies": [{"name": "db", "kind": "postgres", "provider": "embedded"}],
    }))  # fmt: skip
    old = {
        "v": 1, "key": "c@1", "case": {"id": "c", "scenario": "c", "index": 0, "seed": 1},
        "trial": 1,
        "observation": {"session_id": "h", "turns": [
            {"index": 1, "text": "hi", "reply": None, "latency_ms": 1, "status": None,
             "error": "timeout: no reply within 2 s"}],
            "entities": {}, "started_at": "", "duration_ms": 3,
            "error": "variant 2: turn 1: timeout: no reply within 2 s"},
        "checks": [{"check_id": "x", "check_type": "contains", "category": "output",
                    "requirements": ["R-1"], "verdict": "error", "message": "m"}],
    }  # fmt: skip
    sweep = {**old, "key": "(run)@1", "case": {"id": "(run)", "scenario": "(run)", "index": 0,
             "seed": 0, "origin": "invariant-sweep"}}  # fmt: skip
    (run / "cases.jsonl").write_text(json.dumps(old) + "\n" + json.dumps(sweep) + "\n")
    folder = open_run(run)
    assert folder.manifest.owner is not None and folder.manifest.owner.pid == 123
    trial, swept = read_records(run)
    assert isinstance(trial, TrialRecord) and isinstance(swept, SweepRecord)
    error = trial.observation.error
    assert error is not None and error.kind is FailureKind.TIMEOUT
    assert (error.variant, error.turn) == (2, 1) and error.kind.agent
    assert swept.attempt == 1


def test_a_folder_that_is_no_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a run folder"):
        open_run(tmp_path)
    (tmp_path / "manifest.json").write_text('{"kind": "nonsense"}')
    with pytest.raises(ConfigError, match="not a run manifest"):
        open_run(tmp_path)


def test_status_is_the_closed_set_and_older_words_still_read(tmp_path: Path) -> None:
    """The published schema accepts only the four statuses; a manifest an older harness (or a
    person) wrote with another word reads as the nearest one, never as free text."""
    schema = log_schemas()["run-manifest"]
    valid = json.loads(RunManifest(suite="s").model_dump_json())
    jsonschema.validate(valid, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**valid, "status": "whatever"}, schema)
    run = tmp_path / "20250101-000000-old1"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({
        "suite": "s", "status": "Completed", "pid": 1, "host": "elsewhere",
        "attempts": [{"started_at": "2025-01-01T00:00:00+00:00", "status": "aborted"},
                     {"started_at": "2025-01-01T01:00:00+00:00", "status": "finished"}],
    }))  # fmt: skip
    manifest = open_run(run).manifest
    assert manifest.status is Status.FINISHED and manifest.finished
    assert [a.status for a in manifest.attempts] == [Status.INTERRUPTED, Status.FINISHED]
    for word, status in [("error", Status.FAILED), ("killed", Status.INTERRUPTED),
                         ("running", Status.RUNNING), ("no such word", Status.FAILED)]:  # fmt: skip
        assert RunManifest.model_validate({"status": word}).status is status


def rich_result() -> CaseResult:
    """A trial with every kind of value a record holds: variants, errors, dates, decimals,
    tuples, a fault window, a captured secret."""
    import datetime as dt
    from decimal import Decimal

    from harness.core.types import FaultWindow

    variant = Observation(session_id="h-1-v1", turns=[TurnRecord(index=1, text="v")])
    variant.fail(Failure(FailureKind.TIMEOUT, "timeout: no reply within 1 s", turn=1))
    obs = result().observation
    turn = TurnRecord(index=2, text="ok", reply="fine", data={"n": [1, None]}, sent_ns=5)
    turn.usage, turn.source = {"total_tokens": 3}, "filler:small"
    obs.turns.append(turn)
    obs.entities = {"order": {"id": 7, "at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC)}}
    obs.variants = [variant]
    obs.session = {"conversation_id": "c-9"}
    obs.vars = {"amount": Decimal("12.50"), "day": dt.date(2026, 3, 1)}
    obs.faults = [FaultWindow(link="db", toxic="latency", attributes={"latency": 50})]
    case = Case(id="c#2", scenario="c", index=1, seed=8, vars={"pair": (1, 2)}, persona="typo")
    check = CheckResult(check_id="y", check_type="equals", category="output",
                        requirements=("R-1", "R-2"), verdict=Verdict.FAIL, message="no",
                        expected=[Decimal("1.5"), "x"], found="y", turn=2)  # fmt: skip
    return CaseResult(case=case, trial=2, observation=obs, checks=[result().checks[0], check])


def test_a_record_is_byte_for_byte_what_orjson_makes_of_the_dataclasses(tmp_path: Path) -> None:
    """The writer builds plain maps of the core dataclasses (faster); the line it writes is
    the one orjson writes of the dataclasses themselves."""
    from harness.core.types import dumps
    from harness.runlog.models import SCHEMA_VERSION

    r = rich_result()
    log = RunLog.create(tmp_path, RunManifest(suite="s", seed=3))
    log.append(r)
    log.close()
    written = (log.dir / "cases.jsonl").read_bytes().splitlines()
    record = {"v": SCHEMA_VERSION, "type": "trial", "key": r.key, "case": r.case}
    record.update(trial=r.trial, observation=r.observation, checks=r.checks)
    expected = dumps(record)
    assert written == [redact.json(expected)]
    (read,) = read_records(log.dir)
    assert isinstance(read, TrialRecord) and read.observation.variants[0].error is not None


def test_records_reach_the_file_before_the_loop_waits_again(tmp_path: Path) -> None:
    """Inside an event loop the records of one turn of the loop are written together, at
    the start of its next turn (before it waits for anything); outside one, at once."""
    import asyncio

    log = RunLog.create(tmp_path, RunManifest(suite="s", seed=3))
    cases = log.dir / "cases.jsonl"

    async def finish_three() -> list[int]:
        seen = []
        for i in range(3):
            log.append(result(f"c#{i}"))
        seen.append(len(cases.read_bytes().splitlines()))  # still this turn of the loop
        await asyncio.sleep(0)
        seen.append(len(cases.read_bytes().splitlines()))
        return seen

    assert asyncio.run(finish_three()) == [0, 3]
    log.append(result("c#3"))  # no loop running: at once
    assert len(cases.read_bytes().splitlines()) == 4
    log.close()


def test_the_field_names_of_a_record_hold_no_credential_shape() -> None:
    """The mask looks for credential shapes in a record's strings without its field names
    (`strings_of`): that holds only while no field name of the record has such a shape."""
    import dataclasses

    from harness.redact import _may_hold_credentials
    from harness.runlog.store import RECORD_KEYS

    names = list(RECORD_KEYS)
    for cls in (Case, Observation, TurnRecord, CheckResult):
        names += [f.name for f in dataclasses.fields(cls)]
    shaped = [n for n in names if _may_hold_credentials(json.dumps(n).encode())]
    assert not shaped


@pytest.mark.parametrize(
    "text",
    [
        "plain words",
        'Your reset token: "A1B2C3"',
        "see https://user:pw@host/x",
        "Bearer abcdefgh12345",
        "key sk-aaaaaaaaaaaaaaaaaaaa",
        'a "quoted" AKIA0123456789ABCDEF',
    ],
)
def test_a_record_is_masked_alike_whether_shapes_are_looked_for_in_its_strings_or_all(
    tmp_path: Path, text: str
) -> None:
    """The line written is the one the whole record's JSON, looked at entire, masks to."""
    from harness.core.types import dumps
    from harness.runlog.models import SCHEMA_VERSION

    r = rich_result()
    r.observation.turns[0].reply = text
    r.observation.turns[0].data = {"auth": "abcdef", "reply": text}
    log = RunLog.create(tmp_path, RunManifest(suite="s", seed=3))
    log.append(r)
    log.close()
    (written,) = (log.dir / "cases.jsonl").read_bytes().splitlines()
    record = {"v": SCHEMA_VERSION, "type": "trial", "key": r.key, "case": r.case}
    record.update(trial=r.trial, observation=r.observation, checks=r.checks)
    assert written == redact.json(dumps(record))


LAZY = """
import sys
from harness.runlog import models
from harness.runlog.read import parse_manifest
def built():
    records = [(n, getattr(models, n)) for n in dir(models)]
    records = [(n, m) for n, m in records if isinstance(m, type) and issubclass(m, models.Record)]
    return sorted(n for n, m in records if m.__pydantic_complete__)

assert built() == [], built()  # importing builds no validator
kind = sys.argv[1]
manifest = parse_manifest(sys.argv[2].encode())
assert type(manifest).__name__ == sys.argv[3], type(manifest)
print(" ".join(built()))
"""


@pytest.mark.parametrize(
    ("kind", "cls"),
    [("run", "RunManifest"), ("hunt", "HuntManifest"), ("load", "LoadManifest"),
     ("drift", "DriftManifest"), ("replay", "ReplayManifest"), (None, "RunManifest")],
)  # fmt: skip
def test_reading_a_manifest_builds_only_its_kind(kind: str | None, cls: str) -> None:
    """Start-up: the run-log models build their validators on first use, and a manifest is
    validated by its kind's model alone (a schema-1 manifest without `kind` is a run's), so a
    run builds neither the records' validators nor the other kinds'."""
    import subprocess
    import sys

    data = {"run_id": "r", "suite": "s", "started_at": "2026-01-01T00:00:00+00:00"}
    if kind is not None:
        data["kind"] = kind
    if kind == "replay":
        data["case_id"] = "c#1"
    if kind == "drift":
        data["plan"] = {"lengths": [1], "bins": []}
    text = json.dumps(data)
    done = subprocess.run(
        [sys.executable, "-c", LAZY, str(kind), text, cls],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    built = set(done.stdout.split())
    assert cls in built and "TrialRecord" not in built and "SweepRecord" not in built
    others = {"RunManifest", "HuntManifest", "LoadManifest", "ReplayManifest", "DriftManifest"}
    assert not (built & others) - {cls} - ({"RunManifest"} if cls == "DriftManifest" else set())
