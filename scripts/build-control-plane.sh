#!/usr/bin/env bash
# Build the local Kubernetes control plane that Raybus's tests and `raybus up` run on:
# kube-apiserver, kube-controller-manager, kube-scheduler (from k8s.io/kubernetes through a
# wrapper module that replaces every staging module), etcd (from go.etcd.io/etcd/server/v3
# through a wrapper module) and kwok (go install). Only the Go module proxy is needed.
#
# Binaries land in a cache outside the repo, keyed by version:
#   ${RAYBUS_CACHE:-~/.cache/raybus}/bin/k8s-<ver>/{kube-apiserver,kube-controller-manager,kube-scheduler}
#   ${RAYBUS_CACHE:-~/.cache/raybus}/bin/etcd-<ver>/etcd
#   ${RAYBUS_CACHE:-~/.cache/raybus}/bin/kwok-<ver>/kwok
# With the cache warm the script returns in well under a second. It prints the bin directory.
set -euo pipefail

K8S_VERSION="${RAYBUS_K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${RAYBUS_ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${RAYBUS_KWOK_VERSION:-v0.8.0}"
CACHE="${RAYBUS_CACHE:-$HOME/.cache/raybus}"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

log() { echo "build-control-plane: $*" >&2; }
command -v go >/dev/null || { log "no Go toolchain on PATH (need Go >= 1.26)"; exit 3; }

k8s_dir="$CACHE/bin/k8s-$K8S_VERSION"
etcd_dir="$CACHE/bin/etcd-$ETCD_VERSION"
kwok_dir="$CACHE/bin/kwok-$KWOK_VERSION"
work="$CACHE/build"
mkdir -p "$work"

build_k8s() {
  [ -x "$k8s_dir/kube-apiserver" ] && [ -x "$k8s_dir/kube-controller-manager" ] && [ -x "$k8s_dir/kube-scheduler" ] && return
  log "building Kubernetes $K8S_VERSION (cold: tens of minutes on 2 cores)"
  local mod="$work/k8s-$K8S_VERSION" minor
  rm -rf "$mod"; mkdir -p "$mod"
  (cd "$mod"
   go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
   local gomod; gomod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod"
   cat > go.mod <<GOMOD
module raybus.local/k8sbuild

go 1.26

require k8s.io/kubernetes $K8S_VERSION
GOMOD
   # Every staging module replaced, at the matching v0.X.Y (read from kubernetes' own go.mod).
   local staging="v0.${K8S_VERSION#v1.}"
   grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" | awk '{print $1}' | sort -u | while read -r m; do
     go mod edit -replace "$m=$m@$staging"
   done
   cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
   go mod tidy -e >/dev/null 2>&1 || true
   minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
   local ldf="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
   mkdir -p "$k8s_dir.tmp"
   for c in kube-apiserver kube-controller-manager kube-scheduler; do
     log "  go build $c"
     go build -trimpath -ldflags "$ldf" -o "$k8s_dir.tmp/$c" "k8s.io/kubernetes/cmd/$c"
   done)
  rm -rf "$k8s_dir"; mv "$k8s_dir.tmp" "$k8s_dir"
}

build_etcd() {
  [ -x "$etcd_dir/etcd" ] && return
  log "building etcd $ETCD_VERSION"
  local mod="$work/etcd-$ETCD_VERSION"
  rm -rf "$mod"; mkdir -p "$mod"
  (cd "$mod"
   cat > go.mod <<GOMOD
module raybus.local/etcdbuild

go 1.26

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
   cat > tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
   go mod tidy -e >/dev/null 2>&1 || true
   mkdir -p "$etcd_dir.tmp"
   go build -trimpath -ldflags "-s -w" -o "$etcd_dir.tmp/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$etcd_dir"; mv "$etcd_dir.tmp" "$etcd_dir"
}

build_kwok() {
  [ -x "$kwok_dir/kwok" ] && return
  log "building kwok $KWOK_VERSION"
  mkdir -p "$kwok_dir.tmp"
  GOBIN="$kwok_dir.tmp" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  rm -rf "$kwok_dir"; mv "$kwok_dir.tmp" "$kwok_dir"
}

build_etcd
build_kwok
build_k8s
# One directory with all five, for PATH-style use.
all="$CACHE/bin/current-$K8S_VERSION-$ETCD_VERSION-$KWOK_VERSION"
mkdir -p "$all"
for f in "$k8s_dir"/* "$etcd_dir/etcd" "$kwok_dir/kwok"; do ln -sf "$f" "$all/"; done
echo "$all"
