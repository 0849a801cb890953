"""What tests need to drive harness as its users do: the command in a subprocess, the run
folder it leaves, results frames as the readers of a run get them, the demo suite copied
where a test may change it, and agents for small suites.

One definition of each, so that a change of how runs are started or stored is made here once
and not in every test file.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any, TypeVar

import pandas as pd
import pytest

from harness.errors import ConfigError
from harness.report.frame import COLUMNS
from harness.runlog.read import CASES, MANIFEST
from harness.spec.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]
#: the bundled demo suite; its agent lives in fixtures/refund_desk
DEMO = ROOT / "scenarios" / "refund_desk"

T = TypeVar("T")


# --------------------------------------------------------------------------- the command


def environ(*, drop: Iterable[str] = (), **values: str) -> dict[str, str]:
    """This process's environment without the names matching a `drop` glob, with `values` set."""
    patterns = list(drop)
    kept = {
        k: v
        for k, v in os.environ.items()
        if not any(fnmatch.fnmatchcase(k, pattern) for pattern in patterns)
    }
    return {**kept, **values}


def _command(args: Iterable[str]) -> list[str]:
    return [sys.executable, "-m", "harness", *args]


def harness(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m harness ARGS` to its end and keep its output (env None: inherit ours)."""
    return subprocess.run(
        _command(args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=None if env is None else dict(env),
    )


def start_harness(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    preexec_fn: Callable[[], object] | None = None,
    stdout: int | IO[str] = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """Start `python -m harness ARGS` and return at once, for tests that signal or kill it
    (`stdout`: a pipe, or a file the command writes to as a user's redirection would)."""
    return subprocess.Popen(
        _command(args),
        cwd=cwd,
        env=None if env is None else dict(env),
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )


class Lines:
    """A running command's stream, read in a thread as it comes: a test can wait for a line
    (bounded) without blocking on a command that never writes it."""

    def __init__(self, stream: IO[str] | None) -> None:
        assert stream is not None, "the command's stream is not a pipe"
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """The first line holding `text`; fails, showing what came, if none does in time."""
        found = poll(
            lambda: next((line for line in list(self.lines) if text in line), None),
            until=lambda line: line is not None,
            timeout=timeout,
            every=0.02,
        )
        assert found is not None, f"no line with {text!r} in:\n{self.text}"
        return found

    def rest(self, timeout: float = 60) -> str:
        """Everything, once the stream has ended (the command exited)."""
        self._reader.join(timeout)
        return self.text


def run_id_of(proc: subprocess.CompletedProcess[str]) -> str:
    """The run id a command printed as its first line on stdout (`run id: ID`)."""
    first = proc.stdout.splitlines()[0] if proc.stdout else ""
    assert first.startswith("run id: "), proc.stdout + proc.stderr
    return first.removeprefix("run id: ")


# --------------------------------------------------------------------------- a run's folder


def run_dirs(reports: Path) -> list[Path]:
    """The run folders under a reports directory (none if it was never created)."""
    return [p for p in reports.iterdir() if p.is_dir()] if reports.exists() else []


def only_run(reports: Path, output: str = "") -> Path:
    """The one run folder under `reports`; a test that started one run expects exactly one.

    `output`, the command's stderr, says why when there is none.
    """
    runs = run_dirs(reports)
    assert len(runs) == 1, f"{runs} {output}"
    return runs[0]


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The run's manifest.json as stored."""
    data: dict[str, Any] = json.loads((run_dir / "manifest.json").read_text())
    return data


def trial_records(run_dir: Path) -> list[dict[str, Any]]:
    """Every line of the run's cases.jsonl, duplicates included (a trial run twice shows)."""
    lines = (run_dir / "cases.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def poll(probe: Callable[[], T], *, until: Callable[[T], bool], timeout: float, every: float) -> T:
    """Call `probe` until its value satisfies `until` or `timeout` seconds pass; the last value."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not until(value) and time.monotonic() < deadline:
        time.sleep(every)
        value = probe()
    return value


def wait_for_records(
    reports: Path, proc: subprocess.Popen[str], at_least: int, timeout: float = 120
) -> Path:
    """The run's folder once its cases.jsonl holds `at_least` lines; fails if the run ends first."""

    def probe() -> Path | None:
        runs = run_dirs(reports)
        cases = runs[0] / "cases.jsonl" if runs else None
        if cases is not None and cases.is_file() and cases.read_bytes().count(b"\n") >= at_least:
            return runs[0]
        assert proc.poll() is None, proc.communicate()
        return None

    found = poll(probe, until=lambda run: run is not None, timeout=timeout, every=0.05)
    if found is None:
        raise AssertionError(f"the run never got going: {at_least} record(s) not in {timeout} s")
    return found


# --------------------------------------------------------------------------- results frames


def results_row(**values: Any) -> dict[str, Any]:
    """One row of a run's results frame (case x check x trial): every column blank but
    those given, as tests of the readers of results.parquet build them."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS, "")
    row.update(values)
    return row


def results_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """A results frame with exactly the stored columns, from `results_row` rows."""
    return pd.DataFrame(list(rows), columns=COLUMNS)


def trial_rows(
    case: str, trial: int, verdicts: dict[str, str], origin: str = "scenario"
) -> list[dict[str, Any]]:
    """Results rows of one trial of a case: {"REQ[,REQ]:check": verdict} for each check."""
    out = []
    for check, verdict in verdicts.items():
        requirements, _, name = check.partition(":")
        out.append(
            results_row(
                case_id=case,
                scenario=case.split("#")[0],
                origin=origin,
                trial=trial,
                check_id=name,
                requirements=requirements,
                verdict=verdict,
                duration_ms=0.0,
            )
        )
    return out


# --------------------------------------------------------------------------- suites


def copy_demo(root: Path, name: str = "refund_desk") -> Path:
    """The demo suite at root/scenarios/NAME with its agent at root/fixtures, as in the repo.

    The same layout keeps the suite's relative paths to its agent working; saved regressions
    and hypothesis' database are left behind, so a hunt or a run starts from the suite alone.
    """
    dest = root / "scenarios" / name
    shutil.copytree(DEMO, dest, ignore=shutil.ignore_patterns("regressions", ".hypothesis"))
    shutil.copytree(ROOT / "fixtures" / "refund_desk", root / "fixtures" / "refund_desk")
    shutil.copy(ROOT / "fixtures" / "__init__.py", root / "fixtures" / "__init__.py")
    return dest


def copy_holds(root: Path, more: str = "") -> Path:
    """The holds suite (tests/suites/holds) at root/suites/holds with its agent at
    root/agents, the path its command names; `more` (a load profile) appended to its
    suite.yaml."""
    suite = root / "suites" / "holds"
    shutil.copytree(ROOT / "tests" / "suites" / "holds", suite)
    (root / "agents").mkdir()
    shutil.copy(ROOT / "tests" / "agents" / "holds_agent.py", root / "agents")
    if more:
        with (suite / "suite.yaml").open("a") as f:
            f.write(more)
    return suite


def edit_file(path: Path, old: str, new: str) -> int:
    """Replace the first `old` in a file by `new`; the line number where `new` ends."""
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    last = new.strip().splitlines()[-1].strip() if new.strip() else None
    if last is None:
        return 0
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if last in t)


def config_problems(suite: Path) -> list[str]:
    """What loading the suite refuses, each as `path:line:col: key: message` (exit code 2)."""
    with pytest.raises(ConfigError) as info:
        load_suite(suite)
    assert info.value.exit_code == 2
    return [str(p) for p in info.value.problems]


def python_agent(fn: str, timeout: float = 2) -> str:
    """A suite's agent section: the callable `fn` of tests/agents/echo.py."""
    return f"python:\n  callable: tests.agents.echo:{fn}\n  path: [{ROOT}]\n  timeout: {timeout}\n"


def http_agent(mode: str, timeout: float = 2, max_bytes: int = 100000) -> str:
    """A suite's agent section: tests/agents/http_agent.py started in MODE, reached over HTTP."""
    return f"""\
process:
  command: ["{{{{ python }}}}", "{ROOT}/tests/agents/http_agent.py"]
  env:
    PORT: "{{{{ agent.port }}}}"
    MODE: {mode}
  health:
    url: "http://127.0.0.1:{{{{ agent.port }}}}/health"
    timeout: 15
  stop_timeout: 2
http:
  url: "http://127.0.0.1:{{{{ agent.port }}}}/chat"
  timeout: {timeout}
  max_bytes: {max_bytes}
"""


def write_load_run(
    tmp_path: Path, records: list[dict[str, Any]], samples: list[Any] | None = None
) -> Path:
    """A stored load run (manifest and records as written): a 4 s spike, 2 then 10 users,
    1 s windows, two requirements, locust totals from two workers."""
    run = tmp_path / "20260101-000000-abcd"
    run.mkdir()
    manifest = {
        "kind": "load",
        "run_id": run.name,
        "suite": "t",
        "status": "finished",
        "seed": 1,
        "trials": 1,
        "requirements": [
            {"id": "T-001", "title": "echoes", "severity": "major"},
            {"id": "T-002", "title": "never twice", "severity": "critical"},
        ],
        "load": {
            "profile": "spike",
            "shape": "spike",
            "length_s": 4.0,
            "window_s": 1.0,
            "peak_users": 10,
            "schedule": [[0, 2, 2, 2.0], [2, 4, 10, 8.0]],
            "users_timeline": [[0.1, 2], [2.2, 10]],
            "samples": samples or [],
            "duplicates": {"share": 0.2, "session": "separate", "stagger": 0},
            "locust": {
                "requests": 160,
                "failures": 0,
                "workers": {"a": {"requests": 90}, "b": {"requests": 70}},
            },
        },
    }
    (run / MANIFEST).write_text(json.dumps(manifest))
    (run / CASES).write_text("".join(json.dumps(r) + "\n" for r in records))
    return run
