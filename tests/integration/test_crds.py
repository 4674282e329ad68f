"""The real API server accepts every valid fixture and rejects every invalid one with a message
naming the field; and deploy/crds/ is exactly what the generator makes from this API server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from raybus_common.crds import KINDS
from raybus_common.crds.manifest import file_name, generated_with
from raybus_common.kube.client import ApiError
from raybus_testbed.controlplane import CRD_DIR
from raybus_testbed.crdgen import drift, render_from, server_version
from raybus_testbed.kube import Kube

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PLURALS = {k.info.kind: k.info.plural for k in KINDS}


def load(path: Path) -> dict[str, Any]:
    obj = yaml.safe_load(path.read_text())
    assert isinstance(obj, dict) and obj.get("kind") in PLURALS, f"{path.name}: not a Ray custom resource"
    return obj


def create(api: Kube, ns: str, obj: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = api.create(f"/apis/ray.io/v1/namespaces/{ns}/{PLURALS[obj['kind']]}", obj)
    return result


def valid() -> list[Path]:
    return sorted((FIXTURES / "valid").glob("*.yaml"))


def invalid() -> list[Path]:
    return sorted((FIXTURES / "invalid").glob("*.yaml"))


def test_there_are_enough_fixtures() -> None:
    assert len(valid()) >= 15
    assert len(invalid()) >= 10


@pytest.mark.parametrize("path", valid(), ids=lambda p: p.stem)
def test_valid_fixture_is_accepted(control_plane: Kube, namespace: str, path: Path) -> None:
    obj = load(path)
    created = create(control_plane, namespace, obj)
    assert created["metadata"]["uid"]
    # Nothing the manifest says was pruned away by the schema.
    lost = missing(obj["spec"], created["spec"], "spec")
    assert not lost, f"the API server pruned fields: {lost}"


def missing(sent: Any, stored: Any, path: str) -> list[str]:
    if isinstance(sent, dict):
        if not isinstance(stored, dict):
            return [path]
        return [m for k, v in sent.items() for m in (missing(v, stored[k], f"{path}.{k}") if k in stored else [f"{path}.{k}"])]
    if isinstance(sent, list):
        if not isinstance(stored, list) or len(stored) != len(sent):
            return [path]
        return [m for i, (a, b) in enumerate(zip(sent, stored, strict=True)) for m in missing(a, b, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("path", invalid(), ids=lambda p: p.stem)
def test_invalid_fixture_is_rejected_naming_the_field(control_plane: Kube, namespace: str, path: Path) -> None:
    expected = re.findall(r"^# expect-error: (.+)$", path.read_text(), flags=re.MULTILINE)
    assert expected, f"{path.name} has no '# expect-error:' line"
    with pytest.raises(ApiError) as err:
        create(control_plane, namespace, load(path))
    assert err.value.status == 422
    for fragment in expected:
        assert fragment.strip() in err.value.message, f"{fragment!r} not in: {err.value.message}"


def test_committed_crds_are_what_the_generator_makes(control_plane: Kube) -> None:
    committed = (CRD_DIR / file_name(KINDS[0])).read_text()
    if generated_with(committed) != server_version(control_plane):
        pytest.skip(f"deploy/crds was generated against kube-apiserver {generated_with(committed)}, "
                    f"this cluster runs {server_version(control_plane)}: embedded types may differ")
    stale = drift(render_from(control_plane))
    assert not stale, f"deploy/crds out of date, run `make crds`: {stale}"
