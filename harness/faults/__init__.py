"""Faults on the wire: a TCP proxy between the agent and a dependency, with Toxiproxy's toxics.

`LinkProxy` listens on a free loopback port and forwards to one upstream; `Toxic` says what
a link suffers (latency, bandwidth, timeout, reset_peer, slow_close, slicer, limit_data,
down), on which stream and for which share of connections, with Toxiproxy's names, units and
semantics (its `toxics/*.go` read for each). The proxy is written here, small, on asyncio:
Toxiproxy itself (Go) cannot be installed from any registry this project uses, and no library
offers an asyncio Toxiproxy. Everything is seeded: which connections a toxic hits, jitter and
slice sizes replay from the link's seed and each connection's number.

Modules: `toxics.py` (the model and its pure parts, the `after_sent` watch), `link.py` (one
connection), `pipe.py` (one direction of it), `runners.py` (each toxic at work), `proxy.py`
(the listener, `down`, the toxics of a link, counters).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.faults.toxics import ATTRIBUTES, Kind, Stream, Toxic, ToxicSample, affects

if TYPE_CHECKING:
    from harness.faults.proxy import LinkProxy, LinkStats

__all__ = [
    "ATTRIBUTES",
    "Kind",
    "LinkProxy",
    "LinkStats",
    "Stream",
    "Toxic",
    "ToxicSample",
    "affects",
]


def __getattr__(name: str) -> Any:
    """The proxy (asyncio, sockets) loads on first use: the suite format reads only the toxics,
    and `harness validate` never starts a proxy."""
    if name in ("LinkProxy", "LinkStats"):
        from harness.faults import proxy

        return getattr(proxy, name)
    raise AttributeError(f"module 'harness.faults' has no attribute {name!r}")
