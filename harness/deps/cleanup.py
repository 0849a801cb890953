"""Cleanup that does not depend on Ryuk: labels on everything, and removal by label.

Every container and network the docker provider makes carries the run id and its owner:
the harness process's pid, that process's start time (so a recycled pid is not mistaken
for the owner) and the host name. A run removes its own on exit; at interpreter exit it
sweeps whatever still carries its pid (a start abandoned half-way); `harness clean` removes
what runs killed with `kill -9` left, and only those whose owner process is gone, so two
runs at once on one host never remove each other's containers.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

RUN = "harness.run"
DEP = "harness.dependency"
PID = "harness.pid"
STARTED = "harness.pid-start"
HOST = "harness.host"

_API_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)


def hostname() -> str:
    return socket.gethostname()


def process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or ""."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def owner_labels(run_id: str) -> dict[str, str]:
    """Labels naming this process as the owner of what it creates for `run_id`."""
    pid = os.getpid()
    return {RUN: run_id, PID: str(pid), STARTED: process_start(pid), HOST: hostname()}


def owner_alive(labels: dict[str, str]) -> bool:
    """Whether the process that made a labelled object may still be running.

    An object from another host, or without an owner, counts as alive: it is not ours
    to judge, and never removed by `harness clean`.
    """
    if labels.get(HOST) != hostname():
        return True
    try:
        pid = int(labels.get(PID, ""))
    except ValueError:
        return True
    started = process_start(pid)
    if not started:
        return False
    return started == labels.get(STARTED, started)


@dataclass
class Leftover:
    """A labelled container or network and the run that made it."""

    kind: str  # container | network
    id: str
    name: str
    run_id: str
    pid: str
    image: str = ""
    status: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        what = f"{self.kind} {self.name}"
        if self.image:
            what += f" ({self.image}, {self.status})"
        return f"{what} of run {self.run_id}, pid {self.pid}"


def labelled(client: docker.DockerClient, selector: dict[str, str] | None = None) -> list[Leftover]:
    """Every container and network with harness labels (matching `selector` if given)."""
    filters = [f"{k}={v}" for k, v in (selector or {}).items()] or [RUN]
    found: list[Leftover] = []
    for c in client.containers.list(all=True, filters={"label": filters}):
        labels: dict[str, str] = dict(c.labels or {})
        image = _image_name(c)
        found.append(
            Leftover("container", c.id or "", c.name or "", labels.get(RUN, "?"),
                     labels.get(PID, "?"), image, c.status or "", labels)
        )  # fmt: skip
    for n in client.networks.list(filters={"label": filters}):
        labels = dict((n.attrs or {}).get("Labels") or {})
        found.append(
            Leftover("network", n.id or "", n.name or "", labels.get(RUN, "?"),
                     labels.get(PID, "?"), labels=labels)
        )  # fmt: skip
    return found


def _image_name(container: Any) -> str:
    config = (container.attrs or {}).get("Config") or {}
    return str(config.get("Image") or "")


def abandoned(client: docker.DockerClient) -> list[Leftover]:
    """What killed runs left: labelled objects whose owner process is gone."""
    return [item for item in labelled(client) if not owner_alive(item.labels)]


def remove(client: docker.DockerClient, items: Iterable[Leftover]) -> list[str]:
    """Remove containers first (networks in use cannot go), then networks; return problems."""
    problems: list[str] = []
    ordered = sorted(items, key=lambda i: i.kind != "container")
    for item in ordered:
        try:
            if item.kind == "container":
                client.api.remove_container(item.id, force=True, v=True)
            else:
                client.api.remove_network(item.id)
        except docker.errors.NotFound:
            continue
        except _API_ERRORS as exc:
            problems.append(f"{item.describe()}: {exc}")
    return problems


def remove_matching(client: docker.DockerClient, selector: dict[str, str]) -> list[str]:
    """Remove every labelled object matching `selector` (e.g. one dependency of one run)."""
    try:
        return remove(client, labelled(client, selector))
    except _API_ERRORS as exc:
        return [str(exc)]


# --------------------------------------------------------------------------- exit sweep

_sweep_lock = threading.Lock()
_sweep_registered = False


def sweep_at_exit() -> None:
    """Once per process: at interpreter exit, remove whatever still carries this pid."""
    global _sweep_registered
    with _sweep_lock:
        if _sweep_registered:
            return
        _sweep_registered = True
        atexit.register(_sweep_own)


def _sweep_own() -> None:
    pid = os.getpid()
    selector = {PID: str(pid), STARTED: process_start(pid), HOST: hostname()}
    with contextlib.suppress(*_API_ERRORS):
        from harness.deps.engine import client

        c = client(timeout=20)
        try:
            remove_matching(c, selector)
        finally:
            c.close()
