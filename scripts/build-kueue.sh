#!/usr/bin/env bash
# Build the real Kueue controller manager (kueue.x-k8s.io), which the integration tests run
# beside Raybus to show it admits RayJobs and RayClusters with no Raybus-specific code, as it
# does KubeRay's. `go install sigs.k8s.io/kueue/cmd/kueue@<ver>` from the Go module proxy;
# nothing else is downloaded. The binary is never part of the repository.
#
# It lands in a cache outside the repo, keyed by version:
#   ${RAYBUS_CACHE:-~/.cache/raybus}/bin/kueue-<ver>/kueue
# The version is RAYBUS_KUEUE_VERSION (v0.17.0). With the cache warm the script returns in well
# under a second. It prints the binary's path.
set -euo pipefail

KUEUE_VERSION="${RAYBUS_KUEUE_VERSION:-v0.17.0}"
CACHE="${RAYBUS_CACHE:-$HOME/.cache/raybus}"
export GOTOOLCHAIN=local CGO_ENABLED=0

log() { echo "build-kueue: $*" >&2; }

dir="$CACHE/bin/kueue-$KUEUE_VERSION"
if [ ! -x "$dir/kueue" ]; then
  command -v go >/dev/null || { log "no Go toolchain on PATH (need Go >= 1.25)"; exit 3; }
  log "building Kueue $KUEUE_VERSION (cold: a few minutes on 2 cores)"
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
  # Outside any module, so no go.mod is read or changed (the repo has none at its root anyway).
  (cd "$CACHE" && GOFLAGS= GOBIN="$dir.tmp" go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kueue/cmd/kueue@$KUEUE_VERSION")
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
fi
echo "$dir/kueue"
