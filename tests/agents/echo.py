"""Tiny real agents for tests: an echo, a crasher, a sleeper, a gated echo, a garbage and a huge
replier."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path


def echo(message: str, session_id: str) -> str:
    return f"you said: {message}"


async def async_echo(message: str, session_id: str) -> str:
    await asyncio.sleep(0)
    return f"you said: {message}"


def crash(message: str, session_id: str) -> str:
    raise RuntimeError("agent blew up")


def exits(message: str, session_id: str) -> str:
    raise SystemExit(3)


async def async_interrupts(message: str, session_id: str) -> str:
    raise KeyboardInterrupt


def gated(message: str, session_id: str) -> str:
    """Answers once the file named by GATE exists, so a test can act on a run before any
    of its cases can end."""
    gate = Path(os.environ["GATE"])
    while not gate.exists():
        time.sleep(0.01)
    return f"you said: {message}"


def hang(message: str, session_id: str) -> str:
    time.sleep(5)
    return "too late"


def garbage(message: str, session_id: str) -> object:
    return {"not": "a reply"}


def huge(message: str, session_id: str) -> str:
    return "x" * 5_000_000


def script(message: str, session_id: str) -> str:
    return "<script>alert(1)</script> refund issued"
