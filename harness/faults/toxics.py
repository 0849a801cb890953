"""A toxic as data, with Toxiproxy's names and units, and the pure parts of its behaviour.

`Toxic` maps 1:1 onto a Toxiproxy toxic (`name`, `type` as `kind`, `stream`, `toxicity`,
`attributes` with the same names and units: milliseconds, KB/s, bytes, microseconds for the
slicer's delay); `down` is Toxiproxy's `enabled: false` written as a toxic so that one list
says everything a link suffers. Two extensions of ours: `after_sent`, a regex that places the
toxic at a moment of the protocol rather than of the clock ("reset the link once the agent's
COMMIT reached PostgreSQL"), which Toxiproxy has no way to say, and `times`, the most
connections it acts on (one lost answer, not every retry's). Every draw is seeded: which
connections a toxic affects is a pure function of (seed, toxic name, connection number), so a
run replays.
"""

import random
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.empty import empty_dict

Kind = Literal[
    "latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data", "down"
]
Stream = Literal["upstream", "downstream"]

#: each kind's attributes in Toxiproxy's order, with their units (every one defaults to 0)
ATTRIBUTES: dict[str, dict[str, str]] = {
    "latency": {"latency": "ms", "jitter": "ms"},
    "bandwidth": {"rate": "KB/s"},
    "slow_close": {"delay": "ms"},
    "timeout": {"timeout": "ms"},
    "reset_peer": {"timeout": "ms"},
    "slicer": {"average_size": "bytes", "size_variation": "bytes", "delay": "us"},
    "limit_data": {"bytes": "bytes"},
    "down": {},
}
#: the largest value of any attribute (about 24.8 days in ms): a bound, not a meaning
MAX_ATTRIBUTE = 2**31 - 1


class Toxic(BaseModel):
    """One fault on one direction of a link, for a share of its connections."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind
    #: unique on its link; Toxiproxy's default `<kind>_<stream>`
    name: str = Field(default="", max_length=200)
    #: upstream: client -> server; downstream: server -> client (Toxiproxy's default)
    stream: Stream = "downstream"
    #: the share of connections affected, drawn per connection from the link's seed
    toxicity: float = Field(default=1.0, ge=0.0, le=1.0)
    attributes: dict[str, int] = Field(default_factory=empty_dict)
    #: harness extension: the toxic waits on each connection until the bytes the client sent
    #: on it (since the toxic was added; the last 64 KiB) match this regex (Python syntax,
    #: over bytes read as latin-1, DOTALL); then a downstream toxic starts with the server's
    #: next bytes (the answer to what matched), an upstream one with the client's next bytes
    after_sent: str | None = Field(default=None, max_length=1000)
    #: harness extension: the toxic acts on at most this many connections while it is active
    #: (in accept order; with `after_sent`, the first ones whose bytes match): a one-off blip
    times: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("kind") not in ATTRIBUTES:
            return data
        data = dict(data)
        if not data.get("name"):
            data["name"] = f"{data['kind']}_{data.get('stream') or 'downstream'}"
        given = data.get("attributes") or {}
        if isinstance(given, dict):
            known = ATTRIBUTES[data["kind"]]
            data["attributes"] = {**dict.fromkeys(known, 0), **given}
        return data

    @model_validator(mode="after")
    def _check(self) -> "Toxic":
        known = ATTRIBUTES[self.kind]
        unknown = sorted(set(self.attributes) - set(known))
        if unknown:
            allowed = ", ".join(known) or "none"
            raise ValueError(f"{self.kind} has no attribute {unknown[0]!r} (it has: {allowed})")
        for key, value in self.attributes.items():
            if not 0 <= value <= MAX_ATTRIBUTE:
                raise ValueError(f"{self.kind}.{key} must be 0 to {MAX_ATTRIBUTE}, not {value}")
        if self.kind == "slicer":
            average, variation = self.attributes["average_size"], self.attributes["size_variation"]
            if average < 1 or variation >= average:
                raise ValueError(
                    "slicer needs average_size >= 1 and size_variation below it "
                    f"(got {average} and {variation})"
                )
        if self.kind == "down" and self.toxicity != 1.0:
            raise ValueError("down refuses every connection: its toxicity is always 1")
        if self.kind == "down" and self.times is not None:
            raise ValueError("down refuses every connection while it is on: no times")
        if self.after_sent is not None:
            if self.kind == "down":
                raise ValueError("down refuses connections before anything is sent: no after_sent")
            try:
                re.compile(self.after_sent, re.DOTALL)
            except re.error as exc:
                raise ValueError(f"after_sent is not a regex: {exc}") from None
        return self

    def __getitem__(self, attribute: str) -> int:
        return self.attributes[attribute]


@dataclass(frozen=True)
class ToxicSample:
    """Which connections a toxic affected: the seed, the ones it was drawn for, the ones hit."""

    name: str
    kind: str
    stream: str
    toxicity: float
    seed: int
    #: connection numbers (1, 2, ... in accept order) the toxic was drawn for
    considered: tuple[int, ...]
    affected: tuple[int, ...]

    @property
    def share(self) -> float | None:
        """The observed share of affected connections (None before any was drawn)."""
        return len(self.affected) / len(self.considered) if self.considered else None


def affects(seed: int, name: str, connection: int, toxicity: float) -> bool:
    """Whether a toxic hits a connection: a pure function of its inputs, so a run replays."""
    if toxicity >= 1.0:
        return True
    if toxicity <= 0.0:
        return False
    return random.Random(f"{seed}/{name}/{connection}").random() < toxicity


def latency_delay(rng: random.Random, latency: int, jitter: int) -> float:
    """Seconds to hold a chunk: latency +/- jitter, as Toxiproxy draws it, never negative."""
    delay = latency
    if jitter > 0:
        delay += rng.randrange(jitter * 2) - jitter
    return max(delay, 0) / 1000


def slice_bounds(rng: random.Random, size: int, average: int, variation: int) -> list[int]:
    """Where the slicer cuts a chunk of `size` bytes: [0, ..., size], halves split recursively
    until each piece is within `variation` of `average` (Toxiproxy's `chunk`)."""
    bounds = [0]
    pending = [(0, size)]
    while pending:
        start, end = pending.pop()
        if (end - start) - average <= variation:
            bounds.append(end)
            continue
        mid = start + (end - start) // 2
        if variation > 0:
            mid += rng.randrange(variation * 2) - variation
        mid = min(max(mid, start + 1), end - 1)
        pending.append((mid, end))
        pending.append((start, mid))
    return bounds


#: what a watch keeps of the client's bytes on a connection: the last 64 KiB
WATCH_LIMIT = 64 * 1024


class Watch:
    """An `after_sent` toxic waiting on one connection: the client's bytes since it was added
    (the last `WATCH_LIMIT`), matched after every chunk."""

    __slots__ = ("pattern", "seen", "toxic")

    def __init__(self, toxic: Toxic) -> None:
        assert toxic.after_sent is not None
        self.toxic = toxic
        self.pattern = re.compile(toxic.after_sent, re.DOTALL)  # re caches the compiled form
        self.seen = b""

    def feed(self, data: bytes) -> bool:
        """Keep `data`; True when what was kept matches."""
        seen = self.seen + data
        if len(seen) > WATCH_LIMIT:
            seen = seen[-WATCH_LIMIT:]
        self.seen = seen
        return self.pattern.search(seen.decode("latin-1")) is not None
