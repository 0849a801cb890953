"""One stubbed third-party HTTP service: a real HTTP server (pytest-httpserver over Werkzeug,
threaded, on a free loopback port) whose one catch-all handler dispatches each request to
the case it belongs to (`registry.py`), answers it from the case's scenario routes first,
then the suite's routes, then the default (`answers.py`), after the declared latency (a
wait in the request's own thread, cut short when the stub stops). Each request is logged as
a `ServiceRequest` (capped and masked, `capture.py`) when it arrives, with the case it
belongs to; its status and duration are filled in once answered."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

from pytest_httpserver import HTTPServer
from pytest_httpserver.httpserver import METHOD_ALL
from werkzeug.wrappers import Request, Response

from harness.core.calls import ServiceRequest
from harness.spec import models as m
from harness.spec.template import Template
from harness.stubs.answers import Answer, Compiled, compiled, render
from harness.stubs.capture import DEFAULT_LIMITS, Captured, Limits, capture
from harness.stubs.registry import Entry, Registry

LOOPBACK = "127.0.0.1"


class _Server(HTTPServer):
    """pytest-httpserver without its own request log (a test's tool keeps every request and
    reads every body whole; the stub keeps its own capped log) and closing its socket on
    stop (its `stop` leaves the listening socket to the garbage collector)."""

    def application(self, request: Request) -> Response:
        return self.dispatch(request)

    def thread_target(self) -> None:
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.05)  # stops in 50 ms, not 500

    def stop(self) -> None:
        server = self.server
        super().stop()
        if server is not None:
            server.server_close()


class StubService:
    """`start()`, `url`, `stop()`; between them every request answered and logged."""

    def __init__(
        self,
        name: str,
        dep: m.HttpServiceDependency,
        params: Mapping[str, Any],
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.name = name
        self.dep = dep
        self.params = params
        self.limits = limits
        self.routes = compiled(dep.routes)
        self.registry = Registry(dep.match, dep.max_requests)
        self.template_errors = 0
        self.faults = 0  # requests the stub itself failed to answer (500)
        #: requests logged and being answered right now (their latency included)
        self.in_flight = 0
        self._count = threading.Lock()
        self._cache: dict[str, Template] = {}
        self._stopping = threading.Event()
        self._http: _Server | None = None

    @property
    def port(self) -> int:
        assert self._http is not None
        return int(self._http.port)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        _quiet()
        http = _Server(host=LOOPBACK, port=0, threaded=True)
        http.no_handler_status_code = 500  # never: the catch-all takes every request
        http.expect_request(re.compile(""), method=METHOD_ALL).respond_with_handler(self._handle)
        http.start()
        self._http = http

    def stop(self) -> None:
        """Stop answering and close the port; waits cut short; safe to call twice."""
        self._stopping.set()
        http, self._http = self._http, None
        if http is not None and http.is_running():
            http.stop()

    def entry(self, key: Any, trace_id: str | None, ctx: Mapping[str, Any],
              match_value: str | None, routes: list[m.Route]) -> Entry:  # fmt: skip
        return Entry(key, trace_id, match_value, compiled(routes), ctx, self.dep.max_requests)

    # ------------------------------------------------------------------ in request threads

    def _handle(self, request: Request) -> Response:
        try:
            return self._answered(request)
        except Exception as exc:  # a fault of the stub's: said in its answer, never raised
            # into pytest-httpserver (which would keep every one in a list without bound)
            with self._count:
                self.faults += 1
            return Response(f"harness stub fault: {type(exc).__name__}", 500)

    def _answered(self, request: Request) -> Response:
        at_ns = time.time_ns()
        captured = capture(request, self.limits)
        logged, entry = self.registry.arrive(
            captured,
            ServiceRequest(
                service=self.name,
                method=captured.method,
                path=captured.path,
                query=captured.query,
                headers=captured.headers,
                body=captured.body,
                json=captured.json,
                at_ns=at_ns,
                trace_id=captured.trace_id,
                parent_id=captured.parent_id,
            ),
        )  # logged now, with its case: an answer slower than the agent's timeout stays its
        with self._count:
            self.in_flight += 1
        try:
            if captured.too_large:
                answer = Answer(413, b'{"error": "request body too large for the stub"}',
                                {"Content-Type": "application/json"}, 0.0)  # fmt: skip
                by = "limit"
            else:
                answer, by = self._answer(request, captured, entry)
            self.registry.routed(logged, by)
            if answer.latency:
                self._stopping.wait(answer.latency)
            self.registry.answered(logged, answer.status)
            return Response(answer.body, answer.status, answer.headers)
        finally:
            with self._count:
                self.in_flight -= 1

    def _answer(
        self, request: Request, captured: Captured, entry: Entry | None
    ) -> tuple[Answer, str]:
        """The scenario's routes (of the case whose values answer it), then the suite's,
        then the default."""
        chosen: tuple[str, int, Compiled] | None = None
        for source, routes in (("scenario", entry.routes if entry else ()), ("route", self.routes)):
            for index, route in enumerate(routes):
                if route.takes(request):
                    chosen = (source, index, route)
                    break
            if chosen is not None:
                break
        if chosen is None:
            response, by = self.dep.default, "default"
        else:
            source, index, route = chosen
            response, by = route.pick(self.registry.count(entry, (source, index))), source
        own = {"request": captured.context(), "params": self.params}
        context: Mapping[str, Any] = own if entry is None else _Chain(own, entry.ctx)
        answer = render(response, context, self._cache)
        if answer.error is not None:
            with self._count:
                self.template_errors += 1
        return answer, by


def _quiet() -> None:
    """Werkzeug's access log off: it would print every request line (a secret in a query
    too) to the harness's console; the stub keeps its own masked log."""
    log = logging.getLogger("werkzeug")
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    log.setLevel(logging.CRITICAL)
    log.propagate = False


class _Chain(Mapping[str, Any]):
    """The request's names over the case's context, looked up (never copied or iterated: the
    event loop may be changing the case's context meanwhile)."""

    def __init__(self, first: Mapping[str, Any], then: Mapping[str, Any]) -> None:
        self.first = first
        self.then = then

    def __getitem__(self, key: str) -> Any:
        if key in self.first:
            return self.first[key]
        return self.then[key]

    def __contains__(self, key: object) -> bool:
        return key in self.first or key in self.then

    def __iter__(self) -> Any:
        return iter(self.first)

    def __len__(self) -> int:
        return len(self.first)
