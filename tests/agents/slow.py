"""An agent that takes its time over each reply, so a test can act while a run is going."""

from __future__ import annotations

import time


def slow_echo(message: str, session_id: str) -> str:
    time.sleep(0.5)
    return f"you said: {message}"
