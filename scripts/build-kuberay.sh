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
exec bash "$(dirname "$0")/go-install.sh" kuberay "${RAYBUS_KUBERAY_VERSION:-v1.5.0}" github.com/ray-project/kuberay/ray-operator ray-operator
