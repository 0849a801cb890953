"""One time window or one level of a load run: its traffic and what the judged conversations
showed (report/load.py fills them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.empty import empty_dict, empty_list
from harness.report.text import quantile


@dataclass
class Bucket:
    """One window or one level: its traffic and what the judged conversations showed."""

    key: int  # window number or users
    start: float = 0.0
    end: float = 0.0
    users: int = 0
    conversations: int = 0
    passes: int = 0
    latencies: list[float] = field(default_factory=empty_list)
    first_bytes: list[float] = field(default_factory=empty_list)  # of the turns that recorded one
    errors: int = 0
    violations: int = 0
    sampled: int = 0
    by_requirement: dict[str, list[int]] = field(default_factory=empty_dict)  # rid -> [n, passes]
    seconds: float = 0.0  # time spent in it, for requests per second
    p_value: float | None = None  # level vs the lowest level
    degraded: bool = False

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def pass_rate(self) -> float | None:
        return self.passes / self.conversations if self.conversations else None

    @property
    def rps(self) -> float | None:
        return self.requests / self.seconds if self.seconds > 0 else None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def percentile(self, q: float) -> float | None:
        return quantile(self.latencies, q)

    def first_byte(self, q: float) -> float | None:  # over the turns that have one
        return quantile(self.first_bytes, q)

    def rate(self, rid: str) -> float | None:
        n, p = self.by_requirement.get(rid, (0, 0))
        return p / n if n else None
