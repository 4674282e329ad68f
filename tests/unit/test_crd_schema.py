"""The committed CRDs in deploy/crds/ say exactly what the models say.

Kubernetes-typed subtrees (pod templates, Services, ...) come from the API server's OpenAPI and
are checked against a live server in tests/integration/test_crds.py; here every other node of
each committed schema must equal what the models generate, so the two cannot drift.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from raybus_common.crds import KINDS
from raybus_common.crds.base import CRDObject
from raybus_common.crds.manifest import crd, file_name
from raybus_common.crds.schema import placeholder_resolver

CRD_DIR = Path(__file__).resolve().parents[2] / "deploy" / "crds"


def compare(expected: Any, actual: Any, path: str, errors: list[str]) -> None:
    if isinstance(expected, dict) and "x-raybus-k8s" in expected:
        # A Kubernetes type: the committed side must be a real schema, never waved through.
        if not isinstance(actual, dict) or actual.get("x-kubernetes-preserve-unknown-fields"):
            errors.append(f"{path}: {expected['x-raybus-k8s']} is not a structural schema")
        elif expected["x-raybus-k8s"].endswith("PodTemplateSpec"):
            spec = actual.get("properties", {}).get("spec", {})
            if "containers" not in spec.get("properties", {}):
                errors.append(f"{path}: pod template lacks the PodSpec schema")
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            errors.append(f"{path}: expected an object, got {actual!r:.60}")
            return
        for key in expected.keys() | actual.keys():
            if key not in actual:
                errors.append(f"{path}.{key}: missing from the committed CRD")
            elif key not in expected:
                errors.append(f"{path}.{key}: in the committed CRD but not in the models")
            else:
                compare(expected[key], actual[key], f"{path}.{key}", errors)
    elif isinstance(expected, list) and expected and isinstance(expected[0], dict):
        if len(expected) != len(actual):
            errors.append(f"{path}: {len(expected)} items in the models, {len(actual)} committed")
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            compare(e, a, f"{path}[{i}]", errors)
    elif expected != actual:
        errors.append(f"{path}: models say {expected!r:.80}, committed {actual!r:.80}")


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.info.kind)
def test_committed_crd_matches_models(kind: type[CRDObject]) -> None:
    path = CRD_DIR / file_name(kind)
    assert path.exists(), f"{path} missing: run `make crds`"
    committed = yaml.safe_load(path.read_text())
    errors: list[str] = []
    compare(crd(kind, placeholder_resolver), committed, kind.info.kind, errors)
    assert not errors, "deploy/crds drifted from the models (run `make crds`):\n" + "\n".join(errors[:40])


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.info.kind)
def test_crd_has_status_subresource_columns_and_category(kind: type[CRDObject]) -> None:
    committed = yaml.safe_load((CRD_DIR / file_name(kind)).read_text())
    version = committed["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert committed["spec"]["names"]["categories"] == ["all"]
    assert version["additionalPrinterColumns"], "printer columns missing"


def test_compare_reports_a_drift() -> None:
    errors: list[str] = []
    compare({"type": "object", "properties": {"a": {"type": "string"}}},
            {"type": "object", "properties": {"a": {"type": "integer"}}}, "X", errors)
    assert errors == ["X.properties.a.type: models say 'string', committed 'integer'"]


def test_compare_rejects_a_waved_through_pod_template() -> None:
    errors: list[str] = []
    compare({"x-raybus-k8s": "io.k8s.api.core.v1.PodTemplateSpec"},
            {"type": "object", "x-kubernetes-preserve-unknown-fields": True}, "T", errors)
    assert errors and "not a structural schema" in errors[0]
