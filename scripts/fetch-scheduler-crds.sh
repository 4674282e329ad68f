#!/usr/bin/env bash
# Fetch the batch schedulers' CRDs for the test control plane, so the objects scheduler-bridge
# makes and reads are served (reference C.2, C.3). Every file comes from a Go module through the
# Go module proxy; none is written by hand:
#
#   scheduler-plugins  sigs.k8s.io/scheduler-plugins@<ver> (`go mod download`):
#                      config/crd/bases/scheduling.x-k8s.io_podgroups.yaml
#   Kueue              sigs.k8s.io/kueue@<ver>: every config/components/crd/bases/*.yaml (the Kueue
#                      manager, `scripts/build-kueue.sh`, needs all of its kinds served)
#   Volcano            GENERATED. The module volcano.sh/volcano, whose config/crd/volcano/bases
#                      holds Volcano's CRD YAMLs, is not served by the proxy (403), and
#                      volcano.sh/apis holds the Go types but no YAML. So this runs controller-gen
#                      (sigs.k8s.io/controller-tools/cmd/controller-gen@<ver>, `go install`ed into
#                      the cache) over volcano.sh/apis@<ver> pkg/apis/scheduling/v1beta1 with the
#                      options Volcano's own Makefile (`make manifests`) gives it:
#                      crd:crdVersions=v1,generateEmbeddedObjectMeta=true. That is how Volcano
#                      makes its own CRDs: its YAMLs are controller-gen's output over these types.
#                      The result: scheduling.volcano.sh_podgroups.yaml and _queues.yaml. Volcano's
#                      PodGroup has no status subresource (its types carry no
#                      +kubebuilder:subresource:status, and Volcano's scheduler writes a PodGroup's
#                      status with a plain update of the whole object); its Queue has one.
#
# Versions: RAYBUS_SCHEDULER_PLUGINS_VERSION (v0.34.7), RAYBUS_KUEUE_VERSION (v0.17.0),
# RAYBUS_VOLCANO_APIS_VERSION (v1.13.0: what KubeRay v1.6.0's go.mod requires),
# RAYBUS_CONTROLLER_GEN_VERSION (v0.20.0: what Volcano's Makefile installs).
#
# They land in a cache outside the repo, keyed by those versions:
#   ${RAYBUS_CACHE:-~/.cache/raybus}/scheduler-crds-<key>/<group>_<plural>.yaml
# The directory appears whole or not at all: each run builds in a temporary directory of its own
# and renames it into place (two runs at once, e.g. `make dev` beside a CI run, keep the first
# one's). With the cache warm the script returns at once, without Go. It prints the directory.
set -euo pipefail

SP_VERSION="${RAYBUS_SCHEDULER_PLUGINS_VERSION:-v0.34.7}"
KUEUE_VERSION="${RAYBUS_KUEUE_VERSION:-v0.17.0}"
VOLCANO_VERSION="${RAYBUS_VOLCANO_APIS_VERSION:-v1.13.0}"
CG_VERSION="${RAYBUS_CONTROLLER_GEN_VERSION:-v0.20.0}"
CACHE="${RAYBUS_CACHE:-$HOME/.cache/raybus}"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=

log() { echo "fetch-scheduler-crds: $*" >&2; }

dir="$CACHE/scheduler-crds-sp$SP_VERSION-kueue$KUEUE_VERSION-volcano$VOLCANO_VERSION-cg$CG_VERSION"
if [ -s "$dir/scheduling.x-k8s.io_podgroups.yaml" ]; then echo "$dir"; exit 0; fi
command -v go >/dev/null || { log "not cached in $dir, and no Go toolchain on PATH to fetch them (need Go >= 1.25)"; exit 3; }
mkdir -p "$CACHE"

# The module's directory in the module cache (outside any module: no go.mod read or changed).
module_dir() {
  local json
  json="$(cd "$CACHE" && go mod download -json "$1")" || {
    log "go mod download $1 failed: $(echo "$json" | grep '"Error"' || true)"; exit 4; }
  echo "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p'
}

tmp="$(mktemp -d "$dir.tmp.XXXXXX")"
log "downloading sigs.k8s.io/scheduler-plugins@$SP_VERSION"
src="$(module_dir "sigs.k8s.io/scheduler-plugins@$SP_VERSION")/config/crd/bases/scheduling.x-k8s.io_podgroups.yaml"
[ -s "$src" ] || { log "sigs.k8s.io/scheduler-plugins@$SP_VERSION has no config/crd/bases/scheduling.x-k8s.io_podgroups.yaml"; exit 4; }
install -m 644 "$src" "$tmp/"  # the module cache's copies are read-only

log "downloading sigs.k8s.io/kueue@$KUEUE_VERSION"
src="$(module_dir "sigs.k8s.io/kueue@$KUEUE_VERSION")/config/components/crd/bases"
compgen -G "$src/*.yaml" >/dev/null || { log "sigs.k8s.io/kueue@$KUEUE_VERSION has no config/components/crd/bases/*.yaml"; exit 4; }
install -m 644 "$src"/*.yaml "$tmp/"

cg="$CACHE/bin/controller-gen-$CG_VERSION/controller-gen"
if [ ! -x "$cg" ]; then
  log "building controller-gen $CG_VERSION"
  rm -rf "$(dirname "$cg").tmp"; mkdir -p "$(dirname "$cg").tmp"
  (cd "$CACHE" && GOBIN="$(dirname "$cg").tmp" go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/controller-tools/cmd/controller-gen@$CG_VERSION")
  rm -rf "$(dirname "$cg")"; mv "$(dirname "$cg").tmp" "$(dirname "$cg")"
fi
log "generating Volcano's scheduling.volcano.sh CRDs from volcano.sh/apis@$VOLCANO_VERSION"
apis="$(module_dir "volcano.sh/apis@$VOLCANO_VERSION")"
work="$tmp/.volcano-apis"
cp -r "$apis" "$work"; chmod -R u+w "$work"  # a writable copy: go list may add go.sum lines
(cd "$work" && "$cg" crd:crdVersions=v1,generateEmbeddedObjectMeta=true \
  paths=./pkg/apis/scheduling/v1beta1 output:crd:artifacts:config="$tmp")
rm -rf "$work"
for plural in podgroups queues; do
  [ -s "$tmp/scheduling.volcano.sh_$plural.yaml" ] || {
    log "controller-gen made no scheduling.volcano.sh_$plural.yaml"; exit 4; }
done
chmod 755 "$tmp"
if [ -s "$dir/scheduling.x-k8s.io_podgroups.yaml" ]; then rm -rf "$tmp"; else rm -rf "$dir"; mv -T "$tmp" "$dir"; fi
echo "$dir"
