"""Every valid RayCluster fixture makes Pods the real API server accepts: the user's own head and
worker templates as Pods (`tests/fixtures/README.md` promises they are valid Pod templates), and
the head and worker Pods Raybus builds from them (`raybus_cluster_ctl.pods`), which add
containers, volumes, mounts and env that could collide with the user's. Created with
`dryRun=All`: the API server validates and admits them, and stores nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from raybus_cluster_ctl.config import ClusterConfig
from raybus_cluster_ctl.pods.build import head_pod, worker_pod
from raybus_common.crds.raycluster import RayCluster
from raybus_common.kube.client import ApiError
from raybus_testbed.kube import Kube

pytestmark = pytest.mark.integration

FIXTURES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "valid").glob("raycluster-*.yaml"))


def dry_create(api: Kube, ns: str, pod: dict[str, Any]) -> None:
    """Create `pod` with dryRun=All; first the ServiceAccount it names, as admission requires it."""
    account = pod["spec"].get("serviceAccountName") or "default"
    try:
        api.create(f"/api/v1/namespaces/{ns}/serviceaccounts",
                   {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}})
    except ApiError as e:
        if e.status != 409:  # the controller manager may have made `default` already
            raise
    try:
        api.request("POST", f"/api/v1/namespaces/{ns}/pods", body=pod, params={"dryRun": "All"})
    except ApiError as e:
        pytest.fail(f"pod {pod['metadata']['name']} rejected: {e.message}")


def as_pod(template: dict[str, Any], name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {**(template.get("metadata") or {}), "name": name},
            "spec": template["spec"]}


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_the_fixtures_pod_templates_and_raybus_pods_are_valid_pods(control_plane: Kube, namespace: str,
                                                                   path: Path) -> None:
    obj = yaml.safe_load(path.read_text())
    obj["metadata"].update(namespace=namespace, uid="00000000-0000-0000-0000-000000000001")
    name = obj["metadata"]["name"]
    spec = obj["spec"]
    dry_create(control_plane, namespace, as_pod(spec["headGroupSpec"]["template"], f"{name}-template-head"))
    for i, group in enumerate(spec.get("workerGroupSpecs") or []):
        dry_create(control_plane, namespace, as_pod(group["template"], f"{name}-template-worker-{i}"))

    cluster = RayCluster.model_validate(obj)
    settings = ClusterConfig()
    dry_create(control_plane, namespace, head_pod(cluster, f"{name}-head-abcde", settings))
    for group in cluster.spec.workers:
        built = worker_pod(cluster, group, f"{name}-{group.group_name}-worker-abcde", settings)
        dry_create(control_plane, namespace, built)
