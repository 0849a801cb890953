"""Cleanup that does not depend on Ryuk: labels on everything, and removal by label.

Every container and network the docker provider makes carries the run id and its owner:
the harness process's pid, that process's start time (so a recycled pid is not mistaken
for the owner), its PID namespace and the host name. A run removes its own on exit; at
interpreter exit it sweeps whatever still carries its pid (a start abandoned half-way);
`harness clean` removes what runs killed with `kill -9` left, and only those whose owner
process is gone, so two runs at once on one host never remove each other's containers. A
resumed run removes, the same way, what its own killed attempts left, since its new
containers take the same names.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import docker
import docker.errors
import requests.exceptions

from harness.empty import empty_dict
from harness.runlog import owner
from harness.runlog.owner import Owner

RUN = "harness.run"
DEP = "harness.dependency"
PID = "harness.pid"
STARTED = "harness.pid-start"
PID_NS = "harness.pid-ns"
HOST = "harness.host"

_API_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)
#: seconds a removal waits for the engine to finish one already under way (another thread of
#: this run removing the same container, or a network whose containers are still going)
SETTLE_SECONDS = 20.0


hostname = owner.hostname
process_start = owner.process_start


def owner_labels(run_id: str) -> dict[str, str]:
    """Labels naming this process as the owner of what it creates for `run_id`."""
    me = Owner.current()
    labels = {RUN: run_id, PID: str(me.pid), STARTED: me.start, HOST: me.host}
    return {**labels, PID_NS: me.ns} if me.ns else labels


def owner_alive(labels: dict[str, str]) -> bool:
    """Whether the process that made a labelled object may still be running.

    An object from another host or PID namespace, or without an owner, counts as alive:
    it is not ours to judge, and never removed by `harness clean`.
    """
    try:
        who = Owner(pid=int(labels.get(PID, "")), host=labels.get(HOST, ""))
    except ValueError:
        return True
    who = who.model_copy(update={"start": labels.get(STARTED, ""), "ns": labels.get(PID_NS, "")})
    return who.alive() is not False  # the one liveness rule, as for run folders


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
    labels: dict[str, str] = field(default_factory=empty_dict)

    def describe(self) -> str:
        what = f"{self.kind} {self.name}"
        if self.image:
            what += f" ({self.image}, {self.status})"
        return f"{what} of run {self.run_id}, pid {self.pid}"


def labelled(client: docker.DockerClient, selector: dict[str, str] | None = None) -> list[Leftover]:
    """Every container and network with harness labels (matching `selector` if given).

    One listing call each (docker-py's high-level list fetches every container again, which
    fails when one is removed meanwhile, as happens during a teardown).
    """
    filters = [f"{k}={v}" for k, v in (selector or {}).items()] or [RUN]
    found: list[Leftover] = []
    for c in client.api.containers(all=True, filters={"label": filters}):
        labels: dict[str, str] = dict(c.get("Labels") or {})
        name = str((c.get("Names") or [""])[0]).lstrip("/")
        found.append(
            Leftover("container", str(c.get("Id", "")), name, labels.get(RUN, "?"),
                     labels.get(PID, "?"), str(c.get("Image", "")), str(c.get("State", "")),
                     labels)
        )  # fmt: skip
    for n in client.api.networks(filters={"label": filters}):
        labels = dict(n.get("Labels") or {})
        found.append(
            Leftover("network", str(n.get("Id", "")), str(n.get("Name", "")),
                     labels.get(RUN, "?"), labels.get(PID, "?"), labels=labels)
        )  # fmt: skip
    return found


def abandoned(client: docker.DockerClient, run_id: str | None = None) -> list[Leftover]:
    """What killed runs left (of run `run_id` only, if given): labelled objects whose owner
    process is gone."""
    selector = None if run_id is None else {RUN: run_id}
    return [item for item in labelled(client, selector) if not owner_alive(item.labels)]


def remove(client: docker.DockerClient, items: Iterable[Leftover]) -> list[str]:
    """Remove containers first (networks in use cannot go), then networks; return problems,
    only for what really remains."""
    problems: list[str] = []
    ordered = sorted(items, key=lambda i: i.kind != "container")
    for item in ordered:
        problem = remove_one(client, item.kind, item.id)
        if problem:
            problems.append(f"{item.describe()}: {problem}")
    return problems


def remove_one(client: docker.DockerClient, kind: str, ident: str) -> str | None:
    """Remove one container (with its anonymous volumes) or network; None once it is gone.

    During a teardown two removals may meet: a start given up on and the run's own stop both
    remove the same container (the engine answers 409 "removal already in progress"), and a
    network cannot go while a container on it is still being removed (403 "has active
    endpoints"). Both settle by themselves, so they are waited for, briefly; a problem is
    reported only if the object is still there afterwards.
    """
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        try:
            if kind == "container":
                client.api.remove_container(ident, force=True, v=True)
            else:
                client.api.remove_network(ident)
            return None
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            if not _settling(exc):
                return _api_message(exc)
            if time.monotonic() > deadline:
                if kind == "network":
                    return f"containers were still attached after {SETTLE_SECONDS:g}s"
                return f"its removal did not finish within {SETTLE_SECONDS:g}s"
        except _API_ERRORS as exc:
            return str(exc).strip() or type(exc).__name__
        time.sleep(0.2)


def _settling(exc: docker.errors.APIError) -> bool:
    text = str(exc.explanation or exc).lower()
    return "already in progress" in text or "active endpoints" in text


def _api_message(exc: docker.errors.APIError) -> str:
    return f"{exc.status_code or ''} {exc.explanation or exc}".strip()


def remove_killed_attempts(
    client: docker.DockerClient, run_id: str
) -> tuple[list[Leftover], list[str]]:
    """Remove what killed attempts of run `run_id` left; (what there was, problems)."""
    try:
        left = abandoned(client, run_id)
    except _API_ERRORS as exc:
        return [], [str(exc).strip() or type(exc).__name__]
    return left, remove(client, left)


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
