"""A stub's routes as pytest-httpserver matchers, and its answers: which response of a route
(a sequence counted per case), rendered from its templates over `request.*`, `params` and
the case's context when the request belongs to one."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from pytest_httpserver.httpserver import METHOD_ALL, RequestMatcher, URIPattern
from werkzeug.wrappers import Request

from harness.core.types import to_jsonable
from harness.spec import models as m
from harness.spec.template import Template, TemplateError, format_value, render_deep


class _Search(URIPattern):
    """A route's `path_regex`, searched in the request's path (as every regex of a suite)."""

    def __init__(self, pattern: str) -> None:
        self.regex = re.compile(pattern)

    def match(self, uri: str) -> bool:
        return self.regex.search(uri) is not None


@dataclass(frozen=True, slots=True)
class Compiled:
    """One route: its matcher (method, path or path_regex) and its answers."""

    route: m.Route
    matcher: RequestMatcher

    @classmethod
    def of(cls, route: m.Route) -> Compiled:
        uri: str | URIPattern = (
            route.path if route.path is not None else _Search(route.path_regex or "")
        )
        return cls(route, RequestMatcher(uri, method=route.method or METHOD_ALL))

    def takes(self, request: Request) -> bool:
        return self.matcher.match(request)

    def pick(self, seen: int) -> m.Response:
        """The answer to the route's request number `seen` (0-based) of this case: one
        `respond`, or the sequence's (each `times` in a row, the last one repeating)."""
        if self.route.respond is not None:
            return self.route.respond
        sequence = self.route.sequence or []
        for response in sequence:
            if seen < response.times:
                return response
            seen -= response.times
        return sequence[-1]


def compiled(routes: list[m.Route]) -> tuple[Compiled, ...]:
    return tuple(Compiled.of(r) for r in routes)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]
    latency: float
    error: str | None = None  # the stub could not render its declared answer


def render(response: m.Response, context: Mapping[str, Any], cache: dict[str, Template]) -> Answer:
    """The declared response rendered; a template that cannot be rendered for this request
    (a field the request lacks) is a 500 that says why, never an exception in the server."""
    try:
        headers = {k: format_value(render_deep(v, context, cache)) for k, v in
                   response.headers.items()}  # fmt: skip
        if response.json_body is not None:
            data = to_jsonable(render_deep(response.json_body, context, cache))
            body = orjson.dumps(data)
            headers.setdefault("Content-Type", "application/json")
        elif response.body is not None:
            body = format_value(render_deep(response.body, context, cache)).encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            body = b""
    except TemplateError as exc:
        why = f"the stub cannot render its answer for this request: {exc}"
        return Answer(
            500,
            orjson.dumps({"error": why}),
            {"Content-Type": "application/json"},
            response.latency,
            why,
        )
    return Answer(response.status, body, headers, response.latency)
