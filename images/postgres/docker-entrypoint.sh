#!/bin/sh
# A small stand-in for the official image's entrypoint: first start runs initdb as the
# postgres user with POSTGRES_USER/POSTGRES_PASSWORD, creates POSTGRES_DB, listens on all
# interfaces, then execs the server (PID 1, so `docker stop` reaches it).
set -eu
case "${1:-}" in -*) set -- postgres "$@" ;; esac

if [ "${1:-}" = postgres ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "error: POSTGRES_PASSWORD is not set (as in the official image, a superuser password is required)" >&2
        exit 1
    fi
    user="${POSTGRES_USER:-postgres}"
    db="${POSTGRES_DB:-$user}"
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words, as upstream
    initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 ${POSTGRES_INITDB_ARGS:-} >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    if [ "$db" != postgres ]; then
        # single-user mode, with the server's own -c options, as upstream's temporary server
        quoted="$(printf '%s' "$db" | sed 's/"/""/g')"
        shift
        printf 'CREATE DATABASE "%s";\n' "$quoted" |
            postgres --single -D "$PGDATA" "$@" postgres >/dev/null
        set -- postgres "$@"
    fi
    echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
