"""What one sign-off gate found: its status, whether it blocks, its findings and the
requirements it names. Each gate is a function of stored data returning one of these."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.empty import empty_list

PASS, FAIL, NOT_MEASURED = "pass", "fail", "not measured"


@dataclass
class GateResult:
    name: str
    title: str
    status: str  # pass | fail | not measured
    optional: bool = False
    detail: str = ""
    #: one line per failing or unmeasured item
    findings: list[str] = field(default_factory=empty_list)
    requirements: list[str] = field(default_factory=empty_list)  # the requirements it names

    @property
    def blocking(self) -> bool:
        return self.status == FAIL or (self.status == NOT_MEASURED and not self.optional)


def status(fails: bool, missing: bool) -> str:
    """fail over not measured over pass."""
    return FAIL if fails else (NOT_MEASURED if missing else PASS)
