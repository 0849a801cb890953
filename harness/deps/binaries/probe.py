"""Finding an executable and asking its version: the lookups both servers share."""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path


def executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def wheel_dir(package: str) -> Path | None:
    """The directory of an installed package, without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent


def in_wheel(package: str, *parts: str) -> Path | None:
    """A file inside an installed package (None when the package is not installed)."""
    pkg = wheel_dir(package)
    return None if pkg is None else pkg.joinpath(*parts)


def which(name: str, environ: Mapping[str, str]) -> Path | None:
    found = shutil.which(name, path=environ.get("PATH", os.defpath))
    return Path(found) if found else None


def run_probe(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Run a short command that reports something: no input, output kept, 20 s at most."""
    return subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=20, check=False
    )


def _run_version(path: Path) -> str:
    out = run_probe([str(path), "--version"])
    text = (out.stdout or out.stderr).decode("utf-8", errors="replace").strip()
    if out.returncode != 0:
        first = text.splitlines()[0][:200] if text else "no output"
        raise OSError(f"`{path} --version` exited with {out.returncode} ({first})")
    return text


@functools.lru_cache(maxsize=32)
def _version_cached(path: str, mtime_ns: int, size: int) -> str:
    return _run_version(Path(path))


def binary_version_text(path: Path) -> str:
    """`path --version`, cached per (path, mtime, size): the text it printed."""
    st = path.stat()
    return _version_cached(str(path), st.st_mtime_ns, st.st_size)


def parse_version(text: str, pattern: str, product: str, program: str) -> str:
    """'<product> <version>' from `program --version`'s output, the version being `pattern`'s
    group; a ValueError when the text is not such a line."""
    m = re.search(pattern, text)
    if not m:
        raise ValueError(f"not a {program} version line: {text[:200]!r}")
    return f"{product} {m.group(1)}"
