"""Faker as the suite format names it: one instance per locale, and which provider names exist.

A suite's `faker: NAME` is checked when the suite loads (spec/references.py), like a
timezone's name; the generators (generate/values.py) draw from the same instances.

Checking a name needs only the list of names, but faker builds it by importing every
provider module of the locale (a tenth of a second or more of every `harness validate` and
`harness list` of a suite naming faker). So the names are kept per user: a JSON file in a
folder of this user's alone (HARNESS_CACHE_DIR, else the temp dir), keyed by the installed
faker (the path, size and time of its package) and the locale. A file that is missing,
unreadable or cut short is rebuilt from faker itself; one that cannot be written is passed
over, never an error. The instances that draw values always come from faker.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import stat
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faker import Faker


@lru_cache(maxsize=64)
def faker_for(locale: str) -> Faker:
    from faker import Faker  # loaded by the suites that name or generate faker values

    return Faker(locale)


def provider_exists(name: str, locale: str = "en_US") -> bool:
    try:
        return not name.startswith("_") and name in _callables(locale)
    except Exception:
        return False


def providers(locale: str = "en_US") -> list[str]:
    """Provider names (for suggestions)."""
    return [name for name in sorted(_callables(locale)) if not name.startswith("seed")]


@lru_cache(maxsize=64)
def _callables(locale: str) -> frozenset[str]:
    """Every callable public attribute of the locale's Faker: from this user's cache when it
    holds the installed faker's list, else from faker (and then kept)."""
    path = _cache_file(locale)
    if path is not None:
        with contextlib.suppress(OSError, ValueError, TypeError):
            names = json.loads(path.read_bytes())
            if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
                return frozenset(names)
    names = _from_faker(locale)
    if path is not None:
        _write(path, sorted(names))
    return names


def _from_faker(locale: str) -> frozenset[str]:
    fake = faker_for(locale)
    names = set()
    for name in dir(fake):
        if name.startswith("_"):
            continue
        try:
            if callable(getattr(fake, name, None)):
                names.add(name)
        except Exception:  # faker's proxy raises for some attributes (seed, deprecated ones)
            continue
    return frozenset(names)


def _cache_file(locale: str) -> Path | None:
    """This user's file for the installed faker and `locale`; None without faker or a
    folder that is safely this user's."""
    spec = importlib.util.find_spec("faker")
    if spec is None or not spec.origin:
        return None
    try:
        st = os.stat(spec.origin)
    except OSError:
        return None
    key = f"{spec.origin}\0{st.st_size}\0{st.st_mtime_ns}\0{locale}".encode()
    folder = _folder()
    if folder is None:
        return None
    return folder / f"faker-names-{hashlib.sha256(key).hexdigest()[:24]}.json"


def _folder() -> Path | None:
    base = os.environ.get("HARNESS_CACHE_DIR")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    folder = Path(base) / "names" if base else Path(tempfile.gettempdir()) / f"harness-{uid}"
    with contextlib.suppress(OSError):
        folder.mkdir(mode=0o700, parents=bool(base), exist_ok=True)
    try:
        st = folder.lstat()
    except OSError:
        return None
    # ours alone: a real folder owned by this user that nobody else may write to
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o022:
        return None
    return folder


def _write(path: Path, names: list[str]) -> None:
    """Atomically (a reader sees the old file or the whole new one), or not at all."""
    with contextlib.suppress(OSError):
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".faker-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(json.dumps(names).encode())
            os.replace(temp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp)
