"""The small, serialisable types the data flows through, and the run log is made of.

spec -> Case -> (trial) -> Observation -> CheckResult (verdict) -> report.
They are slotted dataclasses: cheap to build on the engine's hot path, written to the
run log by orjson as they are, and validated back into the same types when the log is
read (harness/runlog: pydantic validates dataclass fields, and gives the log its JSON
Schema). Values that came from a database or a generator (decimals, dates, relative
dates) are kept as they are while a trial runs and written as text.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, BeforeValidator

from harness.core.calls import ServiceRequest
from harness.core.failures import (
    Failure,
    FailureKey,
    FailureKind,
    FailureShape,
    differing_columns,
)
from harness.core.spans import Span
from harness.empty import empty_dict, empty_list
from harness.spec.relative import Relative
from harness.spec.template import format_value

TWIN = "+dup"  # case id suffix of the second conversation of a load run's duplicate pair
SWEEP_CASE = "(run)"  # the case id of the run-wide invariant sweep: no case of the suite


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"


def _failure(value: Any) -> Any:
    return Failure.from_stored(value) if not isinstance(value, Failure) else value


#: a failure as stored: {kind, message, turn?, variant?}; old run folders held plain text
StoredFailure = Annotated[Failure | None, BeforeValidator(_failure)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One concrete, reproducible instance of a scenario: replays from (suite, seed, id)."""

    id: str
    scenario: str
    index: int
    seed: int
    vars: dict[str, Any] = field(default_factory=empty_dict)
    setup: dict[str, dict[str, Any]] = field(default_factory=empty_dict)
    origin: str = "scenario"  # scenario | regression | hunt | invariant-sweep
    persona: str = "plain"
    #: seeds the persona's choices (typo positions...); 0: the case's own seed
    persona_seed: int = 0
    #: fresh setup values for each metamorphic variant of the scenario
    variant_setups: list[dict[str, dict[str, Any]]] = field(default_factory=empty_list)
    #: for a regression case: the checks it broke when it was found, comma-separated (its
    #: own check, the one its file is named after, first)
    target: str | None = None
    #: for a regression case: its file's requirement and root cause (FailureShape as text)
    requirement: str | None = None
    shape: str | None = None
    #: a drift scenario's point: filler turns before the probe, and where the remembered
    #: turns sit among them (None: not a drift case; a plain run plays the shortest length)
    length: int | None = None
    position: str | None = None
    #: the fault profile this case is played under (`harness run --faults NAME`: its faulted
    #: phase); None: clean (a scenario's own `faults:` apply whatever this says)
    fault: str | None = None

    def session_id(self, run_id: str, trial: int = 1) -> str:
        digest = hashlib.blake2s(f"{run_id}/{self.id}/{trial}".encode(), digest_size=6).hexdigest()
        return f"h-{digest}"

    def renamed(self, case_id: str) -> Case:
        return dataclasses.replace(self, id=case_id)

    def to_dict(self) -> dict[str, Any]:
        """The case as plain data, its values as they are (dates and decimals stay typed)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(slots=True, kw_only=True)
class TurnRecord:
    """One message sent to the agent and what came back."""

    index: int
    text: str
    reply: str | None = None
    latency_ms: float = 0.0
    status: int | None = None
    error: StoredFailure = None
    #: the reply's JSON (fields a check can judge); a stream's assembled reply
    data: Any = None
    first_byte_ms: float | None = None  # time to the first byte, a stream's first event
    usage: dict[str, int] | None = None  # tokens, when the agent reports them
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    #: where the turn came from when not the scenario's script: `filler:<pool>`,
    #: `answer:<rule>` (the reactive user), `remember`, `probe`
    source: str | None = None
    #: when it was sent, Unix nanoseconds (the clock of spans and service requests); 0 unknown
    sent_ns: int = 0


@dataclass(slots=True, kw_only=True)
class FaultWindow:
    """One fault as it was applied during a trial: the toxic (Toxiproxy's names), when it
    started and ended (Unix ns), the turns it covered, the connections it saw and hit (its
    toxicity's draw), and how long the agent took to answer correctly again after it ended."""

    link: str
    toxic: str  # the kind: latency, reset_peer, down...
    name: str = ""
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: dict[str, int] = field(default_factory=empty_dict)
    after_sent: str | None = None  # the regex the agent's bytes had to match (ours)
    times: int | None = None  # the most connections it could act on (ours)
    source: str = ""  # "scenario" or "profile:<name>"
    started_ns: int = 0
    ended_ns: int = 0
    first_turn: int | None = None  # 1-based turns sent while it was active
    last_turn: int | None = None
    connections: int = 0  # new connections on the link while it was active
    affected: int = 0  # of those, the ones its toxicity drew
    recovered_ms: float | None = None  # a recovery check's measurement, when one ran


@dataclass(slots=True, kw_only=True)
class Observation:
    """What one trial of a case produced: the conversation, the rows it set up, timings."""

    session_id: str
    turns: list[TurnRecord] = field(default_factory=empty_list)
    entities: dict[str, dict[str, Any]] = field(default_factory=empty_dict)
    started_at: str = ""
    duration_ms: float = 0.0
    error: StoredFailure = None
    #: metamorphic rewordings of the same case, each on its own fresh rows
    variants: list[Observation] = field(default_factory=empty_list)
    #: what the conversation captured (ids, tokens: masked when stored)
    session: dict[str, Any] = field(default_factory=empty_dict)
    #: the requests around its turns (login, open, close) and what became of them
    calls: list[dict[str, Any]] = field(default_factory=empty_list)
    #: the vars this trial used: the case's, with fresh values where they must be unique
    #: (trials 2.., variants, a redraw after a clash); relative ones in words and resolved
    vars: dict[str, Any] = field(default_factory=empty_dict)
    #: the trace the harness sent with its turns (`traceparent`), when it traced the case
    trace_id: str | None = None
    #: the spans the agent sent under that trace (capped and masked when received)
    spans: list[Span] = field(default_factory=empty_list)
    #: what the harness knows of spans it did not keep: over the cap, or under other traces
    #: while the case ran (an agent that ignores `traceparent`)
    spans_dropped: int = 0
    spans_stray: int = 0
    #: spans of earlier cases of the run that had arrived after those cases were judged, by
    #: the time this one was (an exporter whose batch delay outlasts the settle time)
    spans_late: int = 0
    #: requests the stubbed third-party services received for this case
    requests: list[ServiceRequest] = field(default_factory=empty_list)
    #: requests of no case each stubbed service (by name) received while this case was in
    #: flight (an agent that does not propagate `traceparent` or carry the match value)
    requests_stray: dict[str, int] = field(default_factory=empty_dict)
    #: the faults applied on the agent's links while this trial ran, as they happened
    faults: list[FaultWindow] = field(default_factory=empty_list)

    @property
    def replies(self) -> list[str | None]:
        """The conversation's replies, without a recovery check's probes (the harness's
        measurement after the faults, judged by that check alone)."""
        return [t.reply for t in self.turns if t.source != "recovery"]

    @property
    def agent_failed(self) -> bool:
        """The trial ended early through the agent's own doing (not the suite's or ours)."""
        return self.error is not None and self.error.kind.agent

    def fail(self, failure: Failure) -> None:
        """Record what stopped the trial; the first failure is the one that counts."""
        if self.error is None:
            self.error = failure


@dataclass(slots=True, kw_only=True)  # not frozen: built twice a case, ~3x faster so
class CheckResult:
    """The verdict of one check on one trial, with the evidence a person needs."""

    check_id: str
    check_type: str
    category: str  # output | state | invariant (harness.core.Category)
    requirements: tuple[str, ...]
    verdict: Verdict
    message: str = ""
    expected: Any = None
    found: Any = None
    #: the turn after which the failure was seen: the first failing turn of a check judged
    #: after every turn (`every_turn`), the reply an output check judged, else the last turn
    turn: int | None = None
    #: why an error could not be judged: what stopped the trial, or `check` (the check
    #: raised); None for a pass, a fail, an error the check itself found (no trace came, no
    #: fault was applied), and the errors of records written before it was kept
    cause: FailureKind | None = None

    def key(self, scenario: str) -> FailureKey:
        """This result's failure identity in a scenario (see FailureKey)."""
        return FailureKey(self.requirements[0], scenario, self.check_id, self.verdict.value)


@dataclass(slots=True, kw_only=True)
class CaseResult:
    """One finished trial: the case, what it produced, every verdict."""

    case: Case
    trial: int
    observation: Observation
    checks: list[CheckResult]

    @property
    def verdict(self) -> Verdict:
        verdicts = {c.verdict for c in self.checks}
        if Verdict.ERROR in verdicts:
            return Verdict.ERROR
        return Verdict.FAIL if Verdict.FAIL in verdicts else Verdict.PASS

    @property
    def key(self) -> str:
        return f"{self.case.id}@{self.trial}"

    def failing_keys(self) -> list[FailureKey]:
        return [c.key(self.case.scenario) for c in self.checks if c.verdict is not Verdict.PASS]

    def shape(self, check: CheckResult) -> FailureShape:
        """The root cause a failing check of this trial shows (see FailureShape)."""
        error = self.observation.error
        kind = ""
        if check.verdict is Verdict.ERROR:
            cause = check.cause or (error.kind if error is not None else None)
            kind = cause.value if cause is not None else ""
        return FailureShape(
            check.requirements[0],
            check.check_type,
            check.verdict.value,
            kind,
            differing_columns(check.expected, check.found) if not kind else (),
        )

    def failing_shapes(self) -> list[FailureShape]:
        return [self.shape(c) for c in self.checks if c.verdict is not Verdict.PASS]


@dataclass(slots=True, kw_only=True)
class DependencyInfo:
    """What the reports record about a dependency: where it came from and how fast it was up."""

    name: str
    kind: str
    provider: str
    version: str = ""
    source: str = ""  # binary path, image reference or external URL (without secrets)
    digest: str = ""
    ready_seconds: float = 0.0
    fixtures_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=empty_dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def as_data(value: Any) -> Any:
    """A core value (or a structure of them) as plain JSON data, as the run log stores it."""
    return orjson.loads(dumps(value))


def to_jsonable(value: Any) -> Any:
    """Decimals, dates and other database values as JSON-safe text."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(
        value, Decimal | dt.date | dt.datetime | dt.time | dt.timedelta | bytes | Relative
    ):
        return format_value(value) if not isinstance(value, bytes) else value.hex()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def dumps(record: Any) -> bytes:
    return orjson.dumps(record, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal | dt.date | dt.datetime | dt.time | dt.timedelta | Relative):
        return format_value(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, BaseModel):
        return value.model_dump()
    return str(value)


def _mapper(cls: type) -> Callable[[Any], dict[str, Any]]:
    """The map orjson makes of an instance of dataclass `cls` (every field, in order), made by
    one function generated once, as `dataclasses` makes `__init__`: orjson reads a slotted
    instance field by field through Python's attribute lookup, about four times slower."""
    names = [f.name for f in dataclasses.fields(cls)]
    source = "def as_map(o):\n    return {" + ", ".join(f"{n!r}: o.{n}" for n in names) + "}\n"
    scope: dict[str, Any] = {}
    exec(source, scope)  # the field names of our own classes, nothing else
    as_map: Callable[[Any], dict[str, Any]] = scope["as_map"]
    return as_map


_CASE, _OBSERVATION, _TURN, _CHECK = (
    _mapper(c) for c in (Case, Observation, TurnRecord, CheckResult)
)


def _values(cls: type, nested: dict[str, str] | None = None) -> Callable[[Any], tuple[Any, ...]]:
    """The values of an instance of dataclass `cls`, every field in order, without its field
    names (`nested`: field -> an expression of `o` to put there instead)."""
    nested = nested or {}
    names = [nested.get(f.name, f"o.{f.name}") for f in dataclasses.fields(cls)]
    source = "def values(o):\n    return (" + ", ".join(names) + ",)\n"
    scope: dict[str, Any] = {"TurnRecord": TurnRecord}
    exec(source, scope)  # the field names of our own classes, nothing else
    values: Callable[[Any], tuple[Any, ...]] = scope["values"]
    return values


_CASE_V, _TURN_V, _CHECK_V = (_values(c) for c in (Case, TurnRecord, CheckResult))
_OBSERVATION_V = _values(
    Observation,
    {
        "turns": "[_TURN_V(t) if type(t) is TurnRecord else t for t in o.turns]",
        "variants": "[_OBSERVATION_V(v) for v in o.variants]",
    },
)
_OBSERVATION_V.__globals__.update(_TURN_V=_TURN_V, _OBSERVATION_V=_OBSERVATION_V)


def strings_of(value: Any) -> Any:
    """What `as_map` makes of a value without the field names of our own classes: every
    string of the record that is not a field name, the same bytes once written by `dumps`
    (the run log looks for credential shapes in those alone: see runlog/store.py)."""
    kind = type(value)
    if kind is Observation:
        return _OBSERVATION_V(value)
    if kind is CheckResult:
        return _CHECK_V(value)
    if kind is Case:
        return _CASE_V(value)
    return value


def as_map(value: Any) -> Any:
    """A case, observation (its turns and variants too) or check result as the plain map
    `dumps` writes of it, byte for byte, faster (a trial's record, every case); anything else
    as it is."""
    kind = type(value)
    if kind is Observation:
        out = _OBSERVATION(value)
        out["turns"] = [_TURN(t) if type(t) is TurnRecord else t for t in value.turns]
        out["variants"] = [as_map(v) for v in value.variants]
        return out
    if kind is CheckResult:
        return _CHECK(value)
    if kind is Case:
        return _CASE(value)
    return value
