#!/usr/bin/env bash
# A Python venv with `ray[default]` from PyPI, for the real Ray head tests run
# (`raybus_testbed.rayhead`): its dashboard's Job API is what Raybus's watcher and actuator
# talk to. Only PyPI is used. The venv is never part of the repository.
#
# It lands in a cache outside the repo, keyed by version:
#   ${RAYBUS_CACHE:-~/.cache/raybus}/ray-<ver>/venv      (RAYBUS_RAY_VERSION, default 2.60.0)
# RAYBUS_RAY_VENV names a venv made elsewhere instead: it is checked, never built into.
# A venv is ready once it holds that Ray version and the dashboard's optional dependencies;
# the check is then remembered in <venv>/.raybus-ready (in the cache's venv only), so a warm
# run returns at once.
# Idempotent; an interrupted install is started afresh. Prints the venv's path.
set -euo pipefail

RAY_VERSION="${RAYBUS_RAY_VERSION:-2.60.0}"
CACHE="${RAYBUS_CACHE:-$HOME/.cache/raybus}"
venv="${RAYBUS_RAY_VENV:-$CACHE/ray-$RAY_VERSION/venv}"
marker="$venv/.raybus-ready"

log() { echo "ray-venv: $*" >&2; }

ready() {
  [ -f "$marker" ] && [ "$(cat "$marker")" = "$RAY_VERSION" ] && [ -x "$venv/bin/ray" ] && return 0
  [ -x "$venv/bin/python" ] && [ -x "$venv/bin/ray" ] || return 1
  "$venv/bin/python" - "$RAY_VERSION" <<'PY' >/dev/null 2>&1 || return 1
import sys
import ray
import ray.dashboard.optional_deps  # noqa: F401 - what ray[default] adds for the dashboard
sys.exit(ray.__version__ != sys.argv[1])
PY
  if [ -z "${RAYBUS_RAY_VENV:-}" ]; then echo "$RAY_VERSION" > "$marker"; fi
}

if ! ready; then
  if [ -n "${RAYBUS_RAY_VENV:-}" ]; then
    log "RAYBUS_RAY_VENV=$venv has no ray[default]==$RAY_VERSION (it is checked, not built)"; exit 3
  fi
  PY="${PYTHON:-python3.11}"
  command -v "$PY" >/dev/null || PY=python3
  command -v "$PY" >/dev/null || { log "no python3.11 or python3 on PATH"; exit 3; }
  log "installing ray[default]==$RAY_VERSION into $venv (cold: a minute or two)"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$PY" -m venv "$venv"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q "ray[default]==$RAY_VERSION"
  ready || { log "installed, but $venv still lacks ray[default]==$RAY_VERSION"; exit 1; }
fi
echo "$venv"
