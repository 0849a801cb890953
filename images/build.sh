#!/usr/bin/env bash
# Build the local images the container tests (and air-gapped sites) use, from Debian packages:
# no container registry is needed. Idempotent: an image whose inputs did not change is kept.
#
#   harness-local/base:bookworm   debootstrap minbase + postgresql-15, redis-server, busybox
#   harness-local/postgres:15     FROM base; entrypoint honours POSTGRES_USER/PASSWORD/DB
#   harness-local/redis:7         FROM base; entrypoint honours `redis-server --requirepass`
#
# Use them with: HARNESS_IMAGE_POSTGRES=harness-local/postgres:15 HARNESS_IMAGE_REDIS=harness-local/redis:7
# Environment: HARNESS_DEBIAN_MIRROR (default: the machine's apt source, else deb.debian.org),
# HARNESS_IMAGES_REBUILD=1 to rebuild everything.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
base=harness-local/base:bookworm
packages=postgresql-15,redis-server,busybox
export DOCKER_BUILDKIT=0 # the classic builder ships with every engine; FROM a local image, no pulls

need() { command -v "$1" >/dev/null || { echo "build.sh: $1 is missing ($2)" >&2; exit 3; }; }
need docker "apt-get install docker.io"
docker info >/dev/null 2>&1 || { echo "build.sh: no Docker engine answers (start dockerd)" >&2; exit 3; }

mirror() {
    if [ -n "${HARNESS_DEBIAN_MIRROR:-}" ]; then echo "$HARNESS_DEBIAN_MIRROR"; return; fi
    local found
    found=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -Eo '(https?://[^ ]+/debian)/?( |$)' | grep -v security | head -n1 | tr -d ' ' || true)
    echo "${found:-http://deb.debian.org/debian}"
}

# the label records what an image was built from, so a changed entrypoint means a rebuild
label_of() { docker image inspect -f '{{ index .Config.Labels "harness.inputs" }}' "$1" 2>/dev/null || true; }

if [ "${HARNESS_IMAGES_REBUILD:-0}" = 1 ] || [ "$(label_of "$base")" != "$packages" ]; then
    need debootstrap "apt-get install debootstrap"
    rootfs="$(mktemp -d /var/tmp/harness-rootfs.XXXXXX)"
    trap 'rm -rf "$rootfs"' EXIT
    echo "build.sh: debootstrap bookworm with $packages (about a minute)"
    debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$(mirror)" >"$rootfs.log" 2>&1 ||
        { tail -n 30 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 3; }
    rm -f "$rootfs.log"
    # the package's default cluster and the apt caches are not needed in an image
    rm -rf "$rootfs"/var/lib/postgresql/15/main "$rootfs"/etc/postgresql/15/main \
        "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import \
        -c 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'ENV LANG=C.UTF-8' \
        -c "LABEL harness.inputs=$packages" \
        -c 'CMD ["/bin/sh"]' - "$base" >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
    echo "build.sh: built $base"
else
    echo "build.sh: $base is up to date"
fi

for spec in postgres:15 redis:7; do
    name=${spec%%:*}
    tag=harness-local/$spec
    inputs=$( (docker image inspect -f '{{ .Id }}' "$base"; cat "$here/$name"/*) | sha256sum | cut -c1-16)
    if [ "${HARNESS_IMAGES_REBUILD:-0}" != 1 ] && [ "$(label_of "$tag")" = "$inputs" ]; then
        echo "build.sh: $tag is up to date"
        continue
    fi
    # the classic builder warns that it is deprecated on every build: show its output on failure only
    if ! log=$(docker build -q --label "harness.inputs=$inputs" -t "$tag" "$here/$name" 2>&1); then
        echo "$log" >&2
        exit 3
    fi
    echo "build.sh: built $tag"
done
