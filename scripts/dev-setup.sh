#!/usr/bin/env bash
# Create .venv and install every workspace package editable, plus the test tools.
# Plain pip + venv: nothing to install first, works on any machine with Python 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
pkgs=(-e libs/common -e libs/testbed -e cli)
for d in services/*/; do [ -f "$d/pyproject.toml" ] && pkgs+=(-e "$d"); done
PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q -c constraints.txt "${pkgs[@]}" -r requirements-dev.txt
# The Gateway API's and the batch schedulers' CRDs for the test control plane (Go module proxy,
# cached outside the repo); without them the control plane still starts, saying why.
if command -v go >/dev/null; then
  bash scripts/fetch-gateway-api.sh >/dev/null || echo "dev-setup: no Gateway API CRDs (see above)" >&2
  bash scripts/fetch-scheduler-crds.sh >/dev/null || echo "dev-setup: no scheduler CRDs (see above)" >&2
fi
echo "dev-setup: .venv ready ($(.venv/bin/python --version))"
