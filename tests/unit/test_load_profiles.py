"""Load profiles: shapes expand to one bounded schedule; bad profiles are located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.spec.load import LoadSection, Stage, parse_duration, users_at
from tests.helpers import (
    config_problems,
    copy_demo,
    edit_file,
    harness,
    http_agent,
    python_agent,
)


def profile(**fields: object) -> object:
    return LoadSection.model_validate({"profiles": {"p": fields}}).profiles["p"]


def test_spike_is_base_burst_base_and_ends() -> None:
    p = profile(shape="spike", users=2, peak=10, before="3s", hold=4, after="2s")
    assert p.stages() == [  # type: ignore[attr-defined]
        Stage(0.0, 3.0, 2, 2.0),
        Stage(3.0, 7.0, 10, 8.0),
        Stage(7.0, 9.0, 2, 10.0),
    ]
    assert p.length == 9.0 and p.peak == 10  # type: ignore[attr-defined]
    stages = p.stages()  # type: ignore[attr-defined]
    assert users_at(stages, 0.0, 9.0) == (2, 2.0)
    assert users_at(stages, 3.5, 9.0) == (10, 8.0)
    assert users_at(stages, 8.99, 9.0) == (2, 10.0)
    assert users_at(stages, 9.0, 9.0) is None  # the profile has ended


def test_ramp_steps_up_to_its_users_and_limit_cuts_it_short() -> None:
    p = profile(shape="ramp", users=10, steps=4, step="5s", spawn_rate=2, limit="12s")
    assert [(s.users, s.end) for s in p.stages()] == [(3, 5), (5, 10), (8, 15), (10, 20)]  # type: ignore[attr-defined]
    assert {s.spawn_rate for s in p.stages()} == {2.0}  # type: ignore[attr-defined]
    assert p.length == 12.0  # type: ignore[attr-defined]
    assert users_at(p.stages(), 12.0, p.length) is None  # type: ignore[attr-defined]


def test_soak_and_custom_stages() -> None:
    soak = profile(shape="soak", users=5, duration="1h", wait=[0.5, 2])
    assert soak.length == 3600.0 and soak.wait == (0.5, 2.0)  # type: ignore[attr-defined]
    assert soak.window_seconds() == 120.0  # type: ignore[attr-defined]
    custom = profile(
        shape="stages",
        stages=[{"duration": 2, "users": 1}, {"duration": "500ms", "users": 4, "spawn_rate": 1}],
        duplicates={"share": 0.5, "session": "same", "stagger": "100ms"},
    )
    assert custom.stages() == [Stage(0.0, 2.0, 1, 1.0), Stage(2.0, 2.5, 4, 1.0)]  # type: ignore[attr-defined]
    assert custom.duplicates.share == 0.5 and custom.duplicates.stagger == 0.1  # type: ignore[attr-defined]
    assert profile(shape="soak", users=1, duration=3, duplicates=0).duplicates.share == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("90s", 90.0), ("5m", 300.0), ("1.5h", 5400.0), (2, 2.0)]
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration_says_how_to_write_one() -> None:
    with pytest.raises(ValueError, match=r"use e\.g\. 30, 30s, 5m or 1h"):
        parse_duration("5 minutes")


@pytest.fixture
def suite_copy(tmp_path: Path) -> Path:
    return copy_demo(tmp_path, "suite")


def test_profile_typos_are_located_with_suggestions(suite_copy: Path) -> None:
    f = suite_copy / "suite.yaml"
    peak = edit_file(f, "      peak: 12\n", "      peek: 12\n")
    shape = edit_file(f, "      shape: ramp\n", "      shape: rmap\n")
    duration = edit_file(f, "      duration: 10m\n", "      duration: ten minutes\n")
    found = config_problems(suite_copy)
    assert (
        f"{f}:{peak}:7: load.profiles.spike.peek: unknown key 'peek' (did you mean 'peak'?)"
        in found
    )
    assert any(
        p.startswith(f"{f}:{shape}:") and "unknown type 'rmap' (did you mean 'ramp'?)" in p
        for p in found
    )
    assert any(
        p.startswith(f"{f}:{duration}:17: load.profiles.soak.duration:") and "not a duration" in p
        for p in found
    )


def test_profile_scenarios_must_name_drivable_scenarios(suite_copy: Path) -> None:
    f = suite_copy / "suite.yaml"
    line = edit_file(
        f,
        "      duplicates: 0.3\n",
        "      duplicates: 0.3\n      scenarios: [smal-refund, reworded-*]\n",
    )
    found = config_problems(suite_copy)
    assert any(
        p.startswith(f"{f}:{line}:")
        and "'smal-refund' matches no scenario (did you mean 'small-refund'?)" in p
        for p in found
    )
    assert any("'reworded-*' matches only scenarios with variants" in p for p in found)


def test_peak_must_exceed_users(suite_copy: Path) -> None:
    f = suite_copy / "suite.yaml"
    line = edit_file(f, "      peak: 12\n", "      peak: 2\n")
    (msg,) = config_problems(suite_copy)
    assert msg.startswith(f"{f}:") and "peak (2) must be above users (2)" in msg
    assert int(msg.split(":")[1]) <= line


def test_unknown_profile_is_a_usage_error_with_a_suggestion(tmp_path: Path) -> None:
    proc = harness(
        "load",
        "scenarios/refund_desk",
        "--profile",
        "spkie",
        "--reports-dir",
        str(tmp_path),
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "no load profile 'spkie' (did you mean 'spike'?)" in proc.stderr
    assert not any(tmp_path.iterdir()), "nothing may start for a usage error"


def test_a_suite_without_profiles_or_without_http_is_refused(
    make_suite: object, tmp_path: Path
) -> None:
    suite = make_suite(http_agent("echo"))  # type: ignore[operator]
    proc = harness(
        "load", str(suite), "--profile", "spike", "--reports-dir", str(tmp_path / "r"), timeout=60
    )
    assert proc.returncode == 2 and "declares no load profiles" in proc.stderr, proc.stderr
    py = make_suite(python_agent("echo"))  # type: ignore[operator]
    (py / "suite.yaml").write_text(
        (py / "suite.yaml").read_text()
        + "load:\n  profiles:\n    s: {shape: soak, users: 1, duration: 1}\n"
    )
    proc = harness(
        "load", str(py), "--profile", "s", "--reports-dir", str(tmp_path / "r"), timeout=60
    )
    assert proc.returncode == 2 and "need an agent reached over HTTP" in proc.stderr, proc.stderr
    # harness validate says so too, where the load section is
    proc = harness("validate", str(py), timeout=60)
    assert proc.returncode == 2 and "suite.yaml:" in proc.stderr, proc.stderr
    assert "load profiles need an agent reached over HTTP" in proc.stderr


def test_remote_workers_are_never_told_to_connect_to_localhost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--bind 0.0.0.0 without --advertise on a machine whose name resolves to loopback."""
    import socket

    from harness.load import runner

    monkeypatch.setattr(socket, "getfqdn", lambda *a: "localhost")
    address = runner._public("0.0.0.0")
    assert address is None or not (address.startswith("127.") or address == "localhost")
    assert runner._public("10.1.2.3") == "10.1.2.3"


def test_a_fault_window_is_a_toxic_on_the_loads_clock() -> None:
    p = profile(
        shape="soak", users=2, duration="20s",
        faults=[{"link": "db", "toxic": "latency", "attributes": {"latency": 300}, "at": "5s",
                 "for": "3s", "toxicity": 0.5}],
    )  # fmt: skip
    (f,) = p.faults  # type: ignore[attr-defined]
    assert (f.at, f.for_, f.end) == (5.0, 3.0, 8.0)
    toxic = f.window_toxic(0)
    assert toxic.name == "load1_latency_downstream" and toxic["latency"] == 300
    assert toxic.toxicity == 0.5 and f.window_toxic(1).name != toxic.name  # never clash


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ({"at": "18s", "for": "3s"}, "faults[0] ends at 21 s, after the profile's end (20 s)"),
        ({"at": "5s", "for": 0}, "greater than 0"),
        ({"at": "5s"}, "for"),
        ({"at": "5s", "for": 1, "attributes": {"rate": 1}}, "down has no attribute 'rate'"),
        ({"at": "5s", "for": 1, "toxicity": 0.5}, "down refuses every connection"),
    ],
)
def test_a_fault_window_outside_the_profile_or_wrong_is_refused(
    window: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError) as info:
        profile(shape="soak", users=2, duration="20s", faults=[{"link": "db", "toxic": "down",
                                                                 **window}])  # fmt: skip
    assert message in str(info.value)


def test_a_fault_windows_link_must_be_a_dependency(suite_copy: Path) -> None:
    f = suite_copy / "suite.yaml"
    line = edit_file(
        f,
        "      duplicates: 0.3\n",
        "      duplicates: 0.3\n      faults:\n"
        "        - {link: dbb, toxic: down, at: 1s, for: 1s}\n",
    )
    found = config_problems(suite_copy)
    assert any(
        p.startswith(f"{f}:{line}:")
        and "link 'dbb' is no dependency of the suite (did you mean 'db'?)" in p
        for p in found
    ), found


def test_limit_drops_the_windows_after_it_and_cuts_the_one_it_falls_in() -> None:
    from harness.modes.load import within

    p = profile(
        shape="soak", users=1, duration="60s",
        faults=[{"link": "db", "toxic": "down", "at": a, "for": 5} for a in (2, 8, 12)],
    )  # fmt: skip
    kept = within(p.faults, 10.0)  # type: ignore[attr-defined]
    assert [(f.at, f.for_) for f in kept] == [(2.0, 5.0), (8.0, 2.0)]
