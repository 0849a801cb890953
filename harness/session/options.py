"""What every command's session is given: the suite, where runs go, seed, group, the
dependencies' provider and images, and the run to resume. Each driver adds its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.deps.options import DepsOptions


@dataclass
class SessionOptions:
    suite: Path | None = None  # None: a resumed run's recorded suite
    reports_dir: Path | None = None
    seed: int | None = None  # None: the suite's
    group: str | None = None  # runs that belong together, e.g. one release's sign-off
    deps: DepsOptions = field(default_factory=DepsOptions)
    resume: str | None = None  # a run id to finish
