"""Agent text made safe for Markdown (table cells, inline code, fences), shared by every
Markdown renderer; the numbers as reports print them; and which turns a check's evidence
shows (a recovery check's probes once, with it; with another check, a line that counts them)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from harness.redact import redact
from harness.spec.relative import words
from harness.spec.template import format_value

TEXT_CAP = 2000
#: control characters, and the bidirectional overrides that make text read other than it is
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def cap(text: Any, limit: int = TEXT_CAP) -> str:
    """Agent text for a report: redacted, control characters (and bidirectional overrides)
    made visible, capped."""
    s = "" if text is None else str(text)
    s = _CONTROL.sub("\ufffd", redact(s))
    return s if len(s) <= limit else s[:limit] + f" … [{len(s) - limit} more characters]"


def show(value: Any) -> str:
    """A value as every report shows it: null, true/false, exact decimals, ISO dates."""
    return "null" if value is None else format_value(value)


def turn_source(source: Any) -> str | None:
    """Where a turn came from when not the scenario's script, as a conversation shows it
    (`answer: surname+born`, `filler: small_talk`, `remember`, `probe`); None for the
    script's own turns. The words are the suite's (rule ids, pool names): escape them."""
    if not isinstance(source, str) or not source:
        return None
    kind, colon, rest = source.partition(":")
    return f"{kind}: {rest}" if colon else kind


def input_text(value: Any) -> str:
    """A case input as the evidence shows it: a relative moment in a suite's words
    (`in 185h17m58s (Europe/Lisbon)`), a mapping as `{said: 2pm, hm: 14:00}`, never a repr."""
    if isinstance(value, dict):
        said = words(value)
        if said is not None:
            return said
        return "{" + ", ".join(f"{k}: {input_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(input_text(v) for v in value) + "]"
    return show(value)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: one line, markup characters escaped."""
    text = "" if value is None else str(value).strip()
    text = text.replace("\r", " ").replace("\n", " ⏎ ")
    return _MD_SPECIAL.sub(r"\\\1", text)


def code(value: Any) -> str:
    """Inline code: shown verbatim (no escapes apply inside), on one line."""
    text = show(value).replace("\r", " ").replace("\n", " ⏎ ") or '""'
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(text: str, lang: str = "text") -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text}\n{ticks}"


def pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def num(value: float | None, spec: str) -> str:
    return "—" if value is None or math.isnan(value) else format(value, spec)


def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile with linear interpolation, to the bit what pandas' `Series.quantile`
    (numpy's `linear` method) gives, without importing them; NaNs are skipped; None when
    there are no values."""
    if not values:
        return None
    ordered = sorted(float(v) for v in values if v == v)
    n = len(ordered)
    if not n:
        return math.nan
    virtual = (n - 1) * q  # numpy's virtual index for its linear method
    below = math.floor(virtual)
    gamma = virtual - below
    a = ordered[min(max(below, 0), n - 1)]
    b = ordered[min(max(below + 1, 0), n - 1)]
    diff = b - a
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


def evidence_turns(row: Mapping[str, Any]) -> list[Any]:
    """The turns a check's evidence shows: the conversation's; a recovery check's probes
    (turns with source `recovery`, sent after the conversation) only with that check, so
    that they appear once and not in every divergence of their case."""
    turns = list(row["turns"] if row["turns"] is not None else [])
    if row.get("check_type") == "recovery":
        return turns
    return [t for t in turns if not _probe(t)]


def _probe(turn: Any) -> bool:
    return isinstance(turn, dict) and turn.get("source") == "recovery"


def probes_left_out(turns: Any, shown: list[Any]) -> str | None:
    """What a check's evidence says of the recovery probes it does not show."""
    if turns is None or len(shown) == len(turns):
        return None
    left = [
        str(i) if isinstance(i := t.get("index"), int) else "?"  # a run folder's, not trusted
        for t in turns
        if _probe(t)
    ]
    span = f"turn {left[0]}" if len(left) == 1 else f"turns {left[0]}-{left[-1]}"
    return (
        f"then {len(left)} recovery probe(s), {span}, shown with the recovery check: what "
        "they did is in the rows and spans judged"
    )


def turn_error(turn: dict[str, Any]) -> str | None:
    """A stored turn's failure as the evidence reads ("timeout: no reply within 15 s")."""
    error = turn.get("error")
    if error is None:
        return None
    return str(error.get("message", "")) if isinstance(error, dict) else str(error)
