"""`harness hunt` finds the planted hard-part and boundary defects, shrinks and saves them;
with the correct agent it finds and writes nothing; saved cases replay the same."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.generate.traps import NAMES_HARD
from harness.run import regressions
from harness.spec.clock import parse_duration
from tests.helpers import copy_demo, environ, harness

GENERATED = (
    *("-k", "gen-amount-formats", "-k", "gen-names", "-k", "gen-window-edge"),
    *("-k", "gen-payout-cutoff-edge"),
)


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """The demo suite in its own folder, so hunts write their regressions there."""
    return copy_demo(tmp_path)


def in_copy(
    suite: Path, *args: str, defects: str, **agent_env: str
) -> subprocess.CompletedProcess[str]:
    """harness ARGS from the copy's root, its reports kept there too."""
    root = suite.parent.parent
    env = environ(
        REFUND_DESK_DEFECTS=defects,
        HARNESS_DEPS="embedded",
        HARNESS_REPORTS_DIR=str(root / "reports"),
        **agent_env,
    )
    return harness(*args, env=env, cwd=root, timeout=600)


def files(suite: Path) -> list[Path]:
    folder = suite / "regressions"
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def saved(suite: Path) -> dict[str, dict]:
    """The saved cases by requirement and scenario (of several, one: see files())."""
    return {
        f"{d['requirement']} {d['scenario']}": d
        for d in (yaml.safe_load(f.read_text()) for f in files(suite))
    }


def test_hunt_finds_shrinks_and_saves_the_planted_defects(suite: Path) -> None:
    # a seed of its own: the search repeats exactly. Seeds 2 to 7 find the thousands
    # separator after 41 to 257 cases of its scenario here, and a new seed each hunt failed
    # the test on a CI machine that ran too few of them in the budget; seed 4 finds it after
    # 41 (the scenario runs some 250 in the 45 s)
    hunt = in_copy(
        suite, "hunt", str(suite), "--budget", "45s", "--seed", "4", "--no-progress", *GENERATED,
        defects="all",
    )  # fmt: skip
    assert hunt.returncode == 1, hunt.stderr
    found = saved(suite)
    shapes = {d["shape"]: d for d in found.values()} | {
        d["shape"]: d for d in map(yaml.safe_load, map(Path.read_text, files(suite)))
    }
    # comma decimal, shrunk to the smallest amount in the simplest failing format: read as
    # 101.00, more than was paid, so no refund row at all (one root cause); a thousands
    # separator read as a decimal one ("1.000,00" as 1.00) is another: the amount differs
    comma = shapes["RD-004|sql|fail||#rows"]
    assert comma["scenario"] == "gen-amount-formats"
    assert comma["vars"] == {"amount": "1.01", "written": "1,01"}
    assert comma["found"]["shrunk"] is True
    assert shapes["RD-004|sql|fail||amount"]["scenario"] == "gen-amount-formats"
    # diacritics, shrunk to the first (shortest) hard name, typed as is
    names = found["RD-005 gen-names"]
    assert names["vars"]["name"] == NAMES_HARD[0] == names["vars"]["typed"]
    # a boundary of the spec's own refund window: inside the window, yet refused
    window = found["RD-003 gen-window-edge"]
    age, shipping = int(window["vars"]["age"]), int(window["vars"]["shipping_days"])
    assert 29 <= age <= 30 and age + shipping >= 30
    assert window["evidence"]["found"] == []
    # the payout cutoff: just inside the 24 h window, yet refused
    payout = found["RD-012 gen-payout-cutoff-edge"]
    assert payout["vars"]["lead"] == "24h3m" and payout["types"]["vars"]["lead"] == "duration"

    run = in_copy(suite, "run", str(suite), "--no-progress", *GENERATED, defects="all")
    assert run.returncode == 1, run.stderr
    assert f"known regressions: {len(shapes)} still failing, 0 now passing" in run.stderr

    rid = comma["id"]
    replay = in_copy(
        suite, "replay", f"regression:{rid}", str(suite), "--times", "3", defects="all"
    )
    assert replay.returncode == 1, replay.stderr
    assert "same verdict in 3 replays: fail" in replay.stderr
    assert "same failing checks in 3 replays" in replay.stderr
    assert replay.stderr.count("FAIL refund-recorded-exactly") == 3


def test_hunt_of_the_correct_agent_finds_and_writes_nothing(suite: Path) -> None:
    hunt = in_copy(
        suite, "hunt", str(suite), "--budget", "30s", "--no-progress", *GENERATED, defects="none"
    )
    assert hunt.returncode == 0, hunt.stderr
    assert "0 new divergence(s)" in hunt.stderr
    assert saved(suite) == {}


def test_hunt_shrinks_the_payout_cutoff_defect_to_just_inside_the_window(suite: Path) -> None:
    """payout_cutoff_buffer refuses cancellations up to 24 h 5 min ahead; only a moment within
    the suite's margin (3 min) of the 24 h cutoff shows it, and the hunt saves that moment,
    relative, so the saved case means the same moment whenever it is replayed."""
    only = ("-k", "gen-payout-cutoff-edge")
    hunt = in_copy(
        suite, "hunt", str(suite), "--budget", "20s", "--no-progress", *only,
        defects="payout_cutoff_buffer",
    )  # fmt: skip
    assert hunt.returncode == 1, hunt.stderr
    found = saved(suite)["RD-012 gen-payout-cutoff-edge"]
    assert found["check"] == "cancelled-before-cutoff" and found["found"]["shrunk"] is True
    lead = found["vars"]["lead"]
    assert found["types"]["vars"]["lead"] == "duration"  # read back as a duration, not text
    cutoff, margin = parse_duration("24h"), parse_duration("3m")
    assert cutoff < parse_duration(lead) <= cutoff + margin  # just inside the window's edge
    assert found["setup"]["payout"]["due_at"] == {"in": lead}  # relative, not an instant
    assert found["types"]["setup"]["payout"]["due_at"] == "relative"
    assert found["evidence"]["expected"] == [{"status": "cancelled"}]
    assert found["evidence"]["found"] == [{"status": "scheduled"}]

    still = in_copy(
        suite, "run", str(suite), "--no-progress", *only, defects="payout_cutoff_buffer"
    )
    assert still.returncode == 1, still.stderr
    assert "known regressions: 1 still failing, 0 now passing" in still.stderr
    fixed = in_copy(suite, "run", str(suite), "--no-progress", *only, defects="none")
    assert fixed.returncode == 0, fixed.stderr
    assert "known regressions: 0 still failing, 1 now passing" in fixed.stderr


# the flaky defect at a higher rate and seeded: the agent's misreadings are one fixed
# sequence per process, so the hunt and the run after it are the same every time
SEEDED_FLAKY = {"REFUND_DESK_MISREAD_RATE": "0.3", "REFUND_DESK_MISREAD_SEED": "11"}


def test_a_flaky_failure_is_saved_with_its_rate_and_replayed_until_seen(suite: Path) -> None:
    """Issue 12: a failure that came back on only some replays passed the confirmation and
    was lost. Now it is saved with its rate, and the next run replays it often enough."""
    only = ("-k", "gen-amount-formats")
    hunt = in_copy(
        suite, "hunt", str(suite), "--budget", "40s", "--seed", "1", "--no-progress", *only,
        defects="flaky_misread", **SEEDED_FLAKY,
    )  # fmt: skip
    assert hunt.returncode == 1, hunt.stderr
    [reg] = saved(suite).values()
    flaky = reg["flaky"]
    failures, replays, trials = flaky["failures"], flaky["replays"], flaky["trials"]
    assert 1 <= failures < replays, flaky  # did not fail on every replay
    assert trials == regressions.flaky_trials(failures, replays) >= 2
    assert reg["shape"] == "RD-004|sql|fail||amount"
    assert f"failed {failures} of {replays} runs, replayed {trials} times" in hunt.stderr

    run = in_copy(
        suite, "run", str(suite), "--no-progress", "-c", "1", *only,
        defects="flaky_misread", **SEEDED_FLAKY,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    said = f"is flaky (failed {failures} of {replays} runs when found: replayed {trials} times"
    assert said in run.stderr
    assert "known regressions: 1 still failing, 0 now passing" in run.stderr
    [folder] = [d for d in (suite.parent.parent / "reports").iterdir() if d.name != hunt_id(hunt)]
    records = [json.loads(x) for x in (folder / "cases.jsonl").read_text().splitlines()]
    replayed = [r for r in records if r.get("case", {}).get("id") == f"regression:{reg['id']}"]
    assert len(replayed) == trials
    summary = (folder / "summary.md").read_text()
    assert f"({trials} trials, failed in" in summary
    if trials > 1:  # a replay with fewer trials than the runs use says what a pass is worth
        replay = in_copy(
            suite, "replay", f"regression:{reg['id']}", str(suite),
            defects="flaky_misread", **SEEDED_FLAKY,
        )  # fmt: skip
        assert f"is flaky (failed {failures} of {replays} runs when found" in replay.stderr
        assert f"--times {trials}" in replay.stderr


def hunt_id(hunt: subprocess.CompletedProcess[str]) -> str:
    return hunt.stdout.split("run id:")[1].split()[0]


def test_one_random_defect_in_many_scenarios_is_one_file_per_root_cause(suite: Path) -> None:
    """Issue 12: one defect became 20 near-identical files, one per scenario. The misread
    on every request breaks RD-004 the same way in each scenario that states an amount."""
    scenarios = ("gen-amount-formats", "partial-refund", "decimal-comma-amount",
                 "thousands-separator-amount")  # fmt: skip
    hunt = in_copy(
        suite, "hunt", str(suite), "--budget", "40s", "--seed", "1", "--no-progress",
        *(a for s in scenarios for a in ("-k", s)),
        defects="flaky_misread", REFUND_DESK_MISREAD_RATE="1",
    )  # fmt: skip
    assert hunt.returncode == 1, hunt.stderr
    files = list(saved(suite).values())
    shapes = [f["shape"] for f in files]
    assert len(shapes) == len(set(shapes))  # one file per root cause
    [amount] = [f for f in files if f["shape"] == "RD-004|sql|fail||amount"]
    members = {m["scenario"] for m in amount["members"]}
    assert members == set(scenarios) - {amount["scenario"]}, amount["members"]
    assert f"same root cause in {len(members)} other scenario(s)" in hunt.stderr
    # the hunt's own record lists them too
    manifest = json.loads(
        (suite.parent.parent / "reports" / hunt_id(hunt) / "manifest.json").read_text()
    )
    [found] = [f for f in manifest["found"] if f["shape"] == amount["shape"]]
    assert len(found["members"]) == len(members)
