"""A divergence's example case as every report shows it: its turns, inputs, captures, calls and
trace, capped and redacted (view.py groups the divergences; the renderers format them)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from harness.empty import empty_dict, empty_list
from harness.report.chain import TraceEvidence, request_lines, trace_evidence
from harness.report.faultturns import during
from harness.report.frame import Row
from harness.report.text import (
    cap,
    evidence_turns,
    input_text,
    probes_left_out,
    turn_error,
    turn_source,
)
from harness.report.traffic import call_text, finite, other_fields


def _missing(value: Any) -> bool:
    """None, or pandas' NaN for a missing value in a text column."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def clean(value: Any) -> Any:
    """Evidence values capped and redacted, structure kept."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value[:50]]
    if isinstance(value, str):
        return cap(value, 500)
    return value


@dataclass
class Example:
    case_id: str
    trial: int
    session_id: str
    message: str
    expected: Any
    found: Any
    turns: list[dict[str, Any]]
    entities: dict[str, Any]
    #: the inputs the trial used, as text (its own fresh unique values; the case's planned
    #: ones for runs that did not record them: then `trial_inputs` is False)
    vars: dict[str, str]
    case_error: str | None
    #: what the conversation captured (masked when stored), and its requests around the turns
    session: dict[str, Any] = field(default_factory=empty_dict)
    calls: list[dict[str, Any]] = field(default_factory=empty_list)
    trial_inputs: bool = False
    #: the case's planned inputs where the trial's differ (fresh values drawn for it)
    planned: dict[str, str] = field(default_factory=empty_dict)
    #: what it did on the way: its spans per turn (None: not traced), stubbed services' log
    trace: TraceEvidence | None = None
    requests: list[str] = field(default_factory=empty_list)
    #: the recovery probes sent after the turns shown, when shown with another check (the
    #: recovery check's evidence has them in full): "then 3 recovery probe(s), turns 3-5, ..."
    probes: str | None = None


def _fields(turn: dict[str, Any], session_id: str | None) -> str | None:
    """The reply's other JSON fields as capped, redacted JSON text."""
    rest = other_fields(turn, session_id)
    if rest is None:
        return None
    return cap(json.dumps(clean(rest), indent=2, ensure_ascii=False, default=str))


def _listed(value: Any) -> list[Any]:
    """A stored list, or none (a frame built elsewhere may hold blanks)."""
    return value[:50] if isinstance(value, list) else []


def _turn(t: dict[str, Any], faults: Any = None, session_id: str | None = None) -> dict[str, Any]:
    """A stored turn as evidence: what was said, what came back and with what, and the
    faults on while it was sent (`faults`: the trial's windows)."""
    status, usage, source = t.get("status"), t.get("usage"), turn_source(t.get("source"))
    return {
        "index": t.get("index"),
        #: "during db: reset_peer downstream": the faults applied while it was sent
        "during": during(t, faults),
        #: where the turn came from (a reactive answer, filler, ...); None: the script's own
        "source": None if source is None else cap(source, 200),
        "text": cap(t.get("text")),
        "reply": None if t.get("reply") is None else cap(t.get("reply")),
        "error": None if turn_error(t) is None else cap(turn_error(t)),
        "latency_ms": finite(t.get("latency_ms")),
        "status": status if isinstance(status, int) and status != 200 else None,
        "first_byte_ms": finite(t.get("first_byte_ms")),
        "tool_calls": [cap(call_text(c), 500) for c in _listed(t.get("tool_calls"))],
        "usage": clean(usage) if isinstance(usage, dict) and usage else None,
        "fields": _fields(t, session_id),
    }


def _inputs(row: Row) -> tuple[dict[str, str], bool, dict[str, str]]:
    """The inputs the trial used, whether the run recorded them, and the planned ones
    where they differ."""
    planned = {str(k): cap(input_text(v), 500) for k, v in (row["vars"] or {}).items()}
    used = row.get("trial_vars")
    if not isinstance(used, dict) or not used:
        return planned, False, {}
    mine = {str(k): cap(input_text(v), 500) for k, v in used.items()}
    return mine, True, {k: v for k, v in planned.items() if mine.get(k) != v}


def _example(row: Row) -> Example:
    inputs, recorded, planned = _inputs(row)
    faults = row.get("faults")
    shown = evidence_turns(row)
    session_id = row["session_id"] if isinstance(row["session_id"], str) else None
    turns = [_turn(t, faults, session_id) for t in shown if isinstance(t, dict)]
    session = row.get("session")
    return Example(
        case_id=row["case_id"],
        trial=int(row["trial"]),
        session_id=row["session_id"],
        message=cap(row["message"]),
        expected=clean(row["expected"]),
        found=clean(row["found"]),
        turns=turns,
        entities=clean(row["entities"] or {}),
        vars=inputs,
        case_error=None if _missing(row["case_error"]) else cap(row["case_error"]),
        session=clean(session) if isinstance(session, dict) else {},
        calls=[clean(c) for c in _listed(row.get("calls")) if isinstance(c, dict)],
        trial_inputs=recorded,
        planned=planned,
        trace=trace_evidence(row.get("trace"), len(row["turns"] or [])),
        requests=request_lines(row.get("requests")),
        probes=probes_left_out(row["turns"], shown),
    )
