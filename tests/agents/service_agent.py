"""An agent that asks a service running in a container, to test generic container dependencies."""

from __future__ import annotations

import os
import urllib.request


def ask(message: str, session_id: str) -> str:
    url = os.environ["SERVICE_URL"]
    port = os.environ["SERVICE_PORT"]
    with urllib.request.urlopen(f"{url}/answer.txt", timeout=5) as response:
        answer = response.read().decode().strip()
    return f"{answer} (asked {message!r} on port {port}, url {url})"
