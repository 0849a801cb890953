"""Where the embedded provider's server binaries come from, and whom they can run as.

One module per server (`postgres.py`: lookup order, a copy the server's account can read;
`redis.py`: the same for redis-server) over a shared core: `access.py` (the account a root
harness runs servers as, and permission checks as the kernel makes them), `cache.py`
(world-readable copies made once and trusted only if ours), `probe.py` (executables, wheels,
`--version`) and `elf.py` (the $ORIGIN library dirs a copied install must take along).
"""

from harness.deps.binaries.access import (
    READ,
    SEARCH,
    WRITE,
    RunAs,
    path_problem,
    permits,
    pg_run_as,
    tree_problem,
)
from harness.deps.binaries.cache import cache_base, trusted_dir
from harness.deps.binaries.elf import elf_origin_dirs, elf_run_paths
from harness.deps.binaries.postgres import (
    PG_INSTALL_HINT,
    SYSTEM_PG_ROOTS,
    PgBinaries,
    access_problem,
    find_postgres,
    install_fingerprint,
    parse_pg_version,
    postgres_candidates,
    shared_install_copy,
    system_pg_bindirs,
    wheel_pg_bindir,
)
from harness.deps.binaries.probe import binary_version_text
from harness.deps.binaries.redis import (
    REDIS_INSTALL_HINT,
    RedisBinary,
    find_redis,
    parse_redis_version,
    shared_redis_copy,
    wheel_redis_server,
)

__all__ = [
    "PG_INSTALL_HINT",
    "READ",
    "REDIS_INSTALL_HINT",
    "SEARCH",
    "SYSTEM_PG_ROOTS",
    "WRITE",
    "PgBinaries",
    "RedisBinary",
    "RunAs",
    "access_problem",
    "binary_version_text",
    "cache_base",
    "elf_origin_dirs",
    "elf_run_paths",
    "find_postgres",
    "find_redis",
    "install_fingerprint",
    "parse_pg_version",
    "parse_redis_version",
    "path_problem",
    "permits",
    "pg_run_as",
    "postgres_candidates",
    "shared_install_copy",
    "shared_redis_copy",
    "system_pg_bindirs",
    "tree_problem",
    "trusted_dir",
    "wheel_pg_bindir",
    "wheel_redis_server",
]
