"""Results as a pandas DataFrame, one row per case x check, built from stored records only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from harness.core import SWEEP_CASE, dumps
from harness.run.store import MANIFEST, read_records

COLUMNS = [
    "run_id",
    "suite",
    "case_id",
    "scenario",
    "origin",
    "target",
    "trial",
    "seed",
    "session_id",
    "check_id",
    "check_type",
    "category",
    "requirements",
    "verdict",
    "message",
    "expected",
    "found",
    "turns",
    "entities",
    "vars",
    "case_error",
    "duration_ms",
    "started_at",
]


def load_manifest(run_dir: Path) -> dict[str, Any]:
    return dict(json.loads((run_dir / MANIFEST).read_text(encoding="utf-8")))


def _json(value: Any) -> str:
    return dumps(value).decode()


def results_frame(run_dir: Path, manifest: dict[str, Any] | None = None) -> pd.DataFrame:
    manifest = manifest or load_manifest(run_dir)
    rows: list[dict[str, Any]] = []
    for rec in read_records(run_dir):
        case, obs = rec["case"], rec["observation"]
        common = {
            "run_id": manifest["run_id"],
            "suite": manifest["suite"],
            "case_id": case["id"],
            "scenario": case["scenario"],
            "origin": case.get("origin", "scenario"),
            "target": case.get("target"),
            "trial": rec["trial"],
            "seed": str(case["seed"]),
            "session_id": obs["session_id"],
            "turns": _json(obs["turns"]),
            "entities": _json(obs["entities"]),
            "vars": _json(case.get("vars", {})),
            "case_error": obs.get("error"),
            "duration_ms": float(obs.get("duration_ms") or 0.0),
            "started_at": obs.get("started_at", ""),
        }
        for check in rec["checks"]:
            rows.append(
                {
                    **common,
                    "check_id": check["check_id"],
                    "check_type": check["check_type"],
                    "category": check["category"],
                    "requirements": ",".join(check["requirements"]),
                    "verdict": check["verdict"],
                    "message": check.get("message", ""),
                    "expected": _json(check.get("expected")),
                    "found": _json(check.get("found")),
                }
            )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.astype({"trial": "int64", "duration_ms": "float64"})


def save_parquet(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path, index=False)
    return path


def per_requirement(frame: pd.DataFrame, requirements: list[dict[str, Any]]) -> pd.DataFrame:
    """Pass rate per requirement; errors count as not passed; requirements without checks stay."""
    exploded = frame.assign(requirement=frame["requirements"].str.split(",")).explode("requirement")
    counts = (
        exploded.groupby(["requirement", "verdict"]).size().unstack(fill_value=0)
        if len(exploded)
        else pd.DataFrame()
    )
    out = []
    for req in requirements:
        rid = req["id"]
        row = counts.loc[rid] if rid in counts.index else {}
        passed, failed, errored = (int(row.get(v, 0)) for v in ("pass", "fail", "error"))
        total = passed + failed + errored
        mine = exploded.loc[exploded["requirement"] == rid, "case_id"]
        cases = mine[mine != SWEEP_CASE].nunique() if total else 0  # the sweep is no case
        out.append(
            {
                "requirement": rid,
                "severity": req.get("severity", ""),
                "title": req.get("title", ""),
                "cases": cases,
                "checks": total,
                "pass": passed,
                "fail": failed,
                "error": errored,
                "pass_rate": (passed / total) if total else float("nan"),
            }
        )
    return pd.DataFrame(out)


def divergences(frame: pd.DataFrame) -> pd.DataFrame:
    """Every failed or errored check, worst first (critical requirement ids sort by id)."""
    bad = frame[frame["verdict"] != "pass"]
    return bad.sort_values(["requirements", "scenario", "check_id", "case_id", "trial"])


def loads(text: str) -> Any:
    return orjson.loads(text) if text else None
