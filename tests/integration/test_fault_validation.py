"""`harness validate` on a suite whose faults are wrong says every problem one pass can find,
each at its `path:line:col` with its fix, exit 2: a wrong fault does not hide the next, a
scenario that fails to load is not called missing, and its valid faults are still checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import harness

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SUITE = """\
name: shelf
defaults: {seed: 1, concurrency: 1, case_timeout: 10}
environment:
  dependencies:
    pg: {kind: postgres}
    kv: {kind: redis}
  agent:
    process:
      command: ["{{ python }}", "-c", "pass"]
    http: {url: "http://127.0.0.1:{{ agent.port }}/chat"}
faults:
  profiles:
    blip:
      scenarios: [hold]
      faults:
        - {link: pg, toxic: reset_peeer, from_turn: 2, times: 0}
        - {link: pg, toxic: reset_peer, toxicity: 1.5, to_turn: 4}
        - {link: pg, toxic: reset_peer, after_sent: "(insert", to_turn: 2}
        - {link: pg, toxic: latency, attributes: {latencyy: 100}}
        - {link: pgg, toxic: latency, to_turn: 5}
load:
  profiles:
    outage:
      shape: soak
      users: 1
      duration: 14s
      faults:
        - {link: pg, toxic: down, at: 5s, for: 3s}
        - {link: pg, toxic: latency, at: 12s, for: 3s, accept_status: [200]}
"""

SPEC = """\
title: Shelf
version: "1"
requirements:
  - {id: S-001, title: Holds, severity: major, text: A hold is kept.}
"""

SCENARIOS = """\
scenarios:
  - id: hold
    title: A hold
    turns: ["stock", "hold"]
    checks:
      - {type: contains, requirements: [S-001], value: ok}
  - id: down
    title: The database down
    faults:
      - {link: pg, toxic: down, from_turn: 2, to_turn: 3, accept_status: [503], toxicity: 2}
    turns: ["stock", "hold"]
    checks:
      - {type: contains, requirements: [S-001], value: ok}
  - id: slow
    title: A slow cache
    faults:
      - {link: kv, toxic: latency, attributes: {latencyy: 1500}, for: 3s}
      - {link: pgg, toxic: latency, after_turn: 3, for: 3s}
    turns: ["stock", "stock"]
    checks:
      - {type: contains, requirements: [S-001], value: ok}
  - id: lonely
    title: Recovery with nothing to recover from
    turns: ["stock"]
    checks:
      - {type: recovery, requirements: [S-001], within: 2s, health: true}
"""


def _suite(tmp_path: Path, suite: str = SUITE, scenarios: str = SCENARIOS) -> Path:
    root = tmp_path / "shelf"
    (root / "scenarios").mkdir(parents=True)
    (root / "suite.yaml").write_text(suite)
    (root / "spec.yaml").write_text(SPEC)
    (root / "scenarios" / "shelf.yaml").write_text(scenarios)
    return root


def _refused(root: Path) -> list[str]:
    done = harness("validate", str(root))
    assert done.returncode == 2, done.stdout + done.stderr
    return [line for line in done.stderr.splitlines() if re.match(r"\S+:\d+:\d+: ", line)]


def _at(lines: list[str], pattern: str) -> str:
    found = [line for line in lines if re.search(pattern, line)]
    assert len(found) == 1, (pattern, lines)
    return found[0]


def test_every_fault_problem_is_said_in_one_pass(tmp_path: Path) -> None:
    lines = _refused(_suite(tmp_path))
    _at(lines, r"suite\.yaml:16:\d+: faults\.profiles\.blip\.faults\[0\]\.toxic: 'reset_peeer' .*"
               r"did you mean 'reset_peer'")  # fmt: skip
    _at(lines, r"suite\.yaml:16:\d+: faults\.profiles\.blip\.faults\[0\]\.times: ")
    _at(lines, r"suite\.yaml:17:\d+: faults\.profiles\.blip\.faults\[1\]\.toxicity: ")
    _at(
        lines, r"suite\.yaml:18:\d+: faults\.profiles\.blip\.faults\[2\]: after_sent is not a regex"
    )
    # the misspelt attribute at its own key, with the name it means
    line = _at(lines, r"faults\.profiles\.blip\.faults\[3\]\.attributes\.latencyy: latency has "
                      r"no attribute 'latencyy' \(did you mean 'latency'\?\)")  # fmt: skip
    assert line.split(":")[1:3] == ["19", str(SUITE.splitlines()[18].index("latencyy") + 1)]
    _at(lines, r"suite\.yaml:20:\d+: faults\.profiles\.blip\.faults\[4\]\.link: link 'pgg' .*"
               r"did you mean 'pg'")  # fmt: skip
    _at(lines, r"suite\.yaml:20:\d+: faults\.profiles\.blip\.faults\[4\]\.to_turn: the window "
               r"ends at turn 5 \(to_turn\), but scenario 'hold' has 2 turn\(s\): it ends past "
               r"the last turn \(it applies up to turn 2\); fix: to_turn: 2, or leave it "
               r"out")  # fmt: skip
    _at(lines, r"suite\.yaml:\d+:\d+: load\.profiles\.outage\.faults\[1\]\.accept_status\[0\]: ")
    _at(lines, r"suite\.yaml:\d+:\d+: load\.profiles\.outage: faults\[1\] ends at 15 s, after the "
               r"profile's end \(14 s\)")  # fmt: skip
    _at(lines, r"shelf\.yaml:10:\d+: scenarios\[1\]\.faults\[0\]\.to_turn: the window ends at "
               r"turn 3")  # fmt: skip
    _at(lines, r"shelf\.yaml:17:\d+: scenarios\[2\]\.faults\[0\]: after_turn and for go together")
    _at(lines, r"shelf\.yaml:17:\d+: scenarios\[2\]\.faults\[0\]\.attributes\.latencyy: .*did "
               r"you mean 'latency'")  # fmt: skip
    _at(lines, r"shelf\.yaml:18:\d+: scenarios\[2\]\.faults\[1\]\.link: link 'pgg'")
    _at(lines, r"shelf\.yaml:18:\d+: scenarios\[2\]\.faults\[1\]\.after_turn: the window starts "
               r"at turn 3 \(after_turn\), but scenario 'slow' has 2 turn\(s\): it would never "
               r"apply")  # fmt: skip
    _at(lines, r"shelf\.yaml:\d+:\d+: scenarios\[3\]\.checks\[0\]\.type: a recovery check, but "
               r"scenario 'lonely' has no fault and no fault profile plays it.*fix: add a "
               r"fault")  # fmt: skip
    # a fault refused for its toxic still has its link and window checked, as written
    _at(lines, r"suite\.yaml:17:\d+: faults\.profiles\.blip\.faults\[1\]\.to_turn: the window "
               r"ends at turn 4")  # fmt: skip
    _at(lines, r"shelf\.yaml:10:\d+: scenarios\[1\]\.faults\[0\]\.toxicity: ")
    assert len(lines) == 17, "\n".join(lines)


def test_a_scenario_that_fails_to_load_is_not_called_missing(tmp_path: Path) -> None:
    suite = SUITE.replace(
        SUITE[SUITE.index("        - {link: pg, toxic: reset_peeer") : SUITE.index("load:")],
        "        - {link: pg, toxic: reset_peer, from_turn: 2, to_turn: 2}\n",
    ).replace(", accept_status: [200]}\n", "}\n")
    scenarios = SCENARIOS.replace(
        'turns: ["stock", "hold"]\n    checks', "turns: oops\n    checks", 1
    )
    lines = _refused(_suite(tmp_path, suite, scenarios))
    assert not [line for line in lines if "no scenario 'hold'" in line], lines
    _at(lines, r"shelf\.yaml:4:\d+: scenarios\[0\]\.turns: ")
    # the other scenarios of the file are still checked against the suite
    _at(lines, r"shelf\.yaml:18:\d+: scenarios\[2\]\.faults\[1\]\.link: link 'pgg'")
    _at(lines, r"scenarios\[3\]\.checks\[0\]\.type: a recovery check")


def test_a_recovery_check_a_profile_plays_is_valid(tmp_path: Path) -> None:
    suite = SUITE.replace("scenarios: [hold]", "scenarios: [hold, lonely]")
    lines = _refused(_suite(tmp_path / "a", suite))
    assert not [line for line in lines if "a recovery check" in line], lines
    # nor when that profile is wrong itself: it still plays the scenario
    suite = SUITE.replace("scenarios: [hold]", "descripton: x\n      scenarios: [hold, lonely]")
    lines = _refused(_suite(tmp_path / "b", suite))
    _at(lines, r"faults\.profiles\.blip\.descripton: unknown key 'descripton' \(did you mean")
    assert not [line for line in lines if "a recovery check" in line], lines


def test_a_profile_window_past_several_scenarios_names_them_all(tmp_path: Path) -> None:
    """A profile that plays every scenario: its window past the turns of several is said once,
    at its key, naming each of them, with the fix the one with the fewest turns needs."""
    suite = SUITE.replace("      scenarios: [hold]\n", "").replace(
        """        - {link: pg, toxic: reset_peeer, from_turn: 2, times: 0}
        - {link: pg, toxic: reset_peer, toxicity: 1.5, to_turn: 4}
        - {link: pg, toxic: reset_peer, after_sent: "(insert", to_turn: 2}
        - {link: pg, toxic: latency, attributes: {latencyy: 100}}
        - {link: pgg, toxic: latency, to_turn: 5}
""",
        "        - {link: pg, toxic: down, from_turn: 2}\n",
    )
    check = "checks: [{type: contains, requirements: [S-001], value: ok}]"
    scenarios = f"""\
scenarios:
  - {{id: one, title: One turn, turns: [a], {check}}}
  - {{id: two, title: Two turns, turns: [a, b], {check}}}
  - {{id: single, title: One, turns: [a], {check}}}
"""
    lines = _refused(_suite(tmp_path, suite, scenarios))
    _at(lines, r"suite\.yaml:\d+:\d+: faults\.profiles\.blip\.faults\[0\]\.from_turn: the window "
               r"starts at turn 2 \(from_turn\), but 2 scenarios this profile plays have fewer "
               r"turns, 'one' \(1\), 'single' \(1\): it would never apply; fix: a turn from 1 to "
               r"1")  # fmt: skip
    assert len([n for n in lines if "faults.profiles" in n]) == 1, lines


def test_a_scenario_refused_for_its_shape_still_has_its_requirement_ids_checked(
    tmp_path: Path,
) -> None:
    """One pass says both: a misspelt key, and in the same scenario a requirement id the spec
    does not have (it was said only once the key was fixed)."""
    scenarios = """\
scenarios:
  - id: hold
    title: A hold
    turns: ["stock", "hold"]
    checks:
      - {type: contains, requirements: [S-01], valu: ok}
      - {type: contains, requirements: [S-001, lowercase-1], value: ok}
"""
    suite = SUITE.replace(
        SUITE[SUITE.index("faults:\n  profiles:") : SUITE.index("load:\n")], ""
    ).replace(SUITE[SUITE.index("load:\n") :], "")
    lines = _refused(_suite(tmp_path, suite, scenarios))
    _at(lines, r"shelf\.yaml:6:\d+: scenarios\[0\]\.checks\[0\]\.valu: ")
    _at(lines, r"shelf\.yaml:6:\d+: scenarios\[0\]\.checks\[0\]\.requirements\[0\]: unknown "
               r"requirement S-01 \(did you mean 'S-001'\?\); see spec\.yaml")  # fmt: skip
    _at(lines, r"shelf\.yaml:7:\d+: scenarios\[0\]\.checks\[1\]\.requirements\[1\]: ")
    assert len(lines) == 3, lines  # the id of the wrong form: said once, as its shape
