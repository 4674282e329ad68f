#!/usr/bin/env bash
# A Python venv with `ray[default,serve]` from PyPI, for the real Ray head tests run
# (`raybus_testbed.rayhead`): its dashboard's Job and Serve APIs and its Serve proxy are what
# Raybus's watcher and actuator talk to. Only PyPI is used. The venv is never part of the
# repository.
#
# It lands in a cache outside the repo, keyed by version:
#   ${RAYBUS_CACHE:-~/.cache/raybus}/ray-<ver>/venv      (RAYBUS_RAY_VERSION, default 2.60.0)
# RAYBUS_RAY_VENV names a venv made elsewhere instead: it is checked, never built into.
# A venv is ready once it holds that Ray version, the dashboard's optional dependencies and
# Ray Serve's; the check is then remembered in <venv>/.raybus-ready ("<version> <extras>", in
# the cache's venv only), so a warm run returns at once.
# Idempotent: a venv that has that Ray without every extra gets the missing ones installed
# into it; any other venv that is not ready (an interrupted install) is started afresh.
# Prints the venv's path.
set -euo pipefail

RAY_VERSION="${RAYBUS_RAY_VERSION:-2.60.0}"
EXTRAS="default,serve"
CACHE="${RAYBUS_CACHE:-$HOME/.cache/raybus}"
venv="${RAYBUS_RAY_VENV:-$CACHE/ray-$RAY_VERSION/venv}"
marker="$venv/.raybus-ready"
stamp="$RAY_VERSION $EXTRAS"

log() { echo "ray-venv: $*" >&2; }

has_ray() {  # the venv's python imports ray at RAY_VERSION
  [ -x "$venv/bin/python" ] && [ -x "$venv/bin/ray" ] || return 1
  "$venv/bin/python" -c 'import sys, ray; sys.exit(ray.__version__ != sys.argv[1])' "$RAY_VERSION" >/dev/null 2>&1
}

ready() {
  [ -f "$marker" ] && [ "$(cat "$marker")" = "$stamp" ] && [ -x "$venv/bin/ray" ] && return 0
  has_ray || return 1
  "$venv/bin/python" - <<'PY' >/dev/null 2>&1 || return 1
import ray.dashboard.optional_deps  # noqa: F401 - what ray[default] adds for the dashboard
import ray.serve  # noqa: F401 - ray[serve]
import fastapi, starlette, uvicorn  # noqa: F401,E401 - what ray[serve] adds for its proxy
PY
  if [ -z "${RAYBUS_RAY_VENV:-}" ]; then echo "$stamp" > "$marker"; fi
}

install() {
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q "ray[$EXTRAS]==$RAY_VERSION"
}

if ! ready; then
  if [ -n "${RAYBUS_RAY_VENV:-}" ]; then
    log "RAYBUS_RAY_VENV=$venv has no ray[$EXTRAS]==$RAY_VERSION (it is checked, not built)"; exit 3
  fi
  rm -f "$marker"
  if has_ray; then
    log "adding ray[$EXTRAS]==$RAY_VERSION's missing extras to $venv"
  else
    PY="${PYTHON:-python3.11}"
    command -v "$PY" >/dev/null || PY=python3
    command -v "$PY" >/dev/null || { log "no python3.11 or python3 on PATH"; exit 3; }
    log "installing ray[$EXTRAS]==$RAY_VERSION into $venv (cold: a minute or two)"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$PY" -m venv "$venv"
  fi
  install
  ready || { log "installed, but $venv still lacks ray[$EXTRAS]==$RAY_VERSION"; exit 1; }
fi
echo "$venv"
