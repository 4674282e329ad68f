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
exec bash "$(dirname "$0")/go-install.sh" kueue "${RAYBUS_KUEUE_VERSION:-v0.17.0}" sigs.k8s.io/kueue/cmd/kueue kueue
