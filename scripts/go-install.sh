#!/usr/bin/env bash
# `go install` one tool from the Go module proxy into a cache outside the repo, keyed by name and
# version, and print the binary's path; with the cache warm it returns at once, without Go.
# Nothing else is downloaded and no binary is ever part of the repository. Used by
# build-kuberay.sh, build-kueue.sh and build-helm.sh:
#
#   go-install.sh <name> <version> <package path> <binary>
#     → ${RAYBUS_CACHE:-~/.cache/raybus}/bin/<name>-<version>/<binary>
#
# Built outside any module (no go.mod read or changed), with GOTOOLCHAIN=local, CGO off,
# -trimpath and stripped symbols.
set -euo pipefail

name="$1" version="$2" package="$3" binary="$4"
CACHE="${RAYBUS_CACHE:-$HOME/.cache/raybus}"
export GOTOOLCHAIN=local CGO_ENABLED=0

log() { echo "build-$name: $*" >&2; }

dir="$CACHE/bin/$name-$version"
if [ ! -x "$dir/$binary" ]; then
  command -v go >/dev/null || { log "no Go toolchain on PATH (need Go >= 1.26)"; exit 3; }
  log "building $package@$version (cold: a few minutes on 2 cores)"
  mkdir -p "$CACHE"
  tmp="$(mktemp -d "$dir.tmp.XXXXXX")"  # this run's own: two runs at once keep the first one's
  (cd "$CACHE" && GOFLAGS= GOBIN="$tmp" go install -trimpath -ldflags "-s -w" "$package@$version")
  chmod 755 "$tmp"
  if [ -x "$dir/$binary" ]; then rm -rf "$tmp"; else rm -rf "$dir"; mv -T "$tmp" "$dir"; fi
fi
echo "$dir/$binary"
