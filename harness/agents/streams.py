"""A streamed reply put together as its chunks arrive, without I/O: Server-Sent Events
(decoded by httpx-sse's decoder) or newline-delimited JSON. Both the harness and the load
generator feed it (agents/dialogue.py)."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Any

import orjson

from harness.agents.paths import near_path
from harness.agents.protocol import EXCERPT, _json, as_text, get_path
from harness.spec.models.agents import StreamSpec


class StreamAssembler:
    """A streamed reply put together as its chunks arrive: Server-Sent Events (decoded by
    httpx-sse's decoder) or newline-delimited JSON; `join` concatenates each event's delta,
    `last` keeps the last event."""

    def __init__(self, spec: StreamSpec) -> None:
        self.spec = spec
        self.events = 0
        self.done = False
        self._found = 0  # events that had the delta path (join)
        self._first: Any = None  # the first event, for a hint when no event had it
        self._pieces: list[str] = []
        self._last: Any = None
        self._lines: Any = None
        self._sse: Any = None
        self._pending = b""
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")  # split characters
        if spec.format == "sse":
            from httpx_sse._decoders import SSEDecoder, SSELineDecoder  # the library's parser

            self._lines, self._sse = SSELineDecoder(), SSEDecoder()

    def feed(self, chunk: bytes) -> None:
        for data in self._events(chunk):
            self._event(data)

    def finish(self) -> None:
        if self.spec.format == "sse":
            for line in self._lines.decode(self._text.decode(b"", final=True)):
                event = self._sse.decode(line)
                if event is not None:
                    self._accept(event)
            for line in self._lines.flush():
                event = self._sse.decode(line)
                if event is not None:
                    self._accept(event)
            event = self._sse.decode("")
            if event is not None:
                self._accept(event)
        elif self._pending.strip():
            self._event(self._pending.decode("utf-8", errors="replace"))
            self._pending = b""

    def _events(self, chunk: bytes) -> Iterator[str]:
        if self.spec.format == "sse":
            for line in self._lines.decode(self._text.decode(chunk)):
                event = self._sse.decode(line)
                if event is not None and self._wanted(event):
                    yield event.data
            return
        self._pending += chunk
        *lines, self._pending = self._pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield line.decode("utf-8", errors="replace")

    def _accept(self, event: Any) -> None:
        if self._wanted(event):
            self._event(event.data)

    def _wanted(self, event: Any) -> bool:
        return self.spec.event is None or event.event == self.spec.event

    def _event(self, data: str) -> None:
        if self.done:
            return
        done = self.spec.done
        if self.spec.format == "sse" and done is not None and data.strip() == done:
            self.done = True
            return
        self.events += 1
        value, not_json = _json(data.encode())
        if not_json is not None:
            value = data
        if self.events == 1:
            self._first = value
        if self.spec.mode == "last":
            self._last = value
            return
        self._last = value
        if self.spec.delta is None:
            self._pieces.append(as_text(value))
        else:
            piece, found = get_path(value, self.spec.delta)
            if found:
                self._found += 1
                if piece is not None:
                    self._pieces.append(as_text(piece))

    def problem(self) -> str | None:
        """Why the finished stream is no whole reply, or None: it ended before its end marker
        (cut short: `done` is required in `join` mode, or when the suite set it), it had no
        event, its last event has no `data` path (cut before its final event), or no event had
        the `delta` path (a misspelt path read every reply as empty, and a `not_contains`
        passed on it)."""
        spec = self.spec
        required = spec.mode == "join" or "done" in spec.model_fields_set
        if spec.format == "sse" and spec.done is not None and required and not self.done:
            return (
                f"the stream ended before its end marker {spec.done!r} after {self.events} "
                "event(s): cut short (`done: null` when only the end of the response ends it)"
            )
        if not self.events:
            named = f" named {spec.event!r}" if spec.event is not None else ""
            return f"the stream ended without an event{named}"
        if spec.data is not None and not get_path(self._last, spec.data)[1]:
            hint = near_path(spec.data, self._last)  # cut before its final event, or a typo
            return f"the stream's last event has no {spec.data!r}{hint}: {_shown(self._last)}"
        if spec.delta is None:
            return None
        if spec.mode == "join" and not self._found:
            hint = near_path(spec.delta, self._first)
            return (
                f"no event of the stream has {spec.delta!r}{hint}; the first: {_shown(self._first)}"
            )
        if spec.mode == "last" and not get_path(self._last, spec.delta)[1]:
            hint = near_path(spec.delta, self._last)
            return f"the stream's last event has no {spec.delta!r}{hint}: {_shown(self._last)}"
        return None

    def result(self) -> tuple[str | None, Any]:
        """(the reply's text, the JSON kept): joined deltas, or the last event's text at
        `delta`; the JSON is the last event, or its value at `data`."""
        data = self._last
        if self.spec.data is not None and data is not None:
            data, _ = get_path(data, self.spec.data)
        if self.spec.mode == "join":
            return "".join(self._pieces), data
        if self._last is None:
            return None, None
        if self.spec.delta is None:
            return as_text(self._last), data
        value, found = get_path(self._last, self.spec.delta)
        return (as_text(value) if found and value is not None else None), data


def _shown(event: Any) -> str:
    """An event as the evidence quotes it: its JSON (or text), cut to the excerpt's length."""
    text = event if isinstance(event, str) else orjson.dumps(event).decode()
    return text[:EXCERPT]
