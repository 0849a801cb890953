"""How large a suite file may be: a larger one is refused before it is read, in moments and
bounded memory, with a message that says its size, the limit and how to raise it."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pydantic import ValidationError

from harness.errors import ConfigError

#: the largest suite file read; suite.yaml's `max_file_size` or HARNESS_MAX_FILE_SIZE raise it
DEFAULT_MAX_FILE_SIZE = 4_000_000
SIZE_ENV = "HARNESS_MAX_FILE_SIZE"


@dataclass(frozen=True)
class FileLimit:
    """How large a suite file may be, and where that limit was set."""

    value: int = DEFAULT_MAX_FILE_SIZE
    origin: str = "the default"

    def refusal(self, size: int) -> str:
        enough = f"{-(-size // 1_000_000)}MB"
        return (
            f"the file is {_size(size)} ({size:,} bytes), over the {_size(self.value)} limit "
            f"for a suite file ({self.origin}), so it was not read. Suite files are written by "
            f"hand and small; if this one really must be this large, raise the limit with "
            f"`max_file_size: {enough}` in suite.yaml or {SIZE_ENV}={enough}"
        )


def _size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    return f"{n / 1000:.1f} kB" if n >= 1000 else f"{n} bytes"


def file_limit(setting: int | None = None) -> FileLimit:
    """HARNESS_MAX_FILE_SIZE (e.g. 32MB), else a suite's `max_file_size`, else the default."""
    raw = os.environ.get(SIZE_ENV, "").strip()
    if raw:
        from pydantic import ByteSize, TypeAdapter

        try:
            value = int(TypeAdapter(ByteSize).validate_python(raw))
        except ValidationError:
            raise ConfigError(
                f"{SIZE_ENV}={raw!r} is not a size",
                hint="write it as bytes or with a unit: 8MB, 500kB, 16MiB",
            ) from None
        return FileLimit(value, f"{SIZE_ENV}={raw}")
    if setting is not None:
        return FileLimit(setting, f"max_file_size in suite.yaml: {setting:,} bytes")
    return FileLimit()
