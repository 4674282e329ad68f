#!/usr/bin/env bash
# Build the real KubeRay operator, the reference Raybus is checked against in tests (adoption:
# a cluster KubeRay made is taken over by Raybus without a pod restarted). `go install` from the
# Go module proxy, which serves github.com/ray-project/kuberay/ray-operator at v1.4.0 and
# v1.5.0; nothing else is downloaded. The binary is never part of the repository.
#
# It lands in a cache outside the repo, keyed by version:
#   ${RAYBUS_CACHE:-~/.cache/raybus}/bin/kuberay-<ver>/ray-operator
# With the cache warm the script returns in well under a second. It prints the binary's path.
set -euo pipefail

KUBERAY_VERSION="${RAYBUS_KUBERAY_VERSION:-v1.5.0}"
CACHE="${RAYBUS_CACHE:-$HOME/.cache/raybus}"
export GOTOOLCHAIN=local CGO_ENABLED=0

log() { echo "build-kuberay: $*" >&2; }

dir="$CACHE/bin/kuberay-$KUBERAY_VERSION"
if [ ! -x "$dir/ray-operator" ]; then
  command -v go >/dev/null || { log "no Go toolchain on PATH (need Go >= 1.26)"; exit 3; }
  log "building KubeRay $KUBERAY_VERSION (cold: a few minutes on 2 cores)"
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
  GOBIN="$dir.tmp" go install -trimpath -ldflags "-s -w" \
    "github.com/ray-project/kuberay/ray-operator@$KUBERAY_VERSION"
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
fi
echo "$dir/ray-operator"
