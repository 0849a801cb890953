"""Comparing two runs: Fisher's exact test, which checks are new failures, fixed or flaky,
what is beyond noise, when HEAD is red, and which inputs are refused."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.errors import ConfigError
from harness.report.compare import check_status, comparable, compare_runs, fisher_exact
from harness.report.compare_render import render_comparison
from harness.runlog.read import RunFolder, parse_manifest
from tests.helpers import results_frame, results_row


def test_fisher_exact_matches_the_textbook_values() -> None:
    assert fisher_exact(3, 1, 1, 3) == pytest.approx(0.4857, abs=1e-4)  # the tea-tasting lady
    assert fisher_exact(8, 2, 1, 5) == pytest.approx(0.03497, abs=1e-5)
    assert fisher_exact(0, 5, 5, 0) == pytest.approx(2 / 252)
    assert fisher_exact(50, 0, 50, 0) == 1.0  # nothing failed in either run: no evidence at all
    assert fisher_exact(45, 5, 45, 5) == pytest.approx(1.0)
    assert fisher_exact(50, 0, 45, 5) > 0.05  # 100% vs 90% of 50 trials: could be noise
    assert fisher_exact(240, 0, 230, 10) < 0.01


def _frame(outcomes: dict[tuple[str, str], str]) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for (case, check), marks in outcomes.items():
        for trial, mark in enumerate(marks, start=1):
            verdict = {"P": "pass", "F": "fail", "E": "error"}[mark]
            message = "" if mark == "P" else f"{check} broke in trial {trial}"
            rows.append(
                results_row(
                    case_id=case,
                    check_id=check,
                    trial=trial,
                    verdict=verdict,
                    requirements="R-1",
                    message=message,
                )
            )
    return results_frame(rows)


def test_a_check_is_pass_fail_or_flaky_over_its_trials_and_an_error_is_no_pass() -> None:
    status = check_status(_frame({("a", "x"): "PPP", ("a", "y"): "FFE", ("b", "x"): "PEP"}))
    assert status[("a", "x")][0] == "pass"
    assert status[("a", "y")][0] == "fail" and status[("a", "y")][2] == "FFE"
    assert status[("a", "y")][3] == "y broke in trial 1"
    assert status[("b", "x")][0] == "flaky"


# ------------------------------------------------------------------ two stored runs

REQUIREMENTS = [
    {"id": "R-1", "severity": "critical", "title": "one"},
    {"id": "R-2", "severity": "major", "title": "two"},
]


def _run(
    root: Path,
    run_id: str,
    outcomes: dict[tuple[str, str], str],
    *,
    reqs: dict[str, str] | None = None,
    origin: dict[str, str] | None = None,
    **manifest: Any,
) -> RunFolder:
    """A stored run kept as results.parquet only (as a CI artifact keeps it)."""
    frame = _frame(outcomes)
    for case, requirement in (reqs or {}).items():
        frame.loc[frame["case_id"] == case, "requirements"] = requirement
    for case, where in (origin or {}).items():
        frame.loc[frame["case_id"] == case, "origin"] = where
        frame.loc[frame["case_id"] == case, "target"] = frame["check_id"]
    folder = root / run_id
    folder.mkdir(parents=True)
    frame.to_parquet(folder / "results.parquet")
    info = {
        "kind": "run",
        "suite": "s",
        "status": "finished",
        "trials": max(len(m) for m in outcomes.values()),
        "spec_hash": "h",
        "seed": 1,
        "requirements": REQUIREMENTS,
        **manifest,
    }
    (folder / "manifest.json").write_text(json.dumps(info))
    return RunFolder(folder, parse_manifest(info))


def test_a_reliability_collapse_is_beyond_noise_by_fishers_test_on_all_k_cases(
    tmp_path: Path,
) -> None:
    """RD-004 as the reviewer saw it: pass^5 100% -> 44.4% over 9 cases must be flagged."""
    head_marks = ["PPPPP"] * 4 + ["PPFPP", "PPPPF", "FPPPP", "PPPFP", "PFPPP"]
    base = _run(tmp_path, "b", {(f"c#{i}", "x"): "PPPPP" for i in range(9)})
    head = _run(tmp_path, "h", {(f"c#{i}", "x"): m for i, m in enumerate(head_marks)})
    c = compare_runs(base, head)
    m = next(m for m in c.metrics if m.requirement == "R-1")
    assert m.base_k_counts == (9, 9) and m.head_k_counts == (9, 4)
    assert m.head_at_k.value == pytest.approx(4 / 9)
    assert m.p_value_k == pytest.approx(fisher_exact(9, 0, 4, 5)) and m.p_value_k < 0.05
    assert m.beyond_noise_k and not m.beyond_noise  # 40/45 trials vs 45/45: pass@1 could be noise
    assert m.moved("worse") and c.red == [
        "5 newly flaky check(s) in requirement(s) reliable before: R-1",
        "worse beyond noise: R-1",
    ]
    text = render_comparison(c)
    assert "| ▼ R-1 |" in text and "| 9/9 -> 4/9 |" in text
    assert "Worse: R-1; beyond noise: R-1." in text and "Better: none; beyond noise: none." in text
    assert "on the cases whose first k trials all passed" in text


def test_better_beyond_noise_has_its_own_line_and_keeps_the_run_green(tmp_path: Path) -> None:
    base = _run(tmp_path, "b", {(f"c#{i}", "x"): "FFFFF" for i in range(12)})
    head = _run(tmp_path, "h", {(f"c#{i}", "x"): "PPPPP" for i in range(12)})
    c = compare_runs(base, head)
    text = render_comparison(c)
    assert "Worse: none; beyond noise: none." in text
    assert "Better: R-1; beyond noise: R-1." in text
    assert len(c.fixed) == 12 and c.red == [] and "**Green**" in text


def test_a_steadily_flaky_agent_is_green_its_flakiness_moving_between_cases(
    tmp_path: Path,
) -> None:
    """Which cases a 1-in-10 misreading hits is chance: the same agent twice is not red, and a
    case that was flaky and passed every trial this time is not called fixed."""
    base_marks = ["PPFPP", "PPPPP", "PPPPP", "FPPPP"] + ["PPPPP"] * 8
    head_marks = ["PPPPP", "PPPFP", "PPPPP", "PPPPP", "PFPPP"] + ["PPPPP"] * 7
    base = _run(tmp_path, "b", {(f"c#{i}", "x"): m for i, m in enumerate(base_marks)})
    head = _run(tmp_path, "h", {(f"c#{i}", "x"): m for i, m in enumerate(head_marks)})
    c = compare_runs(base, head)
    assert [x.case_id for x in c.newly_flaky] == ["c#1", "c#4"]
    assert not any(x.reliable_before for x in c.newly_flaky)
    assert [x.case_id for x in c.steady] == ["c#0", "c#3"] and c.fixed == []
    assert c.red == []
    text = render_comparison(c)
    assert "(requirement already flaky or failing in base)" in text and "**Green**" in text
    assert "## Fixed (0)" in text
    assert "## Flaky before, every trial passed this time (not counted as fixed) (2)" in text


def test_the_same_results_twice_are_green_and_nothing_is_beyond_noise(tmp_path: Path) -> None:
    outcomes = {(f"c#{i}", "x"): "PPPPP" for i in range(20)}
    outcomes[("bad#1", "y")] = "FFFFF"
    c = compare_runs(_run(tmp_path, "b", outcomes), _run(tmp_path, "h", outcomes))
    assert c.red == [] and not any(m.beyond_noise or m.beyond_noise_k for m in c.metrics)


def test_known_regressions_are_compared_apart_and_one_failing_anew_is_red(
    tmp_path: Path,
) -> None:
    base = _run(
        tmp_path,
        "b",
        {("a#1", "x"): "PP", ("regression:r1", "x"): "PP", ("regression:r2", "x"): "FF"},
        origin={"regression:r1": "regression", "regression:r2": "regression"},
    )
    head = _run(
        tmp_path,
        "h",
        {
            ("a#1", "x"): "PP",
            ("regression:r1", "x"): "FF",  # fixed once, failing again
            ("regression:r2", "x"): "FF",  # still failing: known, not new
            ("regression:r3", "x"): "FF",  # saved since by a hunt, still failing
        },
        origin={f"regression:r{i}": "regression" for i in (1, 2, 3)},
    )
    c = compare_runs(base, head)
    assert c.new_failures == []  # this run's own cases did not change
    assert {(r.case_id, r.base, r.head) for r in c.regressions} == {
        ("regression:r1", "pass", "fail"),
        ("regression:r3", "absent", "fail"),
    }
    assert c.red == ["2 known regression(s) failing anew"]
    m = c.metrics[0]
    assert m.head_counts == (2, 2)  # the regression cases are not in the numbers


def test_each_list_is_bounded_in_natural_order_and_its_counts_stay_exact(tmp_path: Path) -> None:
    """At scale a step summary must stay under GitHub's 1 MiB: each section lists its first
    entries in natural order (say#2 before say#10, say#1008 before say#10003) and says how
    many more; the heading, the red reason and --all count and list every one."""
    ids = [2, 10, 1008, 10003, *range(20, 400)]
    base = _run(tmp_path, "b", {(f"say#{i}", "x"): "PP" for i in ids if i != 10003})
    head = _run(tmp_path, "h", {(f"say#{i}", "x"): "EE" if i == 10003 else "FF" for i in ids})
    c = compare_runs(base, head)
    assert len(c.new_failures) == 384 and c.red[0] == "384 new failure(s)"
    text = render_comparison(c, limit=5)
    new = text[text.index("## New failures (384)") : text.index("## Fixed (0)")]
    listed = [line.split("`")[1] for line in new.splitlines() if line.startswith("- R-1")]
    assert listed == ["say#2", "say#10", "say#20", "say#21", "say#22"]
    assert "- … and 379 more (`harness compare --all` lists every one)" in new
    assert "pass -> fail (trials FF): `x broke in trial 1`" in new
    every = render_comparison(c, limit=None)
    lines = [line for line in every.splitlines() if line.startswith("- R-1")]
    assert len(lines) == 384 and "more (`harness compare --all`" not in every
    assert lines[-2:] == [
        "- R-1 · `say#1008` · check `x`: pass -> fail (trials FF): `x broke in trial 1`",
        "- R-1 · `say#10003` · check `x`: not in BASE -> fail (trials EE): `x broke in trial 1`",
    ]
    assert "E error: an error is no pass" in every and len(render_comparison(c)) < len(every)


def test_a_check_base_did_not_judge_in_a_case_it_had_is_not_judged_not_absent(
    tmp_path: Path,
) -> None:
    """BASE had the case, but the check's `when:` did not hold there: "not judged in BASE",
    not "not in BASE", which says the run had no such case."""
    base = _run(tmp_path, "b", {("say#1", "x"): "P"})
    head = _run(tmp_path, "h", {("say#1", "x"): "P", ("say#1", "y"): "F", ("say#2", "x"): "F"})
    c = compare_runs(base, head)
    assert {(n.case_id, n.check_id, n.base) for n in c.new_failures} == {
        ("say#1", "y", "unjudged"),
        ("say#2", "x", "absent"),
    }
    text = render_comparison(c)
    assert "check `y`: not judged in BASE -> fail" in text
    assert "check `x`: not in BASE -> fail" in text


def test_notes_say_when_there_are_fewer_trials_than_k_and_when_a_run_was_killed(
    tmp_path: Path,
) -> None:
    base = _run(tmp_path, "b", {("a#1", "x"): "P"})
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    head = _run(
        tmp_path,
        "h",
        {("a#1", "x"): "PPP"},
        status="running",
        pid=gone.pid,
        host=socket.gethostname(),
    )
    c = compare_runs(base, head, k=3)
    assert "run h was killed and did not finish" in c.notes
    assert any(
        "pass^3 needs at least 3 trials per case in both runs; fewer in b (1)" in n for n in c.notes
    )
    assert any("k = 1: pass^1 is pass@1" in n for n in compare_runs(base, base).notes)


def test_runs_of_other_suites_and_hunt_or_load_runs_are_refused(tmp_path: Path) -> None:
    base = _run(tmp_path, "b", {("a#1", "x"): "P"})
    other = _run(tmp_path, "o", {("a#1", "x"): "P"}, suite="another", spec_hash="other")
    with pytest.raises(ConfigError, match="suite 's' and HEAD o of suite 'another'") as exc:
        comparable(base, other)
    assert exc.value.exit_code == 2 and "--force" in str(exc.value.hint)
    comparable(base, other, force=True)
    assert "different suites (compared with --force)" in compare_runs(base, other).notes[0]
    for kind in ("hunt", "load"):
        odd = _run(tmp_path, kind, {("a#1", "x"): "P"}, kind=kind)
        with pytest.raises(ConfigError, match=f"HEAD {kind} is a {kind} run"):
            comparable(base, odd, force=True)


def test_suites_of_the_same_spec_compare_without_force(tmp_path: Path) -> None:
    """A suite and one extending it through another interface judge the same spec."""
    base = _run(tmp_path, "b", {("a#1", "x"): "P"})
    gateway = _run(tmp_path, "g", {("a#1", "x"): "F"}, suite="s_openai")
    comparable(base, gateway)
    c = compare_runs(base, gateway)
    assert "different suites of the same spec: s vs s_openai" in c.notes[0]
    assert [(ch.case_id, ch.base, ch.head) for ch in c.new_failures] == [("a#1", "pass", "fail")]


def test_a_regression_case_is_judged_by_its_own_check_and_shows_its_own_requirement(
    tmp_path: Path,
) -> None:
    """Saved for check number-2 of RD-011, also breaking sql-1 of RD-004 when found: the
    table shows RD-011 / number-2 whatever fails, and only number-2 failing again (or its
    root cause through another check) is "still failing"; sql-1 failing alone is reported
    as another check failing, not as the file still failing."""
    from harness.report.view import known_regressions

    def frame(own: str, other: str, shape: str = "RD-011|output|fail||") -> pd.DataFrame:
        rows = [
            ("number-2", "RD-011", own, "contains"),
            ("sql-1", "RD-004", other, "sql"),
            ("reply-1", "RD-006", "pass", "contains"),
        ]
        return pd.DataFrame(
            [
                {"case_id": "regression:rd-011-partial-refund-number-2", "check_id": k}
                | {"requirements": r, "verdict": v, "trial": 1, "check_type": t}
                | {"expected": None, "found": None, "failure_kind": None}
                | {"origin": "regression", "target": "number-2,sql-1"}
                | {"own_requirement": "RD-011", "own_shape": shape}
                for k, r, v, t in rows
            ]
        )

    (still,) = known_regressions(frame("fail", "fail"))
    assert (still.verdict, still.requirement, still.check) == ("fail", "RD-011", "number-2")
    assert still.others == ["sql-1 (RD-004)"]
    assert still.now == "still failing; other checks failed too: sql-1 (RD-004)"
    (others,) = known_regressions(frame("pass", "fail"))
    assert (others.verdict, others.requirement, others.check) == ("pass", "RD-011", "number-2")
    assert others.now == "passes its own check; other checks failed: sql-1 (RD-004)"
    (errored,) = known_regressions(frame("pass", "error"))  # an error is no failure either
    assert errored.now == "passes its own check; other checks did not pass: sql-1 (RD-004, error)"
    (fixed,) = known_regressions(frame("pass", "pass"))
    assert (fixed.verdict, fixed.others, fixed.now) == ("pass", [], "passing")
    (fault,) = known_regressions(frame("error", "pass"))  # e.g. its setup rows were refused
    assert fault.verdict == "error"
    # its root cause shown by another check (the same requirement, type, verdict, columns)
    (cause,) = known_regressions(frame("pass", "fail", shape="RD-004|sql|fail||"))
    assert (cause.verdict, cause.cause_check, cause.others) == ("fail", "sql-1", [])
    assert cause.now == "still failing (its root cause, through check sql-1)"
