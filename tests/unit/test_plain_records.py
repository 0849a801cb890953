"""The reports' plain reader (runlog/plain.py, rows.py): a trial record it takes as orjson's map
gives exactly the rows the typed record gives; any record it cannot vouch for is refused, so
the reader validates it into the types as before (the reports stay byte for byte the same)."""

from __future__ import annotations

import copy
import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from harness.runlog.models import TrialRecord
from harness.runlog.plain import plain_trial
from harness.runlog.read import _records, each_data, each_record, parse_manifest
from harness.runlog.rows import record_rows
from tests.helpers import ROOT

SNAPSHOTS = ROOT / "tests" / "snapshots" / "reports"


def _lines(name: str) -> list[bytes]:
    with gzip.open(SNAPSHOTS / name / "run" / "cases.jsonl.gz", "rb") as f:
        return f.read().splitlines()


@pytest.mark.parametrize("name", ["demo", "demo3"])
def test_a_plain_trial_gives_the_rows_of_its_typed_record(name: str) -> None:
    manifest = parse_manifest((SNAPSHOTS / name / "run" / "manifest.json").read_bytes())
    plain = 0
    for line in _lines(name):
        data = orjson.loads(line)
        if not plain_trial(data):
            assert data["type"] == "sweep"
            continue
        plain += 1
        typed = _records().validate_json(line)
        assert orjson.dumps(record_rows(data, manifest)) == orjson.dumps(
            record_rows(typed, manifest)
        )
        if data["observation"]["faults"]:  # collect validates these from the map
            assert TrialRecord.model_validate(data) == typed
    assert plain >= 80  # the demo's trials (spans, requests, variants, faults) are all plain


def _trial() -> dict[str, Any]:
    record: dict[str, Any] = orjson.loads(_lines("demo")[0])
    assert plain_trial(record)
    return record


def _turn(r: dict[str, Any]) -> dict[str, Any]:
    turn: dict[str, Any] = r["observation"]["turns"][0]
    return turn


ALTERED = {
    "schema 1": lambda r: r.update(v=1),
    "a sweep": lambda r: r.update(type="sweep"),
    "an int where a float is declared": lambda r: _turn(r).update(latency_ms=3),
    "a float where an int is declared": lambda r: r["case"].update(seed=12.0),
    "a field missing": lambda r: r["observation"].pop("spans_late"),
    "a field more": lambda r: r["case"].update(extra=1),
    "fields in another order": lambda r: r.update(case=dict(reversed(r["case"].items()))),
    "an unknown verdict": lambda r: r["checks"][0].update(verdict="maybe"),
    "an error as text": lambda r: r["observation"].update(error="timeout: no reply"),
    "an unknown failure kind": lambda r: r["observation"].update(
        error={"kind": "x", "message": "m", "turn": None, "variant": None}
    ),
    "a token count as a float": lambda r: _turn(r).update(usage={"total_tokens": 3.0}),
    "a requirement not text": lambda r: r["checks"][0].update(requirements=[1]),
    "a span kind unknown": lambda r: r["observation"]["spans"][0].update(kind="sideways"),
    "a load tag": lambda r: r.update(load={"role": "single"}),
}


@pytest.mark.parametrize("change", list(ALTERED), ids=list(ALTERED))
def test_a_record_the_types_would_change_or_refuse_is_not_plain(change: str) -> None:
    record = copy.deepcopy(_trial())
    ALTERED[change](record)
    assert not plain_trial(record)


def test_the_reader_validates_what_is_not_plain_and_skips_what_the_types_refuse(
    tmp_path: Path,
) -> None:
    good, converted, refused = _trial(), copy.deepcopy(_trial()), copy.deepcopy(_trial())
    _turn(converted).update(latency_ms=3)  # validated: 3.0
    converted["key"] = "other@1"
    refused["checks"][0]["verdict"] = "maybe"
    lines = [orjson.dumps(r) for r in (good, converted, refused)] + [b'{"v": 2, "cut']
    (tmp_path / "cases.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    read = list(each_data(tmp_path))
    assert [type(r) for r in read] == [dict, TrialRecord]
    assert read[0] == good
    assert read[1] == list(each_record(tmp_path))[1]
    assert isinstance(read[1], TrialRecord)
    assert read[1].observation.turns[0].latency_ms == 3.0
