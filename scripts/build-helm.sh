#!/usr/bin/env bash
# Build Helm, used by the chart's tests (deploy/helm/raybus: `helm template`, `helm lint`).
# `go install` from the Go module proxy, which serves helm.sh/helm/v3 at v3.22.0; nothing else
# is downloaded. The binary is never part of the repository.
#
# It lands in a cache outside the repo, keyed by version:
#   ${RAYBUS_CACHE:-~/.cache/raybus}/bin/helm-<ver>/helm
# With the cache warm the script returns in well under a second. It prints the binary's path.
set -euo pipefail
exec bash "$(dirname "$0")/go-install.sh" helm "${RAYBUS_HELM_VERSION:-v3.22.0}" helm.sh/helm/v3/cmd/helm helm
