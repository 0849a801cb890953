"""The HTTP message rules `harness run`'s client (agents/client.py) and the load generator's
(load/transport.py) share, without I/O: the headers every request carries unless the suite sets
them, the headers never sent, and how a reply's gzip or deflate body is read."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

#: sent with every request to the agent, by `harness run` and `harness load` alike, unless the
#: suite sets them: who asks, that any type will do, and no compressed reply
DEFAULT_HEADERS = (("User-Agent", "harness"), ("Accept", "*/*"), ("Accept-Encoding", "identity"))


def inflate_wbits(encoding: str, first: bytes) -> int:
    """zlib's wbits for a gzip or deflate body, by its first bytes: deflate comes as zlib
    data, or raw (no zlib header) as some servers send it."""
    if encoding == "gzip":
        return 16 + zlib.MAX_WBITS
    if len(first) < 2:  # one byte: zlib's usual first one, else raw
        return zlib.MAX_WBITS if first == b"\x78" else -zlib.MAX_WBITS
    zlib_header = (first[0] & 0x0F) == 8 and int.from_bytes(first[:2], "big") % 31 == 0
    return zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS


def coding(value: str | None) -> str:
    """A reply's Content-Encoding as the clients read it: "gzip", "deflate" or "" (none); any
    other is refused (ValueError): the harness asks for none."""
    name = (value or "").strip().lower()
    if name in ("", "identity"):
        return ""
    if name in ("gzip", "x-gzip", "deflate"):
        return "deflate" if name == "deflate" else "gzip"
    raise ValueError(f"the reply's content encoding {name!r} is none the harness reads")


class Inflater:
    """A gzip (every member) or deflate body inflated as its bytes arrive, never more than
    the `limit` of each `feed` (what is past it is dropped: the caller is past its cap)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.z: Any = None

    def feed(self, data: bytes, limit: int) -> bytes:
        out = b""
        try:
            while data and len(out) < limit:
                if self.z is None or self.z.eof:  # the body's first member, or its next
                    self.z = zlib.decompressobj(inflate_wbits(self.encoding, data))
                out += self.z.decompress(data, limit - len(out))
                data = self.z.unused_data if self.z.eof else b""
        except zlib.error as exc:
            raise ValueError(f"the reply's {self.encoding} body does not inflate: {exc}") from None
        return out

    def end(self) -> bytes:
        """What is left once the body ended; ValueError when its compressed data did not."""
        if self.z is None:
            return b""
        left: bytes = self.z.flush()
        if not self.z.eof:
            raise ValueError(f"the reply's {self.encoding} body is cut short")
        return left


def inflate(encoding: str, data: bytes, limit: int) -> bytes:
    """A whole gzip (every member) or deflate body, no more than `limit` bytes of it."""
    inflater = Inflater(encoding)
    out = inflater.feed(data, limit)
    return out if len(out) >= limit else out + inflater.end()


def header_problem(headers: Mapping[str, str]) -> str | None:
    """Why these headers must not be sent (a value rendered from a reply that holds a line
    break would inject headers of its own), or None."""
    for name, value in headers.items():
        if _BREAKS.intersection(name) or _BREAKS.intersection(value):
            return f"request not sent: the header {name!r} holds a line break"
    return None


_BREAKS = frozenset("\r\n\0")


def with_defaults(headers: Mapping[str, str]) -> dict[str, str]:
    """A request's headers with DEFAULT_HEADERS the suite did not set."""
    out = dict(headers)
    low = {name.lower() for name in headers}
    for name, value in DEFAULT_HEADERS:
        if name.lower() not in low:
            out[name] = value
    return out
