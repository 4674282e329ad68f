#!/usr/bin/env bash
# Fetch the Gateway API's standard-channel CRDs (GatewayClass, Gateway, HTTPRoute: what a
# RayService's NewClusterWithIncrementalUpgrade creates and reads) for the test control plane,
# from the Go module sigs.k8s.io/gateway-api through the Go module proxy (`go mod download`):
# its zip holds config/crd/standard/. Nothing else is downloaded, nothing is written by hand.
#
# They land in a cache outside the repo, keyed by version:
#   ${RAYBUS_CACHE:-~/.cache/raybus}/gateway-api-<ver>/gateway.networking.k8s.io_<plural>.yaml
# The version is RAYBUS_GATEWAY_API_VERSION (v1.6.3: the newest whose go.mod this machine's
# Go 1.26 accepts under GOTOOLCHAIN=local). With the cache warm the script returns at once,
# without Go. It prints the directory.
set -euo pipefail

VERSION="${RAYBUS_GATEWAY_API_VERSION:-v1.6.3}"
CACHE="${RAYBUS_CACHE:-$HOME/.cache/raybus}"
FILES=(gateway.networking.k8s.io_gatewayclasses.yaml gateway.networking.k8s.io_gateways.yaml
       gateway.networking.k8s.io_httproutes.yaml)
export GOTOOLCHAIN=local

log() { echo "fetch-gateway-api: $*" >&2; }

dir="$CACHE/gateway-api-$VERSION"
cached() { for f in "${FILES[@]}"; do [ -s "$dir/$f" ] || return 1; done; }
if ! cached; then
  command -v go >/dev/null || { log "not cached in $dir, and no Go toolchain on PATH to fetch them (need Go >= 1.26)"; exit 3; }
  log "downloading sigs.k8s.io/gateway-api@$VERSION"
  mkdir -p "$CACHE"
  # Outside any module: `go mod download mod@ver` then needs no go.mod and changes none.
  json="$(cd "$CACHE" && GOFLAGS= go mod download -json "sigs.k8s.io/gateway-api@$VERSION")" || {
    log "go mod download sigs.k8s.io/gateway-api@$VERSION failed: $(echo "$json" | grep '"Error"' || true)"; exit 4; }
  src="$(echo "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')/config/crd/standard"
  [ -d "$src" ] || { log "no config/crd/standard in sigs.k8s.io/gateway-api@$VERSION"; exit 4; }
  tmp="$(mktemp -d "$dir.tmp.XXXXXX")"  # this run's own: two runs at once keep the first one's
  for f in "${FILES[@]}"; do
    [ -s "$src/$f" ] || { log "sigs.k8s.io/gateway-api@$VERSION has no config/crd/standard/$f"; exit 4; }
    install -m 644 "$src/$f" "$tmp/$f"  # the module cache's copies are read-only
  done
  chmod 755 "$tmp"
  if [ -d "$dir" ]; then rm -rf "$tmp"; else mv -T "$tmp" "$dir"; fi
fi
echo "$dir"
