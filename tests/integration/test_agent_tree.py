"""What the agent starts ends with it, also a process it put in a session of its own; the
harness's own children (servers, load processes) are never taken for the agent's.

The agents are real processes (tests/agents/escaping_agent.py), their sleepers too; a test
looks at /proc for the sleeper's pid with its start time, so a reused pid cannot pass.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness import procs
from tests.helpers import ROOT, harness

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

AGENT = ROOT / "tests" / "agents" / "escaping_agent.py"


def sleeper(pidfile: Path) -> tuple[int, int]:
    pid, start = pidfile.read_text().split()
    return int(pid), int(start)


def running(pid: int, start: int) -> bool:
    found = procs.read_proc(pid)
    return found is not None and found.start == start and not found.zombie


def gone_within(pid: int, start: int, seconds: float) -> bool:
    """Polls until the process is gone, up to a deadline (a kill is not instantaneous)."""
    deadline = time.monotonic() + seconds
    while running(pid, start):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def pidfile() -> Iterator[Path]:
    """Where the sleeper writes itself; a sleeper a failing test left is killed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="harness-tree-test-"))
    folder.chmod(0o755)  # as root, the embedded servers run as another user and need to enter
    path = folder / "sleeper.pid"
    yield path
    if path.exists():
        pid, start = sleeper(path)
        if running(pid, start):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(folder, ignore_errors=True)


def agent_section(mode: str, pidfile: Path) -> str:
    return f"""\
process:
  command: ["{{{{ python }}}}", "{AGENT}"]
  env:
    PORT: "{{{{ agent.port }}}}"
    MODE: {mode}
    PIDFILE: "{pidfile}"
  health:
    url: "http://127.0.0.1:{{{{ agent.port }}}}/health"
    timeout: 20
  stop_timeout: 2
http:
  url: "http://127.0.0.1:{{{{ agent.port }}}}/chat"
  timeout: 5
"""


@pytest.mark.parametrize(
    "mode",
    [
        "child",  # the agent's own child, in a new session: out of reach of a group signal
        "orphan",  # its launcher exited at once: re-parented to the harness, a subreaper
    ],
)
def test_a_process_the_agent_started_in_its_own_session_ends_with_the_run(
    mode: str, pidfile: Path, make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    suite = make_suite(agent_section(mode, pidfile), repeat=2)
    done = harness("run", str(suite), "--reports-dir", str(tmp_path / "reports"), "--no-progress")
    assert done.returncode == 0, done.stderr
    pid, start = sleeper(pidfile)  # it existed while the run went on
    assert gone_within(pid, start, 10), f"the agent's sleeper {pid} outlived the run"


CHECK_OWN_CHILDREN = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    import redis
    from harness import procs
    from harness.agents.process import AgentProcessRunner
    from harness.deps.embedded import EmbeddedProvider
    from harness.redact import Redactor
    from harness.spec.models import AgentProcess, RedisDependency

    def running(pid):
        found = procs.read_proc(pid)
        return found is not None and not found.zombie

    async def main(work, agent):
        server = await EmbeddedProvider().start(
            "kv", RedisDependency(kind="redis"), run_id="tree", workdir=work
        )
        port = procs.free_port()
        config = AgentProcess(
            command=[sys.executable, agent],
            env={"PORT": str(port), "MODE": "orphan", "PIDFILE": str(work / "sleeper.pid")},
            health={"url": f"http://127.0.0.1:{port}/health", "timeout": 20},
        )
        runner = AgentProcessRunner(config, {}, work, work / "agent.log", Redactor())
        load = None
        try:
            await runner.start()
            # as harness load starts its generator: after the agent, in a session of its own
            load = procs.spawn(
                [sys.executable, "-c", "import time; time.sleep(120)"], log_path=work / "load.log"
            )
            pid = int((work / "sleeper.pid").read_text().split()[0])
            before = running(pid)
            await runner.stop()
            answers = redis.Redis.from_url(server.endpoint.url).ping()
            return {
                "sleeper before": before,
                "sleeper after": running(pid),
                "server": running(server.pid) and answers,
                "load process": load.poll() is None,
            }
        finally:
            await server.stop()
            if load is not None:
                procs.stop_process(load)

    print(json.dumps(asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))))
    """
)


def test_stopping_the_agent_leaves_the_harnesss_own_children_alone(pidfile: Path) -> None:
    """The agent's orphan is the harness's child as much as a server started before the agent
    and a load process started after it: only the orphan goes."""
    out = subprocess.run(
        [sys.executable, "-c", CHECK_OWN_CHILDREN, str(pidfile.parent), str(AGENT)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {
        "sleeper before": True,
        "sleeper after": False,
        "server": True,
        "load process": True,
    }
