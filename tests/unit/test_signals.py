"""Every command's event loop (cli.common.run_async) stops alike on Ctrl-C, SIGTERM and SIGHUP:
the first cancels and the command unwinds; a second lets that cleanup finish; a third leaves."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

from harness.cli.common import run_async
from tests.helpers import ROOT


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_cancels_and_a_second_one_lets_the_cleanup_finish(sig: int) -> None:
    cleaned: list[str] = []

    async def command() -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, os.kill, os.getpid(), sig)
        try:
            await asyncio.sleep(30)
        finally:
            # the cleanup takes a while, and the signal comes again meanwhile
            loop.call_later(0.05, os.kill, os.getpid(), sig)
            await asyncio.sleep(0.3)
            cleaned.append("done")

    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        run_async(command)
    assert cleaned == ["done"], "a second signal cut the cleanup short"
    assert time.monotonic() - started < 5
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_third_signal_leaves_at_once_and_says_what_to_do() -> None:
    script = (
        "import asyncio, os, signal\n"
        "from harness.cli.common import run_async\n"
        "async def stubborn():\n"
        "    print('ready', flush=True)\n"
        "    while True:\n"
        "        try:\n"
        "            await asyncio.sleep(30)\n"
        "        except asyncio.CancelledError:\n"
        "            pass\n"
        "run_async(stubborn)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        proc.send_signal(sig)
        time.sleep(0.2)
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 130, stderr
    assert "stopping: removing the containers and servers" in stderr
    assert "leaving now; run `harness clean`" in stderr
    assert "Traceback" not in stderr


def test_a_command_that_took_the_cancellation_in_hand_gets_the_next_signal_itself(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The session writing its reports after the environment is down handles the cancellation
    (Task.uncancel): the next signal is its own to answer, not "removing the containers"."""
    handled: list[int] = []

    async def command() -> str:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for n in (1, 2):
            loop.call_soon(os.kill, os.getpid(), signal.SIGINT)
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                task.uncancel()
                handled.append(n)
        return "done"

    assert run_async(command) == "done"
    assert handled == [1, 2], "the second signal never reached the command"
    assert "removing the containers and servers" not in capfd.readouterr().err
