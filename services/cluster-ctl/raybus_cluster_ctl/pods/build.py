"""The Pods of a RayCluster, assembled the way KubeRay v1.7 assembles them (`buildHeadPod`,
`buildWorkerPod`, `BuildPod`). Pure.

`head_pod` and `worker_pod` take the typed RayCluster and group and return a complete Pod as a
plain dict: labels, annotations, the Ray container's command with its `ray start`
flags (`raystart`), env vars (`env`), the `wait-gcs-ready` init container
(`init_container`), `/dev/shm` and log volumes, the metrics port, probes (`probes`),
the autoscaler sidecar (`autoscaler`), token auth, mTLS (`security`) and GCS fault
tolerance (`env`). The Ray container is `containers[0]`; operator-level switches come from
`ClusterConfig`.

Not here: ownerReferences and the `ray.io/upgrade-strategy-recreate-hash` annotation (the pass
adds both), names (the pass picks them; KubeRay uses `generateName`), batch scheduler metadata,
and the history-server collector sidecar (gate RayClusterHistoryServer).
"""

from __future__ import annotations

from collections.abc import Mapping

from raybus_common.crds.raycluster import HeadGroupSpec, RayCluster, RayNodeType, WorkerGroupSpec
from raybus_common.gotext import check_label
from raybus_common.kube.resources import CREATED_BY, CREATED_BY_VALUE

from ..config import ClusterConfig
from ..constants import (
    APP_NAME_LABEL,
    APP_NAME_VALUE,
    AUTOSCALER_CONTAINER,
    AUTOSCALER_V2_ENV,
    CLUSTER_LABEL,
    DEFAULT_METRICS_PORT,
    GROUP_LABEL,
    HEAD_GROUP,
    HOST_INDEX_LABEL,
    IDENTIFIER_LABEL,
    IS_RAY_NODE_LABEL,
    KUBERAY_VERSION_ANNOTATION,
    NODE_TYPE_LABEL,
    OVERWRITE_CMD_ANNOTATION,
    REPLICA_INDEX_LABEL,
    REPLICA_NAME_LABEL,
    SERVE_LABEL,
)
from ..names import autoscaler_service_account_name
from ..podtemplate import Obj, compact, container_env, json_copy
from .autoscaler import autoscaler_container
from .env import configure_gcs_ft, head_address_env, ray_container_env
from .init_container import wait_gcs_ready
from .probes import init_probes
from .raystart import params_from_container_resources, ray_start_params, render_ray_start, set_ray_command
from .security import configure_auth, configure_tls


def pod_labels(cluster: RayCluster, node_type: RayNodeType, group_name: str,
               extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """KubeRay `labelPod`: the base labels, overridden by `extra` (template labels merged with
    the group's `labels`) except `ray.io/node-type`, `ray.io/group` and `ray.io/cluster`."""
    labels = {
        IS_RAY_NODE_LABEL: "yes",
        CLUSTER_LABEL: cluster.name,
        NODE_TYPE_LABEL: str(node_type),
        GROUP_LABEL: group_name,
        IDENTIFIER_LABEL: check_label(f"{cluster.name}-{node_type}"),
        APP_NAME_LABEL: APP_NAME_VALUE,
        CREATED_BY: CREATED_BY_VALUE,
    }
    for key, value in (extra or {}).items():
        if key not in (NODE_TYPE_LABEL, GROUP_LABEL, CLUSTER_LABEL):
            labels[str(key)] = str(value)
    return labels


def head_pod(cluster: RayCluster, name: str, settings: ClusterConfig) -> Obj:
    """KubeRay `buildHeadPod` (`DefaultHeadPodTemplate` + `BuildPod`) with the name given."""
    head = cluster.spec.head_group_spec
    template = json_copy(head.template)
    spec, ray = _spec_and_ray(template)
    labels = pod_labels(cluster, RayNodeType.HEAD, HEAD_GROUP, _merged_labels(template, head))
    annotations = _template_annotations(cluster, template)
    params = ray_start_params(cluster, head, RayNodeType.HEAD, settings)
    autoscaling = cluster.spec.autoscaling_enabled
    if autoscaling:
        spec["serviceAccountName"] = autoscaler_service_account_name(cluster)
        spec["containers"].append(autoscaler_container(cluster, str(ray.get("image") or ""), settings))
        options = cluster.spec.autoscaler_options
        if options is not None and options.version is not None:  # unset: Ray's version decides, nothing injected
            container_env(ray).append({"name": AUTOSCALER_V2_ENV, "value": str(cluster.spec.autoscaler_v2).lower()})
        if cluster.spec.autoscaler_v2:
            spec["restartPolicy"] = "Never"
    configure_gcs_ft(cluster, RayNodeType.HEAD, spec, ray, annotations, params)
    _add_metrics_port(ray)
    configure_auth(cluster, spec)
    configure_tls(cluster, RayNodeType.HEAD, spec, settings)
    annotations[KUBERAY_VERSION_ANNOTATION] = settings.kuberay_version
    spec["containers"].extend(json_copy(settings.head_sidecar_containers))
    return _build_pod(cluster, template, name, RayNodeType.HEAD, labels, annotations, params, settings,
                      autoscaling=autoscaling)


def worker_pod(cluster: RayCluster, group: WorkerGroupSpec, name: str, settings: ClusterConfig, *,
               replica_group: str | None = None, host_index: int | None = None,
               replica_index: int | None = None) -> Obj:
    """KubeRay `buildWorkerPod` (`DefaultWorkerPodTemplate` + `BuildPod`) with the name given.
    Under the RayMultiHostIndexing gate every worker carries `ray.io/worker-group-replica-index`
    (`replica_index`, 0 when not given, as KubeRay's unindexed path) and, when numOfHosts > 1,
    `ray.io/worker-group-replica-name` and `ray.io/replica-host-index`."""
    template = json_copy(group.template)
    spec, ray = _spec_and_ray(template)
    if settings.enable_init_container_injection:
        spec.setdefault("initContainers", []).append(wait_gcs_ready(cluster, ray, settings))
    labels = pod_labels(cluster, RayNodeType.WORKER, group.group_name, _merged_labels(template, group))
    _replica_labels(labels, group, settings, replica_group, host_index, replica_index)
    annotations = _template_annotations(cluster, template)
    params = ray_start_params(cluster, group, RayNodeType.WORKER, settings)
    configure_gcs_ft(cluster, RayNodeType.WORKER, spec, ray, annotations, params)
    _add_metrics_port(ray)
    if cluster.spec.autoscaling_enabled and cluster.spec.autoscaler_v2:
        spec["restartPolicy"] = "Never"
    configure_auth(cluster, spec)
    configure_tls(cluster, RayNodeType.WORKER, spec, settings)
    spec["containers"].extend(json_copy(settings.worker_sidecar_containers))
    return _build_pod(cluster, template, name, RayNodeType.WORKER, labels, annotations, params, settings,
                      autoscaling=False)


def named_worker(pod: Obj, group: WorkerGroupSpec, name: str, settings: ClusterConfig, *,
                 replica_group: str | None = None, host_index: int | None = None,
                 replica_index: int | None = None) -> Obj:
    """`worker_pod(cluster, group, name, settings, ...)` made from `pod`, a `worker_pod` of the
    same cluster, group and settings under any name and replica: a copy with the name and the
    replica labels set, the only fields of a worker pod that these arguments decide. Only those
    levels are copied (the top, `metadata`, its labels); the rest is `pod`'s own, shared, and
    neither is changed after."""
    meta = pod["metadata"]
    labels = dict(meta["labels"])
    _replica_labels(labels, group, settings, replica_group, host_index, replica_index)
    return {**pod, "metadata": {**meta, "name": name, "labels": labels}}


def _replica_labels(labels: dict[str, str], group: WorkerGroupSpec, settings: ClusterConfig, replica_group: str | None,
                    host_index: int | None, replica_index: int | None) -> None:
    if settings.feature_enabled("RayMultiHostIndexing"):
        labels[REPLICA_INDEX_LABEL] = str(replica_index or 0)
        if group.hosts > 1:
            labels[REPLICA_NAME_LABEL] = replica_group or ""
            labels[HOST_INDEX_LABEL] = str(host_index or 0)


def _build_pod(cluster: RayCluster, template: Obj, name: str, node_type: RayNodeType, labels: dict[str, str],
               annotations: dict[str, str], params: dict[str, str], settings: ClusterConfig, *,
               autoscaling: bool) -> Obj:
    """The operator defaults and KubeRay `BuildPod`: serve label, volumes, the command, env, probes."""
    for key, value in settings.default_pod_annotations.items():
        annotations.setdefault(key, value)
    for key, value in settings.default_pod_labels.items():
        labels.setdefault(key, value)
    crd = cluster.creator_crd
    if crd == "RayService":
        labels[SERVE_LABEL] = "false" if node_type == RayNodeType.HEAD else "true"
    spec, ray = template["spec"], template["spec"]["containers"][0]
    if "plasma-directory" not in params:
        _add_empty_dir(spec, ray, "shared-mem", "/dev/shm", memory=True)
    if autoscaling:
        autoscaler = next(c for c in spec["containers"] if c.get("name") == AUTOSCALER_CONTAINER)
        _add_empty_dir(spec, ray, "ray-logs", "/tmp/ray")
        _add_empty_dir(spec, autoscaler, "ray-logs", "/tmp/ray")
    params = dict(params)
    params_from_container_resources(params, ray.get("resources") or {})
    start = render_ray_start(node_type, params)
    keep_user_command = annotations.get(OVERWRITE_CMD_ANNOTATION, "").lower() == "true"
    set_ray_command(ray, start, settings, keep_user_command=keep_user_command)
    for init in spec.get("initContainers") or []:
        container_env(init).extend(head_address_env(cluster, settings))
    ray_container_env(cluster, node_type, ray, start, settings)
    if settings.enable_probes_injection:
        init_probes(ray, node_type, crd, params, cluster.spec.ray_version_numbers)
    meta = {k: v for k, v in (template.get("metadata") or {}).items()
            if k not in ("name", "generateName", "namespace", "labels", "annotations", "ownerReferences",
                         "creationTimestamp")}
    meta.update(name=name, namespace=cluster.namespace, labels=labels, annotations=annotations)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


# --- small helpers ---------------------------------------------------------------------------

def _spec_and_ray(template: Obj) -> tuple[Obj, Obj]:
    spec = template.setdefault("spec", {})
    containers = spec.setdefault("containers", [])
    if not containers:
        containers.append({})
    return spec, containers[0]


def _merged_labels(template: Obj, group: HeadGroupSpec | WorkerGroupSpec) -> dict[str, str]:
    """KubeRay `mergeLabels`: template labels, then the group's `labels` on top."""
    return {**((template.get("metadata") or {}).get("labels") or {}), **(group.labels or {})}


def _template_annotations(cluster: RayCluster, template: Obj) -> dict[str, str]:
    """KubeRay `initTemplateAnnotations`: the template's, plus `ray.io/overwrite-container-cmd`
    copied from the cluster when "true"."""
    annotations = {str(k): str(v) for k, v in ((template.get("metadata") or {}).get("annotations") or {}).items()}
    if str(cluster.annotations.get(OVERWRITE_CMD_ANNOTATION, "")).lower() == "true":
        annotations[OVERWRITE_CMD_ANNOTATION] = "true"
    return annotations


def _add_metrics_port(ray: Obj) -> None:
    ports = ray.setdefault("ports", [])
    if not any(p.get("name") == "metrics" for p in ports):
        ports.append({"name": "metrics", "containerPort": DEFAULT_METRICS_PORT})


def _add_empty_dir(spec: Obj, container: Obj, volume: str, path: str, *, memory: bool = False) -> None:
    """KubeRay `addEmptyDir`: nothing if `path` is already mounted; the volume is added once
    (a Memory one sized to the container's memory limit, else request) and mounted."""
    mounts = container.setdefault("volumeMounts", [])
    if any(m.get("mountPath") == path for m in mounts):
        return
    volumes = spec.setdefault("volumes", [])
    if not any(v.get("name") == volume for v in volumes):
        empty_dir: Obj = {}
        if memory:
            res = container.get("resources") or {}
            size = (res.get("limits") or {}).get("memory") or (res.get("requests") or {}).get("memory")
            empty_dir = compact({"medium": "Memory", "sizeLimit": None if size is None else str(size)})
        volumes.append({"name": volume, "emptyDir": empty_dir})
    mounts.append({"mountPath": path, "name": volume})
