"""The demo's drift, end to end as a release engineer uses it: a hunt shrinks the memory-window
failure to the shortest conversation that still fails, and the sign-off's drift gate fails
with the defects on and passes without (a run and a drift run of one group)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.helpers import copy_demo, environ, harness, run_id_of

# memory_window reads the refund method from the last 24 messages: the preference (message 1)
# is gone once the refund (message n + 3) is the 13th: n = 10 fails, n = 9 passes
SHORTEST_FORGETTING = 10


def test_a_hunt_shrinks_the_memory_window_failure_to_the_shortest_failing_length(
    tmp_path: Path,
) -> None:
    suite = copy_demo(tmp_path)
    hunt = harness(
        "hunt", str(suite), "-k", "original-card-remembered", "--budget", "15s", "--seed", "3",
        "--no-progress", "--reports-dir", str(tmp_path / "reports"),
        env=environ(REFUND_DESK_DEFECTS="memory_window"), timeout=180,
    )  # fmt: skip
    assert hunt.returncode == 1, hunt.stderr
    (path,) = sorted((suite / "regressions").glob("*.yaml"))
    saved = yaml.safe_load(path.read_text())
    assert saved["requirement"] == "RD-013"
    assert (saved["length"], saved["position"]) == (SHORTEST_FORGETTING, "start")
    assert saved["found"]["longest_passing_length"] == SHORTEST_FORGETTING - 1
    assert f"shortest failing length {SHORTEST_FORGETTING}" in hunt.stderr
    # replayed from its file at its point: it fails there
    regression = f"regression:{saved['id']}"
    again = harness(
        "replay", regression, str(suite), "--reports-dir", str(tmp_path / "reports"),
        env=environ(REFUND_DESK_DEFECTS="memory_window"),
    )  # fmt: skip
    assert again.returncode == 1, again.stderr


def _signoff(tmp_path: Path, defects: str) -> dict[str, str]:
    reports = tmp_path / defects
    env = environ(REFUND_DESK_DEFECTS=defects)
    common = ("--reports-dir", str(reports), "--no-progress", "--group", "release")
    run = harness("run", "scenarios/refund_desk", *common, env=env, timeout=300)
    assert run.returncode in (0, 1), run.stderr
    drift = harness(
        "drift", "scenarios/refund_desk", *common, "--lengths", "0,8,16", env=env, timeout=300
    )
    assert drift.returncode == (1 if defects == "all" else 0), drift.stderr
    policy = tmp_path / "policy.yaml"  # the demo policy's drift gate alone
    policy.write_text("title: Refund desk drift\nk: 1\ngates:\n  drift: {min_length: 16}\n")
    signoff = harness(
        "signoff", run_id_of(run), "--policy", str(policy), "--reports-dir", str(reports),
        env=env,
    )  # fmt: skip
    verdict = json.loads((reports / run_id_of(run) / "signoff.json").read_text())
    gates = {g["name"]: g for g in verdict["gates"]}
    assert signoff.returncode == (1 if defects == "all" else 0), signoff.stderr
    drift_gate = gates["drift"]
    return {"status": drift_gate["status"], "findings": "\n".join(drift_gate["findings"])}


def test_the_signoff_drift_gate_fails_with_the_defects_and_passes_without(tmp_path: Path) -> None:
    on = _signoff(tmp_path, "all")
    assert on["status"] == "fail"
    assert "RD-001: holds up to n=0, degraded from n=8" in on["findings"]
    assert "RD-013: holds up to n=8, degraded from n=16" in on["findings"]
    off = _signoff(tmp_path, "none")
    assert off == {"status": "pass", "findings": ""}
