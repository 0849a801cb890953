"""A load run's part of the manifest: its levels, samples, processes and totals."""

from typing import Any

from pydantic import Field

from harness.empty import empty_dict, empty_list
from harness.runlog.base import Record


class LoadLevel(Record):
    """Conversations judged at one level of users (0 users, a ramp-down, is no level)."""

    users: int
    trials: int
    passes: int
    pass_rate: float | None = None
    invariant_violations: int = 0

    @property
    def rate(self) -> float:
        return self.passes / self.trials if self.trials else 0.0

    @property
    def violations(self) -> int:
        return self.invariant_violations


class LoadSample(Record):
    """Every invariant over the whole database at one moment of a load run."""

    at: float = 0.0  # seconds since the load started
    violations: dict[str, int] = Field(default_factory=empty_dict)  # invariant id -> violating rows
    #: first rows: evidence
    rows: dict[str, list[dict[str, Any]]] = Field(default_factory=empty_dict)
    errors: dict[str, str] = Field(default_factory=empty_dict)  # invariant id -> why not sampled


class LoadProcess(Record):
    """One load generator process: as the harness started it (its log), and as it last
    reported itself (a worker on another machine only so: `remote`)."""

    role: str = "?"  # local | master | worker
    pid: int = 0
    log: str | None = None  # its log's file name in the run folder
    remote: bool = False
    index: int | None = None
    requests: int = 0
    failures: int = 0
    final: bool = False  # its totals at the end arrived


class WorkerTotals(Record):
    requests: int = 0
    failures: int = 0


class LocustTotals(Record):
    """Locust's own count of the requests sent, and each worker's (by locust's node id)."""

    requests: int = 0
    failures: int = 0
    workers: dict[str, WorkerTotals] = Field(default_factory=empty_dict)


class AgentExit(Record):
    """The agent process died during a load run, which was cut short there."""

    code: int | None = None
    at: float = 0.0  # seconds since the load started


class LoadFaultWindow(Record):
    """A fault window of a load profile as it was applied on the load's clock: the toxic
    (Toxiproxy's names), when it was planned and when it was actually on (seconds since the
    load started), and the connections its toxicity was drawn for and hit (the link's seed)."""

    link: str
    toxic: str  # the kind: latency, reset_peer, down...
    name: str = ""  # the toxic's name on its link (unique per window)
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: dict[str, int] = Field(default_factory=empty_dict)
    at: float = 0.0  # planned start, seconds since the load started
    for_s: float = 0.0  # planned length
    started: float | None = None  # when it was applied (None: the load ended before)
    ended: float | None = None  # when it was removed
    seed: int | None = None  # the link's seed: which connections a toxicity hits replays
    connections: int = 0  # connections the toxic was drawn for (open or opened while on)
    affected: int = 0  # of those, the ones it hit
    error: str | None = None  # why it could not be applied

    @property
    def share(self) -> float | None:
        """The observed share of connections hit (None when none was drawn for)."""
        return self.affected / self.connections if self.connections else None


class LoadInfo(Record):
    """A load run's profile and, as it runs, its timeline, samples, counts and processes."""

    profile: str = ""
    shape: str = ""
    schedule: list[list[float]] = Field(default_factory=empty_list)  # [start, end, users, rate]
    length_s: float = 0.0
    peak_users: int = 0
    window_s: float = 0.0
    sample_every_s: float = 0.0
    duplicates: dict[str, Any] = Field(default_factory=empty_dict)
    scenarios: list[str] = Field(default_factory=empty_list)
    workers: int = 0
    t0: float | None = None
    users_timeline: list[list[float]] = Field(default_factory=empty_list)
    samples: list[LoadSample] = Field(default_factory=empty_list)
    counts: dict[str, int] = Field(default_factory=empty_dict)
    waited_s: float = 0.0
    processes: list[LoadProcess] = Field(default_factory=empty_list)
    locust: LocustTotals | None = None
    stop_timeout_s: float | None = None
    agent_exit: AgentExit | None = None
    faults: list[LoadFaultWindow] = Field(default_factory=empty_list)  # the profile's fault windows
