"""World-readable copies of server binaries, made once in a cache and trusted only if ours.

When the account a server must run as cannot read the binaries where they are installed,
they are copied to `HARNESS_CACHE_DIR` (else /var/tmp): built in a temp dir next to their
final place and renamed into it, so concurrent runs never see half a tree, and reused by
later runs only while this user owns them and nobody else can write them.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from harness.errors import DependencyError


def cache_base(environ: Mapping[str, str] | None = None) -> Path:
    """Where reusable copies live: HARNESS_CACHE_DIR, else /var/tmp, else the temp dir."""
    env = os.environ if environ is None else environ
    if env.get("HARNESS_CACHE_DIR"):
        return Path(env["HARNESS_CACHE_DIR"])
    var_tmp = Path("/var/tmp")
    return var_tmp if var_tmp.is_dir() else Path(tempfile.gettempdir())


def trusted_dir(path: Path, owner: int) -> bool:
    """A cache entry we may run from: a real directory owned by `owner`, not writable by others."""
    try:
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == owner and st.st_mode & 0o022 == 0


def publish(final: Path, prefix: str, fill: Callable[[Path], None]) -> None:
    """Make `final` a world-readable tree laid out by `fill(tree)`, atomically (staged in a
    temp dir named `prefix`... next to it).

    A copy another run finished meanwhile wins: ours is dropped (a lost race, not an error).
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))
    try:
        tree = staging / "tree"
        fill(tree)
        _make_world_readable(tree)
        try:
            os.rename(tree, final)
        except OSError:
            if not final.exists():
                raise  # not a lost race: a real failure
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_trusted(path: Path, final: Path, what: str) -> None:
    """Refuse to run `what` from a cache folder someone else could have written."""
    if not trusted_dir(path, os.geteuid()):
        raise DependencyError(
            f"{path} exists but is not a directory owned by this user and closed to others' "
            f"writes, so {what} cannot be trusted",
            hint=f"remove {final} (it is only a cache) and run again",
        )


def still_unusable(what: str, who: str, problem: str) -> DependencyError:
    """The error for a shared copy that the server's account still cannot use."""
    return DependencyError(
        f"the shared copy of {what} is still not usable by {who}: {problem}",
        hint="set HARNESS_CACHE_DIR to a directory every user can enter (e.g. /var/tmp)",
    )


def _make_world_readable(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                continue
            mode = os.lstat(p).st_mode
            os.chmod(p, 0o755 if mode & 0o111 else 0o644)
        for name in dirnames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, 0o755)
