"""An agent that calls a stubbed third-party service (COMPLIANCE_URL) before it answers, and
says what the service answered; it takes a moment per reply (SLOW seconds) so a test can act
while a run is going."""

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
        with urllib.request.urlopen(request, timeout=5) as response:
            answer = f"{response.status} {response.read().decode()}"
    except urllib.error.HTTPError as exc:
        answer = f"{exc.code} {exc.read().decode()}"
    time.sleep(float(os.environ.get("SLOW", "0")))
    return f"compliance said {answer}"
