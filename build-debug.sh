#!/usr/bin/env bash
# Build the debug images from the instrumented binaries in ./bin (the seed's first step):
#   expanso-orchestrator:${EXPANSO_IMAGE_TAG:-debug}  <- bin/expanso-orchestrator, bin/expanso-cli
#   expanso-edge:${EXPANSO_IMAGE_TAG:-debug}          <- bin/expanso-edge
# The binaries must be Linux ELF executables (cross-compile with GOOS=linux) for the Docker
# host's architecture. Without a registry, build on the local base image:
#   BASE_IMAGE=reprolab-base:bookworm ./build-debug.sh
# Env: BIN_DIR (default ./bin), EXPANSO_IMAGE_TAG (default debug), BASE_IMAGE (default
# debian:bookworm-slim). No binaries? Use the emulated images instead: scripts/docker-setup.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN_DIR=${BIN_DIR:-$HERE/bin}
TAG=${EXPANSO_IMAGE_TAG:-debug}
BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}
die() { echo "build-debug.sh: $*" >&2; exit 1; }

[ "$TAG" != emulated ] || die "EXPANSO_IMAGE_TAG=emulated is the emulated images' tag — build those with scripts/docker-setup.sh"

# --- the binaries: present, Linux ELF, right architecture -------------------------------------
# with no daemon reachable, `docker info` still prints a blank line: fall back to this machine's CPU
arch=$(docker info --format '{{.Architecture}}' 2>/dev/null | tr -d '[:space:]' || true)
[ -n "$arch" ] || arch=$(uname -m)
case "$arch" in x86_64|amd64) want_machine=3e; want_name=amd64 ;; aarch64|arm64) want_machine=b7; want_name=arm64 ;; *) want_machine=""; want_name=$arch ;; esac
for b in expanso-orchestrator expanso-edge expanso-cli; do
  f="$BIN_DIR/$b"
  [ -e "$f" ] || die "$f is missing — place the cross-compiled Linux binaries in $BIN_DIR (GOOS=linux GOARCH=$want_name go build …), or use the emulated images (scripts/docker-setup.sh)"
  [ -f "$f" ] || die "$f is not a regular file"
  magic=$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')
  case "$magic" in
    7f454c46) ;;
    76657273) die "$f is a Git LFS pointer, not the binary — run: git lfs pull" ;;
    cffaedfe|cefaedfe|cafebabe|feedfacf) die "$f is a macOS (Mach-O) binary — cross-compile it with GOOS=linux" ;;
    4d5a*) die "$f is a Windows (PE) binary — cross-compile it with GOOS=linux" ;;
    *) die "$f is not an executable (first bytes: $magic) — expected a Linux ELF binary" ;;
  esac
  osabi=$(od -An -tx1 -j7 -N1 "$f" | tr -d ' \n')
  [ "$osabi" = 00 ] || [ "$osabi" = 03 ] || die "$f is an ELF binary for another OS (EI_OSABI 0x$osabi) — cross-compile it with GOOS=linux"
  machine=$(od -An -tx1 -j18 -N1 "$f" | tr -d ' \n')
  if [ -n "$want_machine" ] && [ "$machine" != "$want_machine" ]; then
    die "$f is built for another CPU (e_machine 0x$machine) but Docker runs $arch — cross-compile it with GOARCH=$want_name"
  fi
done
docker info >/dev/null 2>&1 || die "Docker daemon not reachable — start Docker (scripts/docker-setup.sh)"

# --- build from a context holding only the binaries -------------------------------------------
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin"
cp "$BIN_DIR"/expanso-orchestrator "$BIN_DIR"/expanso-edge "$BIN_DIR"/expanso-cli "$ctx/bin/"
cp "$HERE/docker/orchestrator.Dockerfile" "$HERE/docker/edge.Dockerfile" "$ctx/"
for role in orchestrator edge; do
  t0=$(date +%s)
  if ! docker build -q --build-arg BASE_IMAGE="$BASE_IMAGE" -f "$ctx/$role.Dockerfile" -t "expanso-$role:$TAG" "$ctx" \
      >/dev/null 2>"$ctx/build-$role.log"; then
    grep -v -e DEPRECATED -e 'legacy builder' -e buildx -e '^ *$' "$ctx/build-$role.log" | tail -5 >&2
    die "docker build of expanso-$role:$TAG failed (BASE_IMAGE=$BASE_IMAGE; without a registry use BASE_IMAGE=reprolab-base:bookworm)"
  fi
  echo "expanso-$role:$TAG built in $(( $(date +%s) - t0 ))s"
done
echo "next: docker compose -f docker-compose.debug.yml up -d   (EXPANSO_IMAGE_TAG=$TAG)"
