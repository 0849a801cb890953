"""A pristine initdb'd PostgreSQL data directory, kept per binary install, for fast starts.

initdb writes ~40 MB and costs 0.45 s on an idle disk (1.2 s and more under I/O load), so
the first start stages its fresh data directory as the template (`<cache>/harness-pgtemplate-*`,
owned by the harness user, mode 700) once a server started from it proved it good; later
starts copy it (a sparse copy, 0.1-0.5 s). HARNESS_PG_TEMPLATE=0 turns the cache off.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.deps.binaries import PgBinaries, RunAs, install_fingerprint, trusted_dir
from harness.deps.embedded.core import chown_tree, write_private

FORMAT = "1"  # bump when the initdb flags or the template layout change


class Rejected(Exception):
    """A data dir copied from the template did not come up: throw the template away."""


@dataclass(frozen=True)
class Template:
    path: Path  # <cache>/harness-pgtemplate-<version>-<hash>/ holding data/ and password

    @property
    def data(self) -> Path:
        return self.path / "data"

    def usable(self) -> bool:
        return (
            trusted_dir(self.path, os.geteuid())
            and self.path.stat().st_mode & 0o077 == 0
            and (self.data / "PG_VERSION").is_file()
            and (self.path / "password").is_file()
            and not (self.data / "postmaster.pid").exists()
        )

    def password(self) -> str:
        return (self.path / "password").read_text().strip()

    def discard(self) -> None:
        trash = self.path.with_name(f".trash-{self.path.name}-{secrets.token_hex(4)}")
        with contextlib.suppress(OSError):
            os.rename(self.path, trash)
            shutil.rmtree(trash, ignore_errors=True)


def template_for(pg: PgBinaries, base: Path) -> Template:
    version = pg.version.split()[-1]
    key = f"{install_fingerprint(pg)}-v{FORMAT}"  # install + layout version
    return Template(base / f"harness-pgtemplate-{version}-{key}-u{os.geteuid()}")


def new_staging(base: Path) -> Path:
    """An empty private dir next to the template, to be filled and renamed into place."""
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".harness-pgtemplate-", dir=base))


def stage(data: Path, password: str, staging: Path) -> None:
    """Copy a fresh (never started) data dir and its password into the staging dir."""
    shutil.copytree(data, staging / "data", symlinks=True, copy_function=copy_sparse)
    write_private(staging / "password", password, None)


def commit(staging: Path, template: Template) -> bool:
    try:
        os.rename(staging, template.path)
    except OSError:
        return False  # another run got there first (or the cache is read-only): keep theirs
    return True


_ZEROS = bytes(1 << 16)


def copy_sparse(src: str, dst: str, *, follow_symlinks: bool = True) -> str:
    """shutil.copy2 that leaves holes for all-zero 64 KiB runs (most of the fresh WAL
    segment): ~25% fewer bytes to write for a fresh data directory."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        size = os.fstat(fin.fileno()).st_size
        while chunk := fin.read(len(_ZEROS)):
            if chunk == _ZEROS[: len(chunk)]:
                fout.seek(len(chunk), os.SEEK_CUR)
            else:
                fout.write(chunk)
        fout.truncate(size)
    shutil.copystat(src, dst)
    return dst


def copy_into(template: Template, data: Path, who: RunAs | None) -> str:
    """A new data dir from the template; returns the superuser's password it was made with."""
    shutil.copytree(template.data, data, symlinks=True, copy_function=copy_sparse)
    chown_tree(data, who)
    return template.password()
