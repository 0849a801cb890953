"""An agent that calls a stubbed third-party service (COMPLIANCE_URL) before it answers, and
says what the service answered; it gives up on the service after TIMEOUT seconds (default 5);
it takes a moment per reply (SLOW seconds) so a test can act while a run is going."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request


def ask(message: str, session_id: str) -> str:
    body = json.dumps({"session": session_id, "message": message}).encode()
    request = urllib.request.Request(
        f"{os.environ['COMPLIANCE_URL']}/v1/approvals",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        timeout = float(os.environ.get("TIMEOUT", "5"))  # the agent's own: it gives up then
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = f"{response.status} {response.read().decode()}"
    except urllib.error.HTTPError as exc:
        answer = f"{exc.code} {exc.read().decode()}"
    except (TimeoutError, urllib.error.URLError) as exc:
        answer = f"nothing in time ({type(exc).__name__})"
    time.sleep(float(os.environ.get("SLOW", "0")))
    return f"compliance said {answer}"
