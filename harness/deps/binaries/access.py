"""Whom the embedded servers run as, and whether that account can reach a file.

PostgreSQL refuses to run as root, so a root harness runs it (and Redis) as an unprivileged
user (`HARNESS_PG_USER`, else `postgres`, else `nobody`). That user may not be able to read
a wheel installed in a private virtualenv (e.g. under /root, mode 700): `path_problem` and
`tree_problem` check the permission bits on the way and in the tree, as the kernel would.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.errors import DependencyError

# --------------------------------------------------------------------------- who runs it


@dataclass(frozen=True)
class RunAs:
    """An OS account a server runs as."""

    name: str
    uid: int
    gid: int
    groups: frozenset[int]
    home: str

    @classmethod
    def of(cls, name: str) -> RunAs:
        pw = pwd.getpwnam(name)
        return cls(
            name=pw.pw_name,
            uid=pw.pw_uid,
            gid=pw.pw_gid,
            groups=frozenset(os.getgrouplist(pw.pw_name, pw.pw_gid)),
            home=pw.pw_dir,
        )

    @classmethod
    def current(cls) -> RunAs:
        uid = os.geteuid()
        try:
            name = pwd.getpwuid(uid).pw_name
            home = pwd.getpwuid(uid).pw_dir
        except KeyError:
            name, home = str(uid), os.environ.get("HOME", "/")
        return cls(name, uid, os.getegid(), frozenset([os.getegid(), *os.getgroups()]), home)


def _account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def pg_run_as(environ: Mapping[str, str] | None = None, euid: int | None = None) -> RunAs | None:
    """The account the servers run as when the harness is root; None: as the harness itself.

    PostgreSQL refuses root; Redis runs as the same account, since its password is handed
    to the agent under test and `CONFIG SET dir` + `SAVE` writes files as the server's user.
    """
    env = os.environ if environ is None else environ
    if (os.geteuid() if euid is None else euid) != 0:
        return None
    wanted = env.get("HARNESS_PG_USER")
    if wanted:
        try:
            account = RunAs.of(wanted)
        except KeyError:
            raise DependencyError(
                f"HARNESS_PG_USER={wanted}: no such user on this machine",
                hint="set HARNESS_PG_USER to an existing unprivileged account "
                "(e.g. `useradd -r postgres`), or unset it to use `postgres` or `nobody`",
            ) from None
        if account.uid == 0:
            raise DependencyError(
                f"HARNESS_PG_USER={wanted} is root, and PostgreSQL refuses to run as root",
                hint="set HARNESS_PG_USER to an unprivileged account, or unset it",
            )
        return account
    for name in ("postgres", "nobody"):
        if _account_exists(name):
            return RunAs.of(name)
    raise DependencyError(
        "the harness runs as root, PostgreSQL refuses to run as root, and neither a "
        "`postgres` nor a `nobody` account exists to run it as",
        hint="create one (`useradd -r postgres`) or set HARNESS_PG_USER to an unprivileged account",
    )


# --------------------------------------------------------------------------- permissions

_R, _W, _X = 4, 2, 1
READ, WRITE, SEARCH = _R, _W, _X


def permits(st: os.stat_result, who: RunAs, want: int) -> bool:
    """Whether the mode bits of `st` grant `who` all of `want` (_R|_W|_X); ACLs are ignored.

    Like the kernel: the owner class applies if the uid matches, else the group class if
    any of the user's groups matches, else 'other' (no fallthrough between classes).
    """
    if who.uid == 0:
        return True
    mode = st.st_mode
    if st.st_uid == who.uid:
        bits = (mode >> 6) & 7
    elif st.st_gid in who.groups or st.st_gid == who.gid:
        bits = (mode >> 3) & 7
    else:
        bits = mode & 7
    return bits & want == want


def path_problem(path: Path, who: RunAs, want: int = _R | _X) -> str | None:
    """Why `who` cannot reach `path` (search on every ancestor, `want` on path), or None."""
    problems = []
    for p in dict.fromkeys([path.absolute(), path.resolve()]):
        chain = [*reversed(p.parents), p]
        for i, part in enumerate(chain):
            try:
                st = part.stat()
            except OSError as exc:
                return f"cannot stat {part}: {exc.strerror}"
            need = want if i == len(chain) - 1 else _X
            if not permits(st, who, need):
                problems.append(
                    f"{part} (mode {stat.filemode(st.st_mode)}, owner "
                    f"{_owner(st)}) is not {_describe(need)} by {who.name}"
                )
                break
    return problems[0] if problems else None


def tree_problem(root: Path, who: RunAs) -> str | None:
    """Why `who` cannot use the tree below root (dirs r-x, files r, executables x), or None."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in dirnames:
            try:
                st = (here / name).stat()
            except OSError:
                continue  # a dangling symlink: not ours to judge
            if not permits(st, who, _R | _X):
                return f"{here / name} ({stat.filemode(st.st_mode)}) is not readable by {who.name}"
        for name in filenames:
            try:
                st = (here / name).stat()
            except OSError:
                continue
            need = _R | _X if st.st_mode & 0o111 else _R
            if not permits(st, who, need):
                return f"{here / name} ({stat.filemode(st.st_mode)}) is not readable by {who.name}"
    return None


def _describe(bits: int) -> str:
    return {_X: "searchable (x)", _R | _X: "readable (r-x)", _R: "readable (r)"}.get(
        bits, f"accessible ({bits:o})"
    )


def _owner(st: os.stat_result) -> str:
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"{user}:{group}"
