"""The cases in flight at one stub, and which one a request belongs to.

A request belongs to a case by the `traceparent` it carries (the trace the harness sent
with the case's turns, which the agent propagated), else by the service's `match:` rule (a
value of the request equals the case's rendered value), else, with no `match:` at all and a
run of concurrency 1, to the only case in flight ("only"). Anything else is unattributed:
answered by the suite's routes or the default and kept in the run-level log; a match value
two cases in flight share (a duplicate pair under load) is answered with one of them's
values, attributed to neither. A request is attributed and logged when it ARRIVES (an answer
slower than the agent's own timeout still belongs to its case); its status and duration are
filled in once answered. Begin and end run on the event loop, requests in the server's
threads: one lock guards it all."""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from harness.core.calls import ServiceRequest
from harness.empty import empty_dict, empty_list
from harness.spec import models as m
from harness.stubs.answers import Compiled
from harness.stubs.capture import Captured, lookup

Key = tuple[str, int, int | None]  # case id, trial, variant


@dataclass(slots=True)
class Logged:
    """A request as logged when it arrived (the case it belongs to decided then); its answer
    (status, duration) filled in once given. Changed under the registry's lock only."""

    request: ServiceRequest
    began: float  # perf_counter at arrival
    answered: bool = False

    def final(self) -> ServiceRequest:
        """The request as a record keeps it: answered, or still being answered now (status
        0, `pending`, its duration so far, the route that is answering)."""
        if self.answered:
            return self.request
        took = round((time.perf_counter() - self.began) * 1000, 3)
        return replace(self.request, status=0, pending=True, duration_ms=took)


@dataclass(slots=True)
class Entry:
    """One conversation in flight: what it brings (its trace, its match value, its
    scenario's routes for this service) and what it gets (its requests, its counters, how
    many requests of no case the stub received while it was in flight)."""

    key: Key
    trace_id: str | None
    match_value: str | None
    routes: tuple[Compiled, ...]
    ctx: Mapping[str, Any]
    limit: int
    requests: list[Logged] = field(default_factory=empty_list)
    dropped: int = 0
    counters: dict[tuple[str, int], int] = field(default_factory=empty_dict)
    strays_before: int = 0  # the stub's count of requests any case could own, when it began
    shared: int = 0  # requests carrying its match value while another case shared it
    strays: int = 0  # requests of no case that may be its (set when it ends)

    def add(self, logged: Logged) -> None:
        if len(self.requests) < self.limit:
            self.requests.append(logged)
        else:
            self.dropped += 1

    def log(self) -> list[ServiceRequest]:
        """Its requests as the observation keeps them (call when it has ended)."""
        return [logged.final() for logged in self.requests]


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
        #: requests no case owned (the newest kept), how many there were in all, and how
        #: many of those carried a match value two cases in flight shared (a duplicate pair)
        self._stray: deque[Logged] = deque(maxlen=max_requests)
        self.unattributed_total = 0
        self.shared_total = 0
        #: requests of no case that any case in flight could own (not a pair's shared value)
        self._blind_total = 0
        self._counters: dict[tuple[str, int], int] = {}  # sequences of unattributed requests

    @property
    def unattributed(self) -> list[ServiceRequest]:
        """The requests of no case kept (the newest `max_requests`), in arrival order."""
        with self._lock:
            return [logged.final() for logged in self._stray]

    def register(self, entry: Entry) -> None:
        with self._lock:
            self._drop(entry.key)
            entry.strays_before = self._blind_total
            self._entries[entry.key] = entry
            if entry.trace_id:
                self._by_trace[entry.trace_id] = entry
            if entry.match_value is not None:
                self._by_value.setdefault(same(entry.match_value), []).append(entry)

    def unregister(self, key: Key) -> Entry | None:
        """The case's entry, forgotten: its requests (one still being answered included,
        marked so) and its count of requests of no case while it was in flight."""
        with self._lock:
            entry = self._drop(key)
            if entry is not None:
                entry.strays = self._blind_total - entry.strays_before + entry.shared
                entry.requests = [Logged(x.final(), x.began, True) for x in entry.requests]
            return entry

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

    def _owner(self, captured: Captured) -> tuple[Entry | None, str, list[Entry]]:
        """The case a request belongs to and how ("traceparent", "match", "only"), or
        (None, ""); and, for a match value two cases in flight share (a duplicate pair holds
        the same values), those cases: the request is attributed to neither (never a guess)
        and answered with the first one's values."""
        if captured.trace_id and (entry := self._by_trace.get(captured.trace_id)):
            return entry, "traceparent", []
        if isinstance(self.match, m.MatchRule):
            value = request_value(self.match, captured)
            owners = self._by_value.get(same(value), []) if value is not None else []
            if len(owners) == 1:
                return owners[0], "match", []
            return None, "", list(owners)
        if self.match is None and self.sole and len(self._entries) == 1:
            only = next(iter(self._entries.values()))
            return only, "only", []
        return None, "", []

    def arrive(self, captured: Captured, request: ServiceRequest) -> tuple[Logged, Entry | None]:
        """A request arrived: the case it belongs to decided and the request logged now
        (with it, or as of no case), before it is answered; and the case whose values and
        routes answer it (see `_owner`)."""
        with self._lock:
            entry, how, sharing = self._owner(captured)
            logged = Logged(replace(request, attributed=how), time.perf_counter())
            if entry is not None:
                entry.add(logged)
                return logged, entry
            self._stray.append(logged)
            self.unattributed_total += 1
            if sharing:  # it may be either twin's, and is no other case's
                self.shared_total += 1
                for twin in sharing:
                    twin.shared += 1
                return logged, sharing[0]
            self._blind_total += 1  # it may be any case's in flight
            return logged, None

    def routed(self, logged: Logged, by: str) -> None:
        """Which of the stub's answers is answering it (before its latency)."""
        with self._lock:
            logged.request = replace(logged.request, answered_by=by)

    def answered(self, logged: Logged, status: int) -> None:
        """Its answer given: the status, and how long since it arrived."""
        with self._lock:
            took = round((time.perf_counter() - logged.began) * 1000, 3)
            logged.request = replace(logged.request, status=status, duration_ms=took)
            logged.answered = True

    def count(self, entry: Entry | None, route: tuple[str, int]) -> int:
        """How many requests this route answered before for the case (or for nobody's)."""
        with self._lock:
            counters = entry.counters if entry is not None else self._counters
            seen = counters.get(route, 0)
            counters[route] = seen + 1
            return seen
