#!/usr/bin/env bash
# Make sure a Docker engine answers and the local images exist: what the container tests need.
# Installs docker.io and debootstrap when missing (Debian/Ubuntu, as root), starts dockerd in
# the background when no engine answers and waits for it, then runs images/build.sh (which
# skips images that are up to date). Exits non-zero when any of it fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    echo "engine.sh: installing docker.io and debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    log="${HARNESS_DOCKERD_LOG:-/var/log/harness-dockerd.log}"
    echo "engine.sh: starting dockerd (log: $log)"
    nohup dockerd >"$log" 2>&1 &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    if ! docker info >/dev/null 2>&1; then
        echo "engine.sh: dockerd did not answer within 60 s; its log:" >&2
        tail -n 40 "$log" >&2 || true
        exit 3
    fi
fi
echo "engine.sh: Docker engine $(docker version -f '{{ .Server.Version }}') answers"
"$here/build.sh"
