"""Failures as data: what went wrong in a trial (a kind, never a message prefix), a
failure's identity in one scenario (report grouping, the checks a regression case is
judged by) and its root cause across scenarios (what a hunt saves once), and the one order
of severities (`Severity`, a word of the suite format: spec/severity.py) and evidence."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from harness.spec.severity import Severity as Severity


class FailureKind(StrEnum):
    """Why a trial could not be judged normally. The first group is the agent's own doing
    (an error verdict that counts against it); SETUP, SUITE, CHECK and HARNESS are problems of
    the suite or the harness, never saved as the agent's regressions (still errors, never
    passes)."""

    CONNECTION = "connection"  # could not connect, or the connection broke
    TIMEOUT = "timeout"  # no reply within the adapter's timeout
    STATUS = "status"  # an HTTP status the turn did not expect
    REDIRECT = "redirect"  # a 3xx: the harness never follows it off the agent's address
    MALFORMED = "malformed"  # not JSON, no reply at the path, a null reply, not text
    TOO_LARGE = "too_large"  # over the adapter's size cap
    RAISED = "raised"  # a python agent raised
    AGENT_EXITED = "agent_exited"  # the agent's process had exited
    CASE_TIMEOUT = "case_timeout"  # the whole case did not finish in time
    CUT_SHORT = "cut_short"  # the load generator ended the conversation early
    SETUP = "setup"  # the case's setup rows were refused (a suite problem)
    SUITE = "suite"  # a template of the suite's own cannot be rendered (a suite mistake)
    CHECK = "check"  # a check or invariant raised while judged: its query, its parameters
    HARNESS = "harness"  # a fault of the harness itself

    @property
    def agent(self) -> bool:
        """Whether the failure is the agent's (judged against it), not the suite's or ours."""
        return self not in (
            FailureKind.SETUP,
            FailureKind.SUITE,
            FailureKind.CHECK,
            FailureKind.HARNESS,
        )


@dataclass(frozen=True, slots=True)
class Failure:
    """What stopped a call, a conversation or a case; `str()` reads as the evidence always did
    ("variant 2: turn 3: timeout: no reply within 15 s")."""

    kind: FailureKind
    message: str
    turn: int | None = None  # 1-based turn of the conversation it happened in
    variant: int | None = None  # the metamorphic variant (1-based) it happened in

    def __str__(self) -> str:
        where = f"variant {self.variant}: " if self.variant else ""
        where += f"turn {self.turn}: " if self.turn else ""
        return where + self.message

    def at(self, *, turn: int | None = None, variant: int | None = None) -> Failure:
        """The same failure, placed in a turn or a variant of the case."""
        return Failure(
            self.kind,
            self.message,
            turn if turn is not None else self.turn,
            variant if variant is not None else self.variant,
        )

    def with_message(self, message: str, kind: FailureKind | None = None) -> Failure:
        return Failure(kind or self.kind, message, self.turn, self.variant)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value, "message": self.message}
        if self.turn:
            out["turn"] = self.turn
        if self.variant:
            out["variant"] = self.variant
        return out

    @classmethod
    def from_stored(cls, value: Any) -> Failure | None:
        """A stored failure: a mapping, or the plain text records before schema 2 kept."""
        if value is None:
            return None
        if isinstance(value, Failure):
            return value
        if isinstance(value, dict):
            return cls(
                FailureKind(value["kind"]),
                str(value.get("message", "")),
                value.get("turn"),
                value.get("variant"),
            )
        return legacy_failure(str(value))


#: message beginnings of the plain-text errors that run folders before schema 2 hold; only
#: the reader of such old folders decodes text, nothing new ever does
_LEGACY = (
    ("setup of ", FailureKind.SETUP),
    ("harness fault: ", FailureKind.HARNESS),
    ("timeout: ", FailureKind.TIMEOUT),
    ("connection failed", FailureKind.CONNECTION),
    ("malformed reply", FailureKind.MALFORMED),
    ("reply exceeds the size cap", FailureKind.TOO_LARGE),
    ("HTTP 3", FailureKind.REDIRECT),
    ("HTTP ", FailureKind.STATUS),
    ("the agent raised", FailureKind.RAISED),
    ("the case did not finish within", FailureKind.CASE_TIMEOUT),
    ("the load generator ended", FailureKind.CUT_SHORT),
)


def legacy_failure(text: str) -> Failure:
    """A failure read from an old record's text, with its turn and variant prefixes."""
    variant = turn = None
    rest = text
    if rest.startswith("variant ") and ": " in rest:
        head, _, tail = rest.partition(": ")
        if head[8:].isdigit():
            variant, rest = int(head[8:]), tail
    if rest.startswith("turn ") and ": " in rest:
        head, _, tail = rest.partition(": ")
        if head[5:].isdigit():
            turn, rest = int(head[5:]), tail
    kind = next((k for prefix, k in _LEGACY if rest.startswith(prefix)), FailureKind.CONNECTION)
    if "the agent process had exited" in rest:
        kind = FailureKind.AGENT_EXITED
    return Failure(kind, rest, turn, variant)


class Category(StrEnum):
    """What a check looks at. The real systems' state is the strongest evidence, so it
    sorts first."""

    STATE = "state"
    INVARIANT = "invariant"
    CALL = "call"  # requests a stubbed third-party service received
    TRACE = "trace"  # spans the agent sent
    OUTPUT = "output"

    @staticmethod
    def rank_of(value: str | None) -> int:
        order = ("state", "invariant", "call", "trace", "output")
        return order.index(value) if value in order else len(order)


@dataclass(frozen=True, slots=True)
class FailureKey:
    """One failure's identity in a scenario: equal for the same failure found twice (in a
    report's groups, in a regression file's `signature` and `breaks`). A hunt groups by
    the coarser FailureShape."""

    requirement: str
    scenario: str
    check_id: str
    verdict: str

    def __str__(self) -> str:
        return "|".join((self.requirement, self.scenario, self.check_id, self.verdict))

    @classmethod
    def parse(cls, text: str) -> FailureKey | None:
        parts = text.split("|")
        return cls(*parts[:4]) if len(parts) >= 4 else None


@dataclass(frozen=True, slots=True)
class FailureShape:
    """A failure's root cause as a hunt sees it, across scenarios: the requirement, the check
    type, the verdict, the failure kind (of an error) and which expected-vs-found columns
    differ. One random defect that breaks the same check of twenty scenarios is one shape,
    so a hunt saves one regression case for it and lists the other scenarios as members."""

    requirement: str
    check_type: str
    verdict: str
    kind: str = ""  # the FailureKind of an error verdict; empty for a fail
    columns: tuple[str, ...] = ()  # the expected-vs-found columns that differ ("#rows": count)

    def __str__(self) -> str:
        return "|".join(
            (self.requirement, self.check_type, self.verdict, self.kind, ",".join(self.columns))
        )

    @classmethod
    def parse(cls, text: str) -> FailureShape | None:
        parts = text.split("|")
        if len(parts) != 5:
            return None
        columns = tuple(c for c in parts[4].split(",") if c)
        return cls(parts[0], parts[1], parts[2], parts[3], columns)


ROWS = "#rows"  # the column name of "a different number of rows"


def differing_columns(expected: Any, found: Any) -> tuple[str, ...]:
    """Which columns of the expected rows the found ones differ in (sorted), `#rows` when
    their number differs; nothing for values that are not rows (an output check's text)."""
    if isinstance(expected, dict) and isinstance(found, dict):
        return tuple(sorted(k for k in expected if str(found.get(k)) != str(expected[k])))
    if not (isinstance(expected, list) and isinstance(found, list)):
        return ()
    rows_e = [r for r in expected if isinstance(r, dict)]
    rows_f = [r for r in found if isinstance(r, dict)]
    out: set[str] = set()
    if len(expected) != len(found):
        out.add(ROWS)
    for i, row in enumerate(rows_e):
        if any(all(str(f.get(k)) == str(v) for k, v in row.items()) for f in rows_f):
            continue  # this expected row was found as it is
        if i < len(rows_f):
            out.update(k for k, v in row.items() if str(rows_f[i].get(k)) != str(v))
    return tuple(sorted(out))
