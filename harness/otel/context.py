"""W3C trace context the harness sends with each turn, so that the agent's spans join the
case's own trace, and the OTLP environment it gives an agent it starts."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from harness.core.spans import Span

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
BATCH_DELAY_MS = 100  # the SDKs' default (5 s) would hold a case's spans past its settle time


@dataclass(frozen=True, slots=True)
class CaseTrace:
    """The trace of one case's trial (and variant): its id, and one parent span id per turn
    (the harness's turn is the parent of the agent's root spans). Derived, not drawn: the
    same (run, case, trial, variant) names the same trace, a resumed run's too."""

    trace_id: str

    @classmethod
    def of(cls, run_id: str, case_id: str, trial: int, variant: str = "") -> CaseTrace:
        digest = _digest("trace", run_id, case_id, str(trial), variant)
        return cls(_nonzero(digest[:32]))

    def turn_span_id(self, turn: int) -> str:
        return _nonzero(_digest("turn", self.trace_id, str(turn))[:16])

    def traceparent(self, turn: int) -> str:
        """The `traceparent` header of a turn: version 00, sampled."""
        return f"00-{self.trace_id}-{self.turn_span_id(turn)}-01"

    def by_turn(self, spans: Iterable[Span], turns: int) -> dict[int | None, list[Span]]:
        """The spans under each turn's parent span, by ancestry (a span whose chain of parents
        reaches no turn of this trace, or runs in a circle, under None)."""
        spans = list(spans)
        parents = {s.span_id: s.parent_id for s in spans if s.trace_id == self.trace_id}
        turn_of = {self.turn_span_id(t): t for t in range(turns)}
        out: dict[int | None, list[Span]] = {}
        for span in spans:
            turn = None
            if span.trace_id == self.trace_id:
                seen: set[str] = set()
                node: str | None = span.parent_id
                while node is not None and node not in seen:
                    if node in turn_of:
                        turn = turn_of[node]
                        break
                    seen.add(node)
                    node = parents.get(node)
            out.setdefault(turn, []).append(span)
        return out


def parse_traceparent(value: str) -> tuple[str, str] | None:
    """(trace id, parent span id) of a W3C `traceparent` header, or None when it is not one
    (version ff, all-zero ids and version 00 with trailing fields are invalid)."""
    match = _TRACEPARENT.match(value.strip())
    if match is None:
        return None
    version, trace_id, span_id, _, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if not any(c != "0" for c in trace_id) or not any(c != "0" for c in span_id):
        return None
    return trace_id, span_id


def otlp_environment(endpoint: str, batch_delay_ms: int = BATCH_DELAY_MS) -> dict[str, str]:
    """The standard OTLP variables that point an agent's OpenTelemetry SDK at the harness's
    receiver (`endpoint` its base URL): traces over OTLP/HTTP protobuf, exported within
    `batch_delay_ms` of a span's end."""
    base = endpoint.rstrip("/")
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": base,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{base}/v1/traces",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": str(batch_delay_ms),
    }


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _nonzero(hex_id: str) -> str:
    # all zeros is W3C's invalid id; a digest of 64 or 128 zero bits is only a formality
    return hex_id if any(c != "0" for c in hex_id) else "0" * (len(hex_id) - 1) + "1"
