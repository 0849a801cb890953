"""Which faults were on while each turn was sent, as a case's evidence says it beside the turn
("during cache: latency downstream, 1500 ms"): from the trial's fault windows (`FaultWindow`
as stored: the turns sent while it was applied, its applied and removed times) and the turn's
index and sent time. Shared by Markdown, HTML, JUnit and `harness replay`; each escapes it.

Link and toxic names come from the suite (validated slugs); the text is capped all the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.faults.toxics import ATTRIBUTES
from harness.report.text import cap

LABEL_CAP = 300


def fault_label(window: Mapping[str, Any]) -> str:
    """A fault in a few words: `db: reset_peer downstream`, `cache: latency downstream,
    1500 ms, jitter 100 ms`, `, toxicity 0.5` when it drew connections."""
    toxic = str(window.get("toxic") or "")
    text = f"{window.get('link')}: {toxic}"
    if toxic != "down":
        text += f" {window.get('stream') or 'downstream'}"
    units = ATTRIBUTES.get(toxic, {})
    attributes = window.get("attributes")
    for name, value in attributes.items() if isinstance(attributes, Mapping) else []:
        if not value:
            continue
        unit = f" {units[name]}" if name in units else ""
        text += f", {value}{unit}" if name == toxic else f", {name} {value}{unit}"
    toxicity = window.get("toxicity")
    if isinstance(toxicity, int | float) and toxicity < 1.0:
        text += f", toxicity {toxicity:g}"
    if window.get("after_sent"):
        text += f", after_sent {window['after_sent']}"
    if isinstance(times := window.get("times"), int):
        text += f", times {times}"
    return cap(text, LABEL_CAP)


def _on(window: Mapping[str, Any], index: Any, sent_ns: Any) -> bool:
    """Turn `index` was sent while the window was applied: within the turns it recorded, or,
    when it recorded none and both times are known, between its applied and removed times."""
    first, last = window.get("first_turn"), window.get("last_turn")
    if isinstance(first, int) and isinstance(index, int):
        return first <= index <= (last if isinstance(last, int) else first)
    started, ended = window.get("started_ns") or 0, window.get("ended_ns") or 0
    if first is None and isinstance(sent_ns, int) and sent_ns > 0 and started > 0:
        return started <= sent_ns and (not ended or sent_ns < ended)
    return False


def during(turn: Mapping[str, Any], windows: Sequence[Any] | None) -> str | None:
    """`during db: reset_peer downstream; cache: ...` for a turn sent while faults were on;
    None otherwise (and for turns probing recovery, sent after the faults ended)."""
    if not isinstance(windows, list | tuple) or not windows:
        return None
    index, sent = turn.get("index"), turn.get("sent_ns")
    labels: list[str] = []
    for w in windows:
        if isinstance(w, Mapping) and _on(w, index, sent):
            label = fault_label(w)
            if label not in labels:
                labels.append(label)
    return "during " + "; ".join(labels) if labels else None
