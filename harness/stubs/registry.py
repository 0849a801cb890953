"""The cases in flight at one stub, and which one a request belongs to.

A request belongs to a case by the `traceparent` it carries (the trace the harness sent
with the case's turns, which the agent propagated), else by the service's `match:` rule (a
value of the request equals the case's rendered value), else, with no `match:` at all and a
run of concurrency 1, to the only case in flight ("only"). Anything else is unattributed:
answered by the suite's routes and kept in the run-level log. Begin and end run on the
event loop, requests in the server's threads: one lock guards it all."""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from harness.core.calls import ServiceRequest
from harness.spec import models as m
from harness.stubs.answers import Compiled
from harness.stubs.capture import Captured, lookup

Key = tuple[str, int, int | None]  # case id, trial, variant


@dataclass(slots=True)
class Entry:
    """One conversation in flight: what it brings (its trace, its match value, its
    scenario's routes for this service) and what it gets (its requests, its counters)."""

    key: Key
    trace_id: str | None
    match_value: str | None
    routes: tuple[Compiled, ...]
    ctx: Mapping[str, Any]
    limit: int
    requests: list[ServiceRequest] = field(default_factory=list)
    dropped: int = 0
    counters: dict[tuple[str, int], int] = field(default_factory=dict)

    def add(self, request: ServiceRequest) -> None:
        if len(self.requests) < self.limit:
            self.requests.append(request)
        else:
            self.dropped += 1


def same(value: str) -> str:
    """A match value as compared: a number by its value (1500, 1500.0 and "1500.00" are one
    order amount), anything else as its text."""
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, ValueError):
        return value
    if not number.is_finite() or abs(number.adjusted()) > 40:  # 1e999999999: text, kept short
        return value
    return format(number.normalize(), "f") if number else "0"


def request_value(rule: m.MatchRule, captured: Captured) -> str | None:
    """The value a `match:` rule reads from a request (unmasked), as text; None: absent."""
    value: Any = None
    if rule.json_path is not None:
        value = lookup(captured.raw_json, rule.json_path)
    elif rule.query is not None:
        value = captured.raw_query.get(rule.query)
    elif rule.header is not None:
        wanted = rule.header.lower()
        value = next((v for k, v in captured.raw_headers.items() if k.lower() == wanted), None)
    elif rule.path_regex is not None:
        found = re.search(rule.path_regex, captured.path)
        if found is not None:
            value = found.group(1) if found.groups() else found.group(0)
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Registry:
    """Cases in flight (by trace id and by match value), and the requests nobody owns."""

    def __init__(self, match: m.MatchRule | str | None, max_requests: int) -> None:
        self.match = match
        self.max_requests = max_requests
        #: the run's concurrency is 1: a request without a rule belongs to the only case
        self.sole = False
        self._lock = threading.Lock()
        self._entries: dict[Key, Entry] = {}
        self._by_trace: dict[str, Entry] = {}
        self._by_value: dict[str, list[Entry]] = {}
        #: requests no case owned (the newest kept), how many there were in all
        self.unattributed: deque[ServiceRequest] = deque(maxlen=max_requests)
        self.unattributed_total = 0
        self._counters: dict[tuple[str, int], int] = {}  # sequences of unattributed requests

    def register(self, entry: Entry) -> None:
        with self._lock:
            self._drop(entry.key)
            self._entries[entry.key] = entry
            if entry.trace_id:
                self._by_trace[entry.trace_id] = entry
            if entry.match_value is not None:
                self._by_value.setdefault(same(entry.match_value), []).append(entry)

    def unregister(self, key: Key) -> Entry | None:
        with self._lock:
            return self._drop(key)

    def _drop(self, key: Key) -> Entry | None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return None
        if entry.trace_id and self._by_trace.get(entry.trace_id) is entry:
            del self._by_trace[entry.trace_id]
        if entry.match_value is not None:
            value = same(entry.match_value)
            others = [e for e in self._by_value.get(value, []) if e is not entry]
            if others:
                self._by_value[value] = others
            else:
                self._by_value.pop(value, None)
        return entry

    def attribute(self, captured: Captured) -> tuple[Entry | None, str]:
        """The case a request belongs to and how ("traceparent", "match", "only"), or
        (None, "")."""
        with self._lock:
            if captured.trace_id and (entry := self._by_trace.get(captured.trace_id)):
                return entry, "traceparent"
            if isinstance(self.match, m.MatchRule):
                value = request_value(self.match, captured)
                owners = self._by_value.get(same(value), []) if value is not None else []
                if len(owners) == 1:  # two cases with one value: nobody's, never a guess
                    return owners[0], "match"
            elif self.match is None and self.sole and len(self._entries) == 1:
                return next(iter(self._entries.values())), "only"
        return None, ""

    def count(self, entry: Entry | None, route: tuple[str, int]) -> int:
        """How many requests this route answered before for the case (or for nobody's)."""
        with self._lock:
            counters = entry.counters if entry is not None else self._counters
            seen = counters.get(route, 0)
            counters[route] = seen + 1
            return seen

    def record(self, entry: Entry | None, request: ServiceRequest) -> None:
        with self._lock:
            if entry is not None and self._entries.get(entry.key) is entry:
                entry.add(request)
                return
            # nobody's, or its case ended while it was answered (the agent did not wait)
            self.unattributed.append(request)
            self.unattributed_total += 1
