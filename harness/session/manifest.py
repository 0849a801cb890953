"""What every stored run records about its suite, spec, seeds and versions."""

from __future__ import annotations

import sys
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import harness
from harness.check.inventory import check_inventory
from harness.run.regressions import known as known_regressions
from harness.runlog.models import CheckInfo, RequirementInfo
from harness.runlog.store import now_iso
from harness.spec.suite import Suite
from harness.spec.trace import data_seeds, source_revision


def suite_fields(
    suite: Suite, *, seed: int, concurrency: int, case_timeout: float | None, group: str | None
) -> dict[str, Any]:
    """The manifest fields every kind of run shares: the suite and spec exactly, seeds,
    versions; the drivers add their own."""
    saved = known_regressions(suite)
    return {
        "suite": suite.name,
        "suite_path": str(suite.root),
        "suite_hash": suite.suite_hash,
        "spec_hash": suite.spec_hash,
        "spec_version": suite.spec.version,
        "spec_title": suite.spec.title,
        "requirements": [RequirementInfo(**r.model_dump()) for r in suite.spec.requirements],
        # what judges each requirement, for traceability and coverage in a sign-off
        "checks": [CheckInfo(**c) for c in check_inventory(suite)],
        "regressions": [c.id for c in saved.cases],
        "unreadable_regressions": [str(p) for p in saved.unreadable],
        "source": source_revision(suite.root),
        "data_seeds": data_seeds(suite),
        "seed": seed,
        "concurrency": concurrency,
        "case_timeout": case_timeout or suite.manifest.defaults.case_timeout,
        "group": group,
        "harness_version": harness.__version__,
        "faker_version": _version("faker"),
        "hypothesis_version": _version("hypothesis"),
        "python": sys.version.split()[0],
        "started_at": now_iso(),
    }


@cache
def _version(package: str) -> str:
    """A generator library's version, without importing it (hypothesis takes a while)."""
    try:
        return version(package)
    except PackageNotFoundError:
        return ""
