# The obvious way in. `make dev` once, then `make test`; `make up` / `make down` for the local stack.
.PHONY: dev control-plane kuberay ray test unit integration conformance up down crds lint bench

dev:
	bash scripts/dev-setup.sh

control-plane:
	bash scripts/build-control-plane.sh

# The real KubeRay operator, the reference the adoption test runs against (cached like the control plane).
kuberay:
	bash scripts/build-kuberay.sh

# A venv with ray[default] from PyPI, for the real Ray head the Ray tests run (cached like KubeRay).
ray:
	bash scripts/ray-venv.sh

test: dev control-plane kuberay ray
	bash scripts/test.sh

unit: dev
	.venv/bin/pytest tests/unit

integration: dev control-plane kuberay ray
	.venv/bin/pytest tests/integration

# Raybus beside the real KubeRay on one control plane, every fixture diffed; the report goes
# into docs/compatibility.md (`make test` runs the same test without rewriting the doc).
conformance: dev control-plane kuberay ray
	RAYBUS_CONFORMANCE_REPORT=docs/compatibility.md .venv/bin/pytest tests/conformance

up: dev control-plane
	.venv/bin/raybus up

down:
	.venv/bin/raybus down

crds: dev control-plane
	.venv/bin/raybus crds generate

lint: dev
	.venv/bin/ruff check libs services cli tests bench
	MYPYPATH=libs/common:libs/testbed .venv/bin/mypy libs/common/raybus_common libs/testbed/raybus_testbed cli/raybus_cli \
		$(filter-out %.egg-info,$(wildcard services/*/raybus_*))

bench: dev control-plane
	.venv/bin/python bench/spine.py
