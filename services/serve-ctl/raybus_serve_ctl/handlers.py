"""raybus-serve-ctl's declaration: its root kind, its reconcile, and what wakes a RayService and
joins its view: the RayClusters and Services it owns (and, under the incremental strategy, each
cluster's own serve Service, the Gateway and the HTTPRoute), the `RayServeApplications` observations of
its clusters (the watcher's serve poller; owned like the clusters), and its clusters' head pods
(labelled with the RayService on the head template: `serve_head`), for the `ray.io/serve` label and
the serve endpoint count; KubeRay's `kuberay_service_*` metrics over the RayServices this replica
holds. The shared runtime does the rest (`controller.runtime.serve`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from raybus_common.controller import scrape
from raybus_common.controller.runtime import Controller, ControllerSpec, Watch, serve
from raybus_common.controller.view import RootKey, either, owned_by
from raybus_common.ray.serve import SUBJECT_KIND
from raybus_common.runner import Service

from .config import ServeConfig
from .constants import ORIGINATED_FROM_CR_NAME_LABEL, ORIGINATED_FROM_CRD_LABEL, RAYSERVICE_CRD
from .metrics import families
from .reconcile import reconcile
from .settings import ServeCtlSettings

ROOT = "rayservice"
Obj = dict[str, Any]


def serve_head(pod: Obj) -> Iterable[RootKey]:
    """A RayService cluster's head pod belongs to the RayService its labels name; every other pod
    to none, so the view never holds it."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(ORIGINATED_FROM_CRD_LABEL) == RAYSERVICE_CRD and labels.get(ORIGINATED_FROM_CR_NAME_LABEL) \
            and labels.get("ray.io/node-type") == "head":
        yield RootKey(ROOT, meta.get("namespace", ""), labels[ORIGINATED_FROM_CR_NAME_LABEL])


def cluster_serve_service(service: Obj) -> Iterable[RootKey]:
    """A Service owned by a RayService's RayCluster (its own serve Service under
    NewClusterWithIncrementalUpgrade, `<cluster>-serve-svc`) belongs to that RayService: the
    cluster is named `<rayservice>-<5 chars>` (`names.cluster_name`)."""
    meta = service.get("metadata") or {}
    if (meta.get("labels") or {}).get(ORIGINATED_FROM_CRD_LABEL) != RAYSERVICE_CRD:
        return
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == "RayCluster" and ref.get("controller") and "-" in str(ref.get("name") or ""):
            yield RootKey(ROOT, meta.get("namespace", ""), str(ref["name"]).rsplit("-", 1)[0])


def keep_head_pod(pod: Obj) -> Obj:
    """What reconcile reads of a head pod: identity, labels, conditions."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    return {"apiVersion": pod.get("apiVersion") or "v1", "kind": pod.get("kind") or "Pod",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "labels",
                                                "deletionTimestamp") if k in meta},
            "status": {k: status[k] for k in ("phase", "conditions", "podIP") if k in status}}


SPEC = ControllerSpec[ServeConfig]("serve-ctl", ROOT, reconcile, watches=(
    Watch("raycluster", owned_by(ROOT, "RayService")),
    Watch("service", either(owned_by(ROOT, "RayService"), cluster_serve_service)),
    Watch("gateway", owned_by(ROOT, "RayService")),
    Watch("httproute", owned_by(ROOT, "RayService")),
    Watch(SUBJECT_KIND, owned_by(ROOT, "RayService")),
    Watch("pod", serve_head, keep=keep_head_pod),
))


async def start(svc: Service, settings: ServeCtlSettings) -> Controller[ServeConfig]:
    ctl = serve(svc, SPEC, settings, settings)
    scrape.export(svc, ctl, families)
    return ctl
