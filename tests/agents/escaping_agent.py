"""An HTTP agent that leaves a process behind outside its own session, as daemons do.

On start it launches a sleeper in a new session (`setsid`), which writes "PID START" to
$PIDFILE and sleeps: MODE=child launches it itself (the sleeper is its child),
MODE=orphan through a launcher that exits at once (the sleeper is orphaned while the agent
runs). The agent answers /health once the sleeper has written its file, and echoes on /chat.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from aiohttp import web

SLEEPER = """
import os, sys, time
from pathlib import Path
start = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()[19]
tmp = Path(sys.argv[1] + ".tmp")
tmp.write_text(f"{os.getpid()} {start}")
tmp.rename(sys.argv[1])
time.sleep(600)
"""

LAUNCHER = """
import subprocess, sys
subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], start_new_session=True)
"""


def leave_a_sleeper(mode: str, pidfile: str) -> None:
    if mode == "child":
        subprocess.Popen([sys.executable, "-c", SLEEPER, pidfile], start_new_session=True)
    else:
        subprocess.run([sys.executable, "-c", LAUNCHER, SLEEPER, pidfile], check=True)
    deadline = time.monotonic() + 20
    while not Path(pidfile).exists() and time.monotonic() < deadline:
        time.sleep(0.01)


async def chat(request: web.Request) -> web.Response:
    data = await request.json()
    return web.json_response({"reply": f"echo: {data.get('message', '')}"})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    leave_a_sleeper(os.environ["MODE"], os.environ["PIDFILE"])
    app = web.Application()
    app.router.add_post("/chat", chat)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None)


if __name__ == "__main__":
    main()
