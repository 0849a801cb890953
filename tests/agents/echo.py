"""Tiny real agents for tests: an echo, a crasher, a sleeper, a garbage and a huge replier."""

from __future__ import annotations

import asyncio
import time


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


def hang(message: str, session_id: str) -> str:
    time.sleep(5)
    return "too late"


def garbage(message: str, session_id: str) -> object:
    return {"not": "a reply"}


def huge(message: str, session_id: str) -> str:
    return "x" * 5_000_000


def script(message: str, session_id: str) -> str:
    return "<script>alert(1)</script> refund issued"
