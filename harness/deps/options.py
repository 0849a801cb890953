"""What the command line and environment said about dependencies, carried explicitly from the
CLI through the session to `deps/select.py` (no module state)."""

from __future__ import annotations

from dataclasses import dataclass

EXTERNAL_ENV = "HARNESS_EXTERNAL_"  # + NAME: where external dependency NAME runs


@dataclass(frozen=True)
class DepsOptions:
    mode: str | None = None  # None: not given, the suite or the default decides
    mode_source: str = "--deps"  # where `mode` came from, for messages
    images: tuple[str, ...] = ()  # NAME=REF (a dependency or kind name)
    externals: tuple[str, ...] = ()  # NAME=URL
    disposable: tuple[str, ...] = ()  # dependency names
