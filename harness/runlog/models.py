"""The run log as data: a versioned manifest (one model per kind of run) and the records of
`cases.jsonl`, written and read through these types only.

Schema 1 is every run folder written before the log was typed (no `schema_version` in the
manifest, `v: 1` records whose errors are text): it reads into the same models.

The load run's parts are in `loadinfo.py`, the base and the status reader in `base.py`;
every name is importable from here.
"""

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from harness.core.events import Status
from harness.core.types import SWEEP_CASE, Case, CheckResult, DependencyInfo, Observation
from harness.empty import empty_dict, empty_list
from harness.runlog.base import LEGACY_STATUS, Record, StoredStatus, legacy_status
from harness.runlog.loadinfo import (
    AgentExit,
    LoadFaultWindow,
    LoadInfo,
    LoadLevel,
    LoadProcess,
    LoadSample,
    LocustTotals,
    WorkerTotals,
)
from harness.runlog.owner import Owner

SCHEMA_VERSION = 2


# --------------------------------------------------------------------------- manifest parts


class Attempt(Record):
    """One process's go at the run (a resumed run has several)."""

    started_at: str
    cases: int = 0
    finished_at: str | None = None
    status: StoredStatus | None = None
    error: str | None = None


class Phases(Record):
    """Seconds spent bringing up the dependencies and the agent, running the driver (cases,
    search or load) and writing the reports; a resumed run adds its attempt's."""

    dependencies: float = 0.0
    agent: float = 0.0
    cases: float = 0.0
    reports: float = 0.0

    def add(self, phase: str, seconds: float) -> None:
        setattr(self, phase, round(getattr(self, phase) + seconds, 3))


class RequirementInfo(Record):
    id: str
    title: str = ""
    text: str = ""
    severity: str = "minor"
    parameters: list[str] = Field(default_factory=empty_list)
    #: a step of the real chain that must happen (the coverage gate's mandatory_steps)
    mandatory_step: bool = False


class CheckInfo(Record):
    """One entry of the suite's check inventory: what judges which requirements."""

    scenario: str = ""
    check_id: str
    type: str
    category: str
    requirements: list[str]
    description: str = ""
    conditional: bool = False
    source: str = ""


class AgentInfo(Record):
    pid: int | None = None
    ready_seconds: float | None = None
    version: str | None = None
    command: str | None = None
    git: dict[str, Any] | None = None
    interface: str | None = None  # how the harness talks to it: http, openai or python
    model: str | None = None  # openai: the model asked for
    #: openai: prices per model name, {input, output (per 1,000 tokens), currency}
    prices: dict[str, dict[str, Any]] | None = None


class TracesInfo(Record):
    """The run's OTLP receiver, when it traced: the spans that arrived, and of them those
    that came too late for their case (judged without them) or under no trace it sent."""

    endpoint: str = ""
    received: int = 0
    late: int = 0
    stray: int = 0


class DepsChoice(Record):
    """Which provider a run's dependencies came from, and why (see deps/select.py)."""

    requested: str | None = None
    chosen: str | None = None
    why: str = ""
    images: dict[str, dict[str, Any]] = Field(default_factory=empty_dict)


class Finding(Record):
    """A root cause a hunt found (and, unless --plain, saved as one regression case): its
    case, the others that failed the same way, and a flaky one's rate and later trials."""

    signature: str = ""  # the representative's requirement|scenario|check|verdict
    shape: str = ""  # the root cause: requirement|check type|verdict|kind|columns
    case_id: str
    scenario: str = ""
    requirement: str
    check: str
    message: str = ""
    tried: int = 0  # cases of its scenario tried before it was first seen
    path: str | None = None
    shrunk: bool = False
    regression_id: str | None = None
    members: list[str] = Field(default_factory=empty_list)  # "scenario: case id (check)"
    failures: int | None = None  # of `replays` confirmations (the finding's own run counted)
    replays: int | None = None
    trials: int | None = None  # set only when flaky: trials every later run replays it with
    # a drift case: its point (the shortest failing length), found at, seen passing at
    length: int | None = None
    position: str | None = None
    found_length: int | None = None
    passing_length: int | None = None


# --------------------------------------------------------------------------- the manifest


class ManifestBase(Record):
    """What every stored run records: the suite and spec exactly, seeds, versions, the
    environment it ran on, who runs it, how it ended."""

    schema_version: int = 1
    run_id: str = ""
    status: StoredStatus = Status.RUNNING
    suite: str = ""
    suite_path: str = ""
    suite_hash: str = ""
    spec_hash: str = ""
    spec_version: str | None = None
    spec_title: str = ""
    requirements: list[RequirementInfo] = Field(default_factory=empty_list)
    checks: list[CheckInfo] | None = None  # None: a run older than the check inventory
    regressions: list[str] = Field(default_factory=empty_list)
    #: regression files left out because they cannot be replayed: `path:line:col: why`
    unreadable_regressions: list[str] = Field(default_factory=empty_list)
    #: what the run found likely wrong in the suite itself, said in every report (a span
    #: check's name no span of the run had)
    suite_warnings: list[str] = Field(default_factory=empty_list)
    source: dict[str, Any] | None = None
    data_seeds: dict[str, int] = Field(default_factory=empty_dict)
    seed: int = 0
    concurrency: int = 1
    case_timeout: float = 120.0
    group: str | None = None
    deps_mode: str | None = None
    trials: int = 1
    harness_version: str = ""
    faker_version: str = ""
    hypothesis_version: str = ""
    python: str = ""
    started_at: str = ""
    finished_at: str | None = None
    attempts: list[Attempt] = Field(default_factory=empty_list)
    owner: Owner | None = None
    deps: DepsChoice | None = None
    dependencies: list[DependencyInfo] = Field(default_factory=empty_list)
    agent: AgentInfo | None = None
    traces: TracesInfo | None = None  # None: the run did not trace
    phases: Phases = Field(default_factory=Phases)
    error: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _schema_1(cls, data: Any) -> Any:
        """Schema 1 kept the owner as top-level pid and host."""
        if isinstance(data, dict) and "owner" not in data and isinstance(data.get("pid"), int):
            data = {**data, "owner": {"pid": data["pid"], "host": data.get("host", "")}}
            data.pop("pid", None)
            data.pop("host", None)
        return data

    @property
    def requirement_ids(self) -> list[str]:
        return [r.id for r in self.requirements]

    @property
    def finished(self) -> bool:
        return self.status == Status.FINISHED


class RunManifest(ManifestBase):
    kind: Literal["run"] = "run"
    select: list[str] = Field(default_factory=empty_list)
    repeat: int | None = None
    planned: int | None = None
    #: `harness run --faults NAME`: the fault profile its faulted phases played (cases
    #: `<id>~NAME`, `Case.fault`), alternating with clean phases of the same cases
    fault_profile: str | None = None
    #: with a fault profile: the scenarios it plays (its `scenarios:`, default every selected
    #: one), and the selected scenarios it does not play: not played at all in this run
    fault_scenarios: list[str] = Field(default_factory=empty_list)
    fault_unplayed: list[str] = Field(default_factory=empty_list)


class DriftPlan(Record):
    """Where one drift scenario is played: its lengths (the remembered turns at the start),
    and its positions compared at one length."""

    scenario: str
    lengths: list[int] = Field(default_factory=empty_list)
    positions: list[str] = Field(default_factory=empty_list)
    position_length: int | None = None


class DriftManifest(RunManifest):
    """harness drift: a run of the drift scenarios at every length and position (its cases
    are `scenario#n@length[-position]`); select, repeat and planned as a run's."""

    kind: Literal["drift"] = "drift"  # type: ignore[assignment]
    drift: list[DriftPlan] = Field(default_factory=empty_list)
    #: the suite's hash without its regression files (a drift run does not replay them, so
    #: a hunt saving one does not stop the run from being resumed)
    cases_hash: str = ""


class HuntManifest(ManifestBase):
    kind: Literal["hunt"]
    budget_seconds: float = 0.0
    plain: bool = False
    max_length: int | None = None  # --max-length: the longest drift length drawn
    scenarios: list[str] = Field(default_factory=empty_list)
    tried: int = 0
    repeats: int = 0
    found: list[Finding] = Field(default_factory=empty_list)


class ReplayManifest(ManifestBase):
    kind: Literal["replay"]
    case_id: str = ""
    times: int = 1


class LoadManifest(ManifestBase):
    kind: Literal["load"]
    load: LoadInfo = Field(default_factory=LoadInfo)
    levels: list[LoadLevel] = Field(default_factory=empty_list)


def manifest_kind(data: Any) -> str:
    if isinstance(data, BaseModel):
        return str(getattr(data, "kind", "run"))
    return str(data.get("kind") or "run") if isinstance(data, dict) else "run"


Manifest = Annotated[
    Annotated[RunManifest, Tag("run")]
    | Annotated[HuntManifest, Tag("hunt")]
    | Annotated[ReplayManifest, Tag("replay")]
    | Annotated[LoadManifest, Tag("load")]
    | Annotated[DriftManifest, Tag("drift")],
    Discriminator(manifest_kind),
]
AnyManifest = RunManifest | HuntManifest | ReplayManifest | LoadManifest | DriftManifest
#: `Manifest`'s tags and their models: a reader validates a manifest with its own kind's
#: model, so only that one's validator is built (read.parse_manifest)
MANIFEST_KINDS: dict[str, type[AnyManifest]] = {
    "run": RunManifest,
    "hunt": HuntManifest,
    "replay": ReplayManifest,
    "load": LoadManifest,
    "drift": DriftManifest,
}


# --------------------------------------------------------------------------- cases.jsonl


class LoadTag(Record):
    """Where a load run's conversation sat on the load's clock (see load/feeder.py)."""

    role: str = "single"  # single | first | second (a duplicate pair)
    users: int | None = None
    active: int | None = None
    window: int | None = None
    start: float | None = None
    at: list[float] = Field(default_factory=empty_list)
    pair: str | None = None
    worker: int | None = None
    agent_exited: int | None = None
    #: the profile's fault windows (1-based) this conversation overlapped: in no level
    faults: list[int] = Field(default_factory=empty_list)


class TrialRecord(Record):
    """One finished trial of a case: what ran, what it produced, every verdict."""

    v: int = SCHEMA_VERSION
    type: Literal["trial"] = "trial"
    key: str
    case: Case
    trial: int
    observation: Observation
    checks: list[CheckResult]
    load: LoadTag | None = None


class SweepRecord(Record):
    """The invariants over the whole database once an attempt's cases are done: the
    violations no case owns."""

    v: int = SCHEMA_VERSION
    type: Literal["sweep"] = "sweep"
    key: str
    attempt: int
    checks: list[CheckResult]

    @model_validator(mode="before")
    @classmethod
    def _schema_1(cls, data: Any) -> Any:
        """Schema 1 stored the sweep as a trial of a pseudo-case `(run)`."""
        if isinstance(data, dict) and "attempt" not in data and "trial" in data:
            data = {**data, "attempt": data["trial"], "type": "sweep"}
        return data


def _record_type(data: Any) -> str:
    if isinstance(data, BaseModel):
        return str(getattr(data, "type", "trial"))
    if not isinstance(data, dict):
        return "trial"
    if "type" in data:
        return str(data["type"])
    case = data.get("case")
    return "sweep" if isinstance(case, dict) and case.get("id") == SWEEP_CASE else "trial"


AnyRecord = Annotated[
    Annotated[TrialRecord, Tag("trial")] | Annotated[SweepRecord, Tag("sweep")],
    Discriminator(_record_type),
]


__all__ = [
    "LEGACY_STATUS",
    "MANIFEST_KINDS",
    "SCHEMA_VERSION",
    "AgentExit",
    "LoadFaultWindow",
    "LoadInfo",
    "LoadLevel",
    "LoadProcess",
    "LoadSample",
    "LocustTotals",
    "Record",
    "StoredStatus",
    "WorkerTotals",
    "legacy_status",
]
