"""The small, frozen, serialisable types the data flows through.

spec -> Case -> (trial) -> Observation -> CheckResult (verdict) -> report.
Every record the engine stores is built from these and read back into them, so
reports are always made from stored data, never from live state.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson

from harness.spec.relative import Relative
from harness.spec.template import format_value

RECORD_VERSION = 1
TWIN = "+dup"  # case id suffix of the second conversation of a load run's duplicate pair
SWEEP_CASE = "(run)"  # the case id of the run-wide invariant sweep: no case of the suite


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Case:
    """One concrete, reproducible instance of a scenario: replays from (suite, seed, id)."""

    id: str
    scenario: str
    index: int
    seed: int
    vars: dict[str, Any] = field(default_factory=dict)
    setup: dict[str, dict[str, Any]] = field(default_factory=dict)
    origin: str = "scenario"
    persona: str = "plain"
    #: seeds the persona's choices (typo positions...); 0: the case's own seed
    persona_seed: int = 0
    #: fresh setup values for each metamorphic variant of the scenario
    variant_setups: list[dict[str, dict[str, Any]]] = field(default_factory=list)
    #: for a regression case: the check it broke when it was found
    target: str | None = None

    def session_id(self, run_id: str, trial: int = 1) -> str:
        digest = hashlib.blake2s(f"{run_id}/{self.id}/{trial}".encode(), digest_size=6).hexdigest()
        return f"h-{digest}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scenario": self.scenario,
            "index": self.index,
            "seed": self.seed,
            "vars": self.vars,
            "setup": self.setup,
            "origin": self.origin,
            "persona": self.persona,
            **({"persona_seed": self.persona_seed} if self.persona_seed else {}),
            **({"variant_setups": self.variant_setups} if self.variant_setups else {}),
            **({"target": self.target} if self.target else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Case:
        return cls(
            id=d["id"],
            scenario=d["scenario"],
            index=d["index"],
            seed=d["seed"],
            vars=d.get("vars", {}),
            setup=d.get("setup", {}),
            origin=d.get("origin", "scenario"),
            persona=d.get("persona", "plain"),
            persona_seed=d.get("persona_seed", 0),
            variant_setups=d.get("variant_setups", []),
            target=d.get("target"),
        )


@dataclass(slots=True)
class TurnRecord:
    """One message sent to the agent and what came back."""

    index: int
    text: str
    reply: str | None = None
    latency_ms: float = 0.0
    status: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "text": self.text,
            "reply": self.reply,
            "latency_ms": round(self.latency_ms, 3),
            "status": self.status,
            "error": self.error,
        }


@dataclass(slots=True)
class Observation:
    """What one trial of a case produced: the conversation, the rows it set up, timings."""

    session_id: str
    turns: list[TurnRecord] = field(default_factory=list)
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)
    started_at: str = ""
    duration_ms: float = 0.0
    error: str | None = None
    #: metamorphic rewordings of the same case, each on its own fresh rows
    variants: list[Observation] = field(default_factory=list)

    @property
    def replies(self) -> list[str | None]:
        return [t.reply for t in self.turns]

    def to_dict(self) -> dict[str, Any]:
        out = {
            "session_id": self.session_id,
            "turns": [t.to_dict() for t in self.turns],
            "entities": self.entities,
            "started_at": self.started_at,
            "duration_ms": round(self.duration_ms, 3),
            "error": self.error,
        }
        if self.variants:
            out["variants"] = [v.to_dict() for v in self.variants]
        return out


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The verdict of one check on one trial, with the evidence a person needs."""

    check_id: str
    check_type: str
    category: str  # output | state | invariant
    requirements: tuple[str, ...]
    verdict: Verdict
    message: str = ""
    expected: Any = None
    found: Any = None

    @property
    def signature(self) -> tuple[str, str, str]:
        """Equal for duplicates of the same failure, so reports can de-duplicate."""
        return (",".join(self.requirements), self.check_id, self.verdict.value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check_id": self.check_id,
            "check_type": self.check_type,
            "category": self.category,
            "requirements": list(self.requirements),
            "verdict": self.verdict.value,
            "message": self.message,
            "expected": self.expected,
            "found": self.found,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckResult:
        return cls(
            check_id=d["check_id"],
            check_type=d["check_type"],
            category=d["category"],
            requirements=tuple(d["requirements"]),
            verdict=Verdict(d["verdict"]),
            message=d.get("message", ""),
            expected=d.get("expected"),
            found=d.get("found"),
        )


@dataclass(slots=True)
class CaseResult:
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

    def to_record(self) -> dict[str, Any]:
        return {
            "v": RECORD_VERSION,
            "key": self.key,
            "case": self.case.to_dict(),
            "trial": self.trial,
            "observation": self.observation.to_dict(),
            "checks": [c.to_dict() for c in self.checks],
        }


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
    if isinstance(value, Decimal | dt.date | dt.datetime | dt.time | Relative):
        return format_value(value)
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)
