#!/usr/bin/env bash
# Build Helm, used by the chart's tests (deploy/helm/raybus: `helm template`, `helm lint`).
# `go install` from the Go module proxy, which serves helm.sh/helm/v3 at v3.22.0; nothing else
# is downloaded. The binary is never part of the repository.
#
# It lands in a cache outside the repo, keyed by version:
#   ${RAYBUS_CACHE:-~/.cache/raybus}/bin/helm-<ver>/helm
# With the cache warm the script returns in well under a second. It prints the binary's path.
set -euo pipefail

HELM_VERSION="${RAYBUS_HELM_VERSION:-v3.22.0}"
CACHE="${RAYBUS_CACHE:-$HOME/.cache/raybus}"
export GOTOOLCHAIN=local CGO_ENABLED=0

log() { echo "build-helm: $*" >&2; }

dir="$CACHE/bin/helm-$HELM_VERSION"
if [ ! -x "$dir/helm" ]; then
  command -v go >/dev/null || { log "no Go toolchain on PATH (need Go >= 1.26)"; exit 3; }
  log "building Helm $HELM_VERSION (cold: a few minutes on 2 cores)"
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
  GOBIN="$dir.tmp" go install -trimpath -ldflags "-s -w" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
fi
echo "$dir/helm"
