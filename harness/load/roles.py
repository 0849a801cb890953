"""The load generator's processes: one alone, or a master and its workers (locust's own).

    python -m harness.load.roles local  --harness URL
    python -m harness.load.roles master --harness URL --bind HOST --port P --expect N
    python -m harness.load.roles worker --master-host HOST --master-port P [--harness URL]
        [--connect-timeout SECONDS]

`harness load` starts these itself; `harness load-worker` starts workers on
another machine, which learn the harness's address from the master (locust
passes the master's custom options to its workers). Every process posts its own
request and failure counts at its end, so the master's totals can be checked
against the sum of its workers'.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import signal
import sys
import time
from typing import Any

import gevent
from locust.argument_parser import get_empty_argument_parser, setup_parser_arguments
from locust.env import Environment
from locust.rpc import Message
from locust.runners import MasterRunner, Runner

from harness.load import generator as g
from harness.spec.load import Stage

STATUS_EVERY = 0.25


def _options(harness_url: str) -> Any:
    """Locust's own parsed options plus ours; the master hands custom ones to its workers."""
    parser = get_empty_argument_parser(add_help=False, default_config_files=[])
    setup_parser_arguments(parser)
    parser.add_argument("--harness-url", default=harness_url)
    return parser.parse_args(["--headless", "--harness-url", harness_url])


def _environment(hub: g.Hub) -> tuple[Environment, g.ProfileShape]:
    cfg = hub.config
    stages = [Stage(*s) for s in cfg["schedule"]]
    shape = g.ProfileShape(stages, float(cfg["length"]))
    _configure_users(hub)
    env = Environment(
        user_classes=[g.Conversation],
        shape_class=shape,
        host=g.Conversation.host,
        stop_timeout=float(cfg["stop_timeout"]),
        parsed_options=_options(hub.url),
    )
    env.events.request.add_listener(g.count_request)
    return env, shape


def _configure_users(hub: g.Hub) -> None:
    """Before any user is created: how long they wait (every request names its full URL)."""
    g.Conversation.network_timeout = hub.adapter.timeout
    g.Conversation.connection_timeout = hub.adapter.timeout
    g.HUB = hub


def _settled() -> None:
    """Start-up is done (locust, gevent, the suite's models: about half a million objects that
    live as long as the process): frozen out of every collection, as locust's own command
    does, so a full collection during the load walks only what the load made."""
    gc.freeze()


def _supervise(runner: Runner, hub: g.Hub, shape: g.ProfileShape) -> None:
    """Report users until the profile has ended and every user stopped, or the harness
    says stop; then stop what is left (gracefully, within the stop timeout)."""
    length, grace = shape.length, float(hub.config["stop_timeout"]) + 2.0
    while True:
        gevent.sleep(STATUS_EVERY)
        started = runner.shape_last_tick is not None
        status = {
            "now": time.time(),
            "users": runner.user_count,
            "state": runner.state,
            **({"t0": shape.t0} if started else {}),
        }
        with contextlib.suppress(Exception):  # a missed report is no reason to stop
            hub.stop = hub.stop or bool(hub.post("/status", status, timeout=5).get("stop"))
        run_time = shape.get_run_time()
        if hub.stop or (run_time >= length and runner.user_count == 0):
            break
        if run_time >= length + grace:
            break  # users that did not finish in time are stopped below
    if runner.shape_greenlet is not None:
        runner.shape_greenlet.kill(block=True)
        runner.shape_greenlet = None
    if isinstance(runner, MasterRunner):
        runner.stop(send_stop_to_client=False)
    else:
        runner.stop()


def run_local(url: str) -> None:
    hub = g.Hub(url, "local", 0)
    env, shape = _environment(hub)
    runner = env.create_local_runner()
    hub.runner = runner
    hub.start()
    _settled()
    runner.start_shape()
    _supervise(runner, hub, shape)
    hub.close()
    totals = {
        "requests": runner.stats.total.num_requests,
        "failures": runner.stats.total.num_failures,
    }
    hub.post("/totals", {"index": 0, **totals})


def run_master(url: str, bind: str, port: int, expect: int) -> None:
    hub = g.Hub(url, "master")
    env, shape = _environment(hub)
    runner = env.create_master_runner(master_bind_host=bind, master_bind_port=port)
    workers: dict[str, dict[str, Any]] = {}

    def on_totals(msg: Message, **_: Any) -> None:
        workers[str(msg.node_id)] = dict(msg.data)

    runner.register_message("harness_totals", on_totals)
    deadline = time.monotonic() + 120
    while runner.worker_count < expect:
        if time.monotonic() > deadline:
            hub.post("/status", {"state": f"only {runner.worker_count} of {expect} workers came"})
            sys.exit(3)
        hub.post("/status", {"state": f"waiting for workers ({runner.worker_count}/{expect})"})
        gevent.sleep(0.2)
    # the workers as they came: one that stopped at the shape's end has sent client_stopped
    # and left runner.clients, yet still waits for its quit (and must send its totals)
    joined = {c.id for c in runner.clients.all}
    _settled()
    runner.start_shape()
    _supervise(runner, hub, shape)
    expected = joined | {c.id for c in runner.clients.all}
    for client in expected:
        runner.server.send_to_client(Message("quit", None, client))
    deadline = time.monotonic() + float(hub.config["stop_timeout"]) + 15
    while set(workers) < expected and time.monotonic() < deadline:
        gevent.sleep(0.05)  # each worker's final statistics arrive before its totals
    total = runner.stats.total
    hub.post(
        "/totals",
        {"requests": total.num_requests, "failures": total.num_failures, "workers": workers},
    )
    runner.greenlet.kill(block=False)


def run_worker(
    master_host: str, master_port: int, url: str | None, connect_timeout: float = 60.0
) -> None:
    import locust.runners

    # locust retries its handshake CONNECT_RETRY_COUNT times, CONNECT_TIMEOUT s each: bound it
    tries = max(1, math.ceil(connect_timeout / locust.runners.CONNECT_TIMEOUT))
    locust.runners.CONNECT_RETRY_COUNT = tries
    env = Environment(user_classes=[g.Conversation])
    env.events.request.add_listener(g.count_request)
    try:
        runner = env.create_worker_runner(master_host, master_port)
    except ConnectionError:
        print(
            f"harness load-worker: the locust master at {master_host}:{master_port} did not "
            f"answer within {connect_timeout:g} s",
            file=sys.stderr,
            flush=True,
        )
        os._exit(3)

    def on_test_start(environment: Environment, **_: Any) -> None:
        if g.HUB is None:  # the first spawn: the master's options carry the harness's address
            address = url or getattr(environment.parsed_options, "harness_url", None)
            if not address:
                raise SystemExit("the master sent no harness address (--harness-url)")
            hub = g.Hub(address, "worker", runner.worker_index)
            _configure_users(hub)
            hub.runner = runner
            hub.start()
            _settled()

    env.events.test_start.add_listener(on_test_start)
    runner.greenlet.join()  # until the master says quit
    hub = g.HUB
    if hub is not None:
        hub.close()
    runner.client.send(Message("harness_totals", dict(g.COUNTS), runner.client_id))
    if hub is not None:
        hub.post("/totals", {"index": runner.worker_index, **g.COUNTS})
    # the process ends with os._exit, which drops what zmq has not sent yet: wait (up to 3 s)
    # until the totals message has left
    with contextlib.suppress(Exception):
        runner.client.socket.context.destroy(linger=3000)


def _on_sigterm() -> None:
    """Stopped by the harness (Ctrl-C, a deadline): hand back what finished, then go."""

    def bye() -> None:
        hub = g.HUB
        if hub is not None:
            with gevent.Timeout(1.5, False):
                hub.flush(1.0)
        os._exit(143)

    gevent.spawn(bye)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.load.roles")
    parser.add_argument("role", choices=["local", "master", "worker"])
    parser.add_argument("--harness", help="the harness's case server, with its secret path")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5557)
    parser.add_argument("--expect", type=int, default=1)
    parser.add_argument("--master-host", default="127.0.0.1")
    parser.add_argument("--master-port", type=int, default=5557)
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    parser.add_argument("--tag", default="", help="names the run in the process list")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness (or load-worker) stops us
    gevent.signal_handler(signal.SIGTERM, _on_sigterm)
    if args.role == "local":
        run_local(args.harness)
    elif args.role == "master":
        run_master(args.harness, args.bind, args.port, args.expect)
    else:
        run_worker(args.master_host, args.master_port, args.harness, args.connect_timeout)
    sys.stdout.flush()
    os._exit(0)  # locust's greenlets may linger; this process has said all it had to


if __name__ == "__main__":
    main()
