"""Where a run's inputs came from: the git revisions of the suite and the agent, data seeds."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from harness.spec.suite import Suite


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def source_revision(root: Path) -> dict[str, Any] | None:
    """The git commit of the repository holding the suite (and often the agent), and
    whether the suite's folder differs from it; None outside git or without git."""
    commit = _git(root, "rev-parse", "HEAD")
    if not commit:
        return None
    changes = _git(root, "status", "--porcelain", "--untracked-files=no", "--", ".")
    return {"commit": commit, "dirty": bool(changes)}


def agent_revision(cwd: Path) -> dict[str, Any] | None:
    """The git commit of the repository the agent runs from, and how many files differ
    from it anywhere in that repository, untracked ones included (`git status
    --porcelain`); None when the folder is no git checkout (or git is missing)."""
    commit = _git(cwd, "rev-parse", "HEAD")
    top = _git(cwd, "rev-parse", "--show-toplevel")
    if not commit or not top:
        return None
    status = _git(cwd, "status", "--porcelain")
    changes = len(status.splitlines()) if status else 0
    return {"commit": commit, "dirty": changes > 0, "changes": changes, "repository": top}


def data_seeds(suite: Suite) -> dict[str, int]:
    """The seed of each dependency's generated seed data."""
    out: dict[str, int] = {}
    for name, dep in suite.manifest.environment.dependencies.items():
        seed = getattr(dep, "seed", None)
        if seed is not None and getattr(seed, "seed", None) is not None:
            out[name] = int(seed.seed)
    return out
