"""Stubbed third-party HTTP services (issue 14, "Third-party services as dependencies"): the
`http_service` dependency kind, a real HTTP server per service (pytest-httpserver over
Werkzeug; never a hand-written one) that answers as the suite declares and logs every request
it receives, attributed to the case it belongs to.

- `capture.py`: a request as the stub keeps it (body, headers, query capped and masked).
- `answers.py`: routes as pytest-httpserver matchers; sequences; answers rendered from
  templates over `request.*`, `params` and the case's context.
- `registry.py`: the cases in flight at a stub and which one a request belongs to
  (traceparent, the `match:` rule, or the only case of a run of concurrency 1).
- `service.py`: `StubService` (start, url, stop; the per-request dispatch).
- `running.py`: `start_stub`, a stub up on a free port and its `DependencyInfo`.
- `watcher.py`: `StubWatcher`, the engine's `Watcher`: a case's requests into its observation.
- `attribution.py`: call checks and scenario routes that cannot be attributed, refused at
  session start unless the run's concurrency is 1.

pytest-httpserver and Werkzeug are imported only here, and only once a suite declares an
`http_service` dependency.
"""
