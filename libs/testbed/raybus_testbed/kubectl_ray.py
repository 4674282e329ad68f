"""What KubeRay's `kubectl ray` plugin sends and prints, as pure data: the objects it applies,
the label selectors and field paths it reads, and its tables. The plugin (KubeRay
`kubectl-plugin/pkg/cmd/**`, at ray-operator/v1.7.0) cannot be built here, so the integration
test `tests/integration/test_kubectl_ray.py` makes its API calls with these builders and checks
Raybus's answers; each function names the Go code it follows. No I/O: paths and bodies in,
text out.

Not covered: `create cluster --file` (a YAML config merged over these defaults), GKE's GCS FUSE
volumes, `log --link gke`, and `job submit -f` (a RayJob file created as is, with `spec.jobId`
set): the flag-built paths are what is here.
"""

from __future__ import annotations

import base64
import copy
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from raybus_common.quantity import Quantity

Obj = dict[str, Any]

RAY_VERSION = "2.52.0"  # pkg/util/constant.go
DEFAULT_IMAGE = f"rayproject/ray:{RAY_VERSION}"
FIELD_MANAGER = "ray-kubectl-plugin"
GPU, TPU = "nvidia.com/gpu", "google.com/tpu"
# pkg/util/client/client.go GetKubeRayOperatorVersion: Deployments of every namespace.
OPERATOR_SELECTOR = "app.kubernetes.io/name in (kuberay-operator,kuberay)"
PLURAL = {"raycluster": "rayclusters", "rayjob": "rayjobs", "rayservice": "rayservices"}
# cmd/session/session.go: the ports forwarded per resource type, local port = remote port.
SESSION_PORTS = {"raycluster": (("Ray Dashboard", 8265), ("Ray Interactive Client", 10001)),
                 "rayjob": (("Ray Dashboard", 8265),),
                 "rayservice": (("Ray Dashboard", 8265), ("Ray Serve", 8000))}
TERMINAL_JOB_STATUS = ("SUCCEEDED", "FAILED", "STOPPED")  # rayv1.IsJobTerminal


def ray_path(kind: str, namespace: str, name: str | None = None) -> str:
    """The ray.io/v1 path of `kind` (`raycluster`, `rayjob`, `rayservice`) in `namespace`."""
    base = f"/apis/ray.io/v1/namespaces/{namespace}/{PLURAL[kind]}"
    return f"{base}/{name}" if name else base


def parse_resources(args: Sequence[str]) -> list[tuple[str, str]]:
    """`delete`/`session`/`log` arguments: `NAME` is a RayCluster, else `TYPE/NAME`."""
    out = []
    for arg in args:
        parts = arg.split("/")
        if len(parts) == 1:
            out.append(("raycluster", parts[0]))
        elif len(parts) != 2 or not parts[1] or parts[0].lower() not in PLURAL:
            raise ValueError(f"invalid resource type/name: {arg}")
        else:
            out.append((parts[0].lower(), parts[1]))
    return out


# -- create cluster / create workergroup / job submit (pkg/util/generation/generation.go)

def _quantities(**named: str | None) -> dict[str, str]:
    """generateRequestResources/generateLimitResources: set, non-zero values, canonical."""
    keys = {"cpu": "cpu", "memory": "memory", "ephemeral": "ephemeral-storage", "gpu": GPU, "tpu": TPU}
    return {keys[k]: str(Quantity.parse(v)) for k, v in named.items()
            if v and Quantity.parse(v).value != 0}


def _container(name: str, image: str, cpu: str | None, memory: str | None, ephemeral: str | None,
               gpu: str | None, tpu: str | None) -> Obj:
    return {"name": name, "image": image, "resources": {
        "requests": _quantities(cpu=cpu, memory=memory, ephemeral=ephemeral, gpu=gpu, tpu=tpu),
        "limits": _quantities(memory=memory, ephemeral=ephemeral, gpu=gpu, tpu=tpu)}}


def _pod_spec(container: Obj, node_selector: Mapping[str, str] | None) -> Obj:
    spec: Obj = {"containers": [container]}
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    return {"spec": spec}


def _with_params(group: Obj, params: Mapping[str, str] | None) -> Obj:
    if params:  # an empty map is left out by the apply configuration's WithRayStartParams
        group["rayStartParams"] = dict(params)
    return group


def cluster_spec(*, ray_version: str = RAY_VERSION, image: str = DEFAULT_IMAGE, head_cpu: str = "2",
                 head_memory: str = "4Gi", head_gpu: str = "0", head_ephemeral_storage: str | None = "",
                 head_ray_start_params: Mapping[str, str] | None = None,
                 head_node_selectors: Mapping[str, str] | None = None, worker_replicas: int = 1,
                 worker_cpu: str = "2", worker_memory: str = "4Gi", worker_gpu: str = "0",
                 worker_tpu: str | None = "0", worker_ephemeral_storage: str | None = "",
                 worker_ray_start_params: Mapping[str, str] | None = None,
                 worker_node_selectors: Mapping[str, str] | None = None, num_of_hosts: int | None = 1,
                 autoscaler: str = "") -> Obj:
    """generateRayClusterSpec with the `create cluster` flags' defaults (one group,
    `default-group`); `job submit` passes `head_ephemeral_storage=None, worker_tpu=None,
    worker_ephemeral_storage=None, num_of_hosts=None` (its config leaves them unset)."""
    head = _container("ray-head", image, head_cpu, head_memory, head_ephemeral_storage, head_gpu, None)
    head["ports"] = [{"name": "gcs-server", "containerPort": 6379}, {"name": "dashboard", "containerPort": 8265},
                     {"name": "client", "containerPort": 10001}]
    worker = _container("ray-worker", image, worker_cpu, worker_memory, worker_ephemeral_storage, worker_gpu, worker_tpu)
    group: Obj = {"groupName": "default-group", "replicas": worker_replicas,
                  "template": _pod_spec(worker, worker_node_selectors)}
    if num_of_hosts is not None:
        group["numOfHosts"] = num_of_hosts
    spec: Obj = {"rayVersion": ray_version,
                 "headGroupSpec": _with_params({"template": _pod_spec(head, head_node_selectors)}, head_ray_start_params),
                 "workerGroupSpecs": [_with_params(group, worker_ray_start_params)]}
    if autoscaler:
        spec.update(enableInTreeAutoscaling=True, autoscalerOptions={"version": autoscaler})
    return spec


def resolve_image(image: str | None, ray_version: str) -> str:
    """create cluster's Complete(): no image, or the default one with another Ray version,
    means `rayproject/ray:<ray version>`."""
    if not image or (image == DEFAULT_IMAGE and ray_version != RAY_VERSION):
        return f"rayproject/ray:{ray_version}"
    return image


def create_cluster(name: str, namespace: str, *, labels: Mapping[str, str] | None = None,
                   annotations: Mapping[str, str] | None = None, image: str | None = DEFAULT_IMAGE,
                   ray_version: str = RAY_VERSION, **flags: Any) -> Obj:
    """The server-side apply body of `kubectl ray create cluster NAME` (field manager
    FIELD_MANAGER; the plugin GETs the cluster first and refuses an existing one)."""
    metadata: Obj = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    spec = cluster_spec(ray_version=ray_version, image=resolve_image(image, ray_version), **flags)
    return {"kind": "RayCluster", "apiVersion": "ray.io/v1", "metadata": metadata, "spec": spec}


def add_worker_group(cluster: Obj, group: str, *, ray_version: str = RAY_VERSION, image: str | None = None,
                     replicas: int = 1, num_of_hosts: int = 1, min_replicas: int = 1, max_replicas: int = 10,
                     cpu: str = "2", gpu: str = "0", tpu: str = "0", memory: str = "4Gi",
                     ray_start_params: Mapping[str, str] | None = None,
                     node_selectors: Mapping[str, str] | None = None) -> Obj:
    """`kubectl ray create workergroup GROUP -c CLUSTER`: the GOT cluster with the group
    appended (create_workergroup.go createWorkerGroupSpec), to PUT back (an Update). CPU and
    memory are both requests and limits; GPU/TPU only when non-zero."""
    both = {"cpu": str(Quantity.parse(cpu)), "memory": str(Quantity.parse(memory))}
    for key, raw in ((GPU, gpu), (TPU, tpu)):
        if Quantity.parse(raw).value != 0:
            both[key] = str(Quantity.parse(raw))
    spec: Obj = {"containers": [{"name": "ray-worker", "image": image or f"rayproject/ray:{ray_version}",
                                 "resources": {"limits": dict(both), "requests": dict(both)}}]}
    if node_selectors:
        spec["nodeSelector"] = dict(node_selectors)
    updated = copy.deepcopy(cluster)
    updated["spec"].setdefault("workerGroupSpecs", []).append({
        "groupName": group, "replicas": replicas, "minReplicas": min_replicas, "maxReplicas": max_replicas,
        "rayStartParams": dict(ray_start_params or {}), "template": {"metadata": {}, "spec": spec},
        "numOfHosts": num_of_hosts})
    return updated


class PluginError(ValueError):
    """What the plugin prints as its error, when it refuses before calling the API."""


def scale(cluster: Obj, group: str, *, replicas: int = -1, min_replicas: int = -1,
          max_replicas: int = -1) -> tuple[Obj | None, str]:
    """`kubectl ray scale cluster CLUSTER -w GROUP [-r N] [--min-replicas N] [--max-replicas N]`
    (scale_cluster.go Run): the cluster to PUT back (None when nothing changes) and the line
    printed. -1 leaves a value as it is; unset min is 0 and max 2^31-1, as the plugin reads them."""
    ns, name = cluster["metadata"]["namespace"], cluster["metadata"]["name"]
    groups = cluster["spec"].get("workerGroupSpecs") or []
    index = next((i for i, g in enumerate(groups) if g["groupName"] == group), None)
    if index is None:
        raise PluginError(f"worker group {group} not found in Ray cluster {name} in namespace {ns}. "
                          f"Available worker groups: {', '.join(g['groupName'] for g in groups)}")
    updated = copy.deepcopy(cluster)
    spec = updated["spec"]["workerGroupSpecs"][index]
    current = {"minReplicas": spec.get("minReplicas", 0), "maxReplicas": spec.get("maxReplicas", 2**31 - 1),
               "replicas": spec.get("replicas", 0)}
    final, changes = dict(current), []
    for key, label, wanted in (("minReplicas", "minReplicas", min_replicas), ("maxReplicas", "maxReplicas", max_replicas),
                               ("replicas", "Replicas", replicas)):
        if wanted >= 0 and wanted != current[key]:
            final[key] = spec[key] = wanted
            changes.append(f"Scaled {label}: {current[key]} to {wanted}")
    if final["minReplicas"] > final["maxReplicas"]:
        raise PluginError(f"cannot set --min-replicas ({final['minReplicas']}) greater than --max-replicas ({final['maxReplicas']})")
    if final["replicas"] < final["minReplicas"]:
        raise PluginError(f"cannot set --replicas ({final['replicas']}) less than --min-replicas ({final['minReplicas']})")
    if final["replicas"] > final["maxReplicas"]:
        raise PluginError(f"cannot set --replicas ({final['replicas']}) greater than --max-replicas ({final['maxReplicas']})")
    if not changes:
        return None, (f"Worker group {group} in Ray cluster {name} in namespace {ns} already matches the "
                      "requested configuration. Skipping.")
    return updated, f"Updated worker group {group} in Ray cluster {name} in namespace {ns} ({', '.join(changes)})"


def submit_rayjob(name: str, namespace: str, entrypoint: str, submission_id: str, *,
                  ttl_seconds_after_finished: int = 0, shutdown_after_job_finishes: bool = False,
                  ray_version: str = RAY_VERSION, image: str = DEFAULT_IMAGE, **flags: Any) -> Obj:
    """The apply body of `kubectl ray job submit --name NAME ... -- ENTRYPOINT` (job_submit.go
    Run, generation.go GenerateRayJobApplyConfig): InteractiveMode, `spec.jobId` = the
    submission id from the start, the cluster from the job flags' defaults."""
    unset = {"head_ephemeral_storage": None, "worker_tpu": None, "worker_ephemeral_storage": None, "num_of_hosts": None}
    spec = cluster_spec(ray_version=ray_version, image=image, **{**unset, **flags})
    return {"kind": "RayJob", "apiVersion": "ray.io/v1", "metadata": {"name": name, "namespace": namespace},
            "spec": {"submissionMode": "InteractiveMode", "entrypoint": entrypoint,
                     "ttlSecondsAfterFinished": ttl_seconds_after_finished,
                     "shutdownAfterJobFinishes": shutdown_after_job_finishes,
                     "rayClusterSpec": spec, "jobId": submission_id}}


SUBMISSION_CHARS = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ123456789"


def submission_id(choice: Any = secrets.choice) -> str:
    """generateSubmissionID: `raysubmit_` and 16 characters without look-alikes."""
    return "raysubmit_" + "".join(choice(SUBMISSION_CHARS) for _ in range(16))


def cluster_ready(cluster: Obj) -> bool:
    """job_submit.go isRayClusterReady: a condition `Ready` True, or state `ready`."""
    status = cluster.get("status") or {}
    return status.get("state") == "ready" or any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def ray_submit_command(address: str, submission_id: str, working_dir: str, entrypoint: Sequence[str], *,
                       headers: str = "", verify: str = "", no_wait: bool = False) -> list[str]:
    """raySubmitCmd for the flags used here; address is `http://localhost:8265` after the
    plugin's own port-forward, or `--address`."""
    cmd = ["ray", "job", "submit", "--address", address, "--submission-id", submission_id]
    if no_wait:
        cmd.append("--no-wait")
    if headers:
        cmd += ["--headers", headers]
    if verify:
        cmd += ["--verify", verify]
    return [*cmd, "--working-dir", working_dir, "--", *entrypoint]


# -- reads: selectors, field paths

def head_service_name(kind: str, obj: Obj) -> str:
    """client.go GetRayHeadSvcName: where `session` and `job submit` read the head Service."""
    status = obj.get("status") or {}
    if kind == "rayjob":
        status = status.get("rayClusterStatus") or {}
    elif kind == "rayservice":
        status = (status.get("activeServiceStatus") or {}).get("rayClusterStatus") or {}
    return str((status.get("head") or {}).get("serviceName", ""))


def log_cluster_name(kind: str, obj: Obj) -> str:
    """log.go Run: the cluster whose pods are read."""
    status = obj.get("status") or {}
    if kind == "raycluster":
        return str(obj["metadata"]["name"])
    if kind == "rayjob":
        return str(status.get("rayClusterName", ""))
    return str((status.get("activeServiceStatus") or {}).get("rayClusterName", ""))


def log_selector(cluster: str, node_type: str = "all") -> str:
    """log.go: the pods' label selector per `--node-type` (with the plugin's space)."""
    if node_type == "all":
        return f"ray.io/cluster={cluster}"
    return f"ray.io/node-type={node_type}, ray.io/cluster={cluster}"


def log_params(pod: Obj) -> dict[str, str]:
    """The pod log request's query: the first container (the Ray container)."""
    return {"container": pod["spec"]["containers"][0]["name"]}


def node_selector(cluster: str = "") -> str:
    """get_nodes.go createRayNodeLabelSelectors."""
    return "ray.io/is-ray-node=yes" + (f",ray.io/cluster={cluster}" if cluster else "")


def workergroup_selector(group: str, cluster: str) -> str:
    """get_workergroup.go createRayWorkerGroupLabelSelectors."""
    return f"ray.io/node-type=worker,ray.io/group={group}" + (f",ray.io/cluster={cluster}" if cluster else "")


def name_selector(name: str) -> str:
    """The field selector `get cluster NAME` and `get workergroup -c NAME` list with."""
    return f"metadata.name={name}"


def token(cluster: Obj, secret: Obj | None) -> str:
    """get_token.go Run: the cluster must use token auth; the Secret named after the cluster
    holds `auth_token` (base64 in `data`, as the API returns it)."""
    ns, name = cluster["metadata"]["namespace"], cluster["metadata"]["name"]
    if ((cluster["spec"].get("authOptions") or {}).get("mode")) != "token":
        raise PluginError(f"RayCluster {ns}/{name} was not configured to use authentication tokens")
    data = (secret or {}).get("data") or {}
    if "auth_token" not in data:
        raise PluginError(f"secret {ns}/{name} does not have an auth_token")
    return base64.b64decode(data["auth_token"]).decode()


def operator_version(deployments: Sequence[Obj]) -> str:
    """client.go GetKubeRayOperatorVersion over the listed Deployments: the first one's first
    container's image tag (`tag@sha256:…` when both; `latest` when none)."""
    if not deployments:
        raise PluginError("no KubeRay operator deployments found in any namespace")
    containers = deployments[0]["spec"]["template"]["spec"].get("containers") or []
    if not containers:
        raise PluginError("no containers found in KubeRay operator deployment")
    image: str = containers[0]["image"]
    if "@sha256:" in image and image.count(":") == 2:
        return image.split(":", 1)[1]
    if "@" in image:
        return image.split("@", 1)[1]
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


# -- tables (k8s.io/cli-runtime printers.NewTablePrinter)

def human_duration(seconds: float) -> str:
    """apimachinery util/duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes, hours = s // 60, s // 3600
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24 % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The printer's output: upper-case headers, cells aligned by a tabwriter (min width 6,
    padding 3), the last column unpadded; nothing at all for no rows."""
    lines = [[c.upper() for c in columns], *([str(c) for c in row] for row in rows)]
    if len(lines) == 1:
        return ""
    widths = [max(6, max(len(line[i]) for line in lines) + 3) for i in range(len(columns) - 1)]
    return "".join("".join(c.ljust(w) for c, w in zip(line, widths, strict=False)) + line[-1] + "\n"
                   for line in lines)


def _age(meta: Obj, now: datetime) -> str:
    created = meta.get("creationTimestamp")
    if not created:
        return "<unknown>"
    return human_duration((now - datetime.fromisoformat(created)).total_seconds())


def _q(raw: object) -> str:
    return str(Quantity.parse(raw)) if raw not in (None, "") else "0"


CONDITION_ORDER = ("RayClusterProvisioned", "HeadPodReady", "RayClusterReplicaFailure", "RayClusterSuspended",
                   "RayClusterSuspending")


def relevant_condition(cluster: Obj) -> str:
    """pkg/util/conditions.go RelevantRayClusterCondition: the first True of CONDITION_ORDER."""
    true = {c["type"] for c in (cluster.get("status") or {}).get("conditions") or [] if c.get("status") == "True"}
    return next((t for t in CONDITION_ORDER if t in true), "")


def get_clusters(clusters: Sequence[Obj], now: datetime) -> str:
    """get_cluster.go printClusters."""
    def row(c: Obj) -> list[object]:
        s = c.get("status") or {}
        return [c["metadata"]["name"], c["metadata"]["namespace"], s.get("desiredWorkerReplicas", 0),
                s.get("availableWorkerReplicas", 0), _q(s.get("desiredCPU")), _q(s.get("desiredGPU")),
                _q(s.get("desiredTPU")), _q(s.get("desiredMemory")), relevant_condition(c), s.get("state", ""),
                _age(c["metadata"], now)]
    return table(["Name", "Namespace", "Desired Workers", "Available Workers", "CPUs", "GPUs", "TPUs", "Memory",
                  "Condition", "Status", "Age"], [row(c) for c in clusters])


def _requests(pod_spec: Obj) -> dict[str, Quantity]:
    """get_workergroup.go calculatePodResource: per container requests, else limits; summed."""
    total: dict[str, Quantity] = {}
    for container in pod_spec.get("containers") or []:
        res = container.get("resources") or {}
        merged = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        for key, raw in merged.items():
            q = Quantity.parse(raw)
            total[key] = total[key] + q if key in total else q
    return total


def _ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def get_workergroups(clusters: Sequence[Obj], pods: Mapping[tuple[str, str], Sequence[Obj]], *,
                     all_namespaces: bool = False) -> str:
    """get_workergroup.go printWorkerGroups; `pods[(cluster, group)]` are the pods listed with
    `workergroup_selector(group, cluster)`."""
    rows = []
    for c in clusters:
        for g in c["spec"].get("workerGroupSpecs") or []:
            replicas = g.get("replicas", 0)
            per_pod = {} if g.get("suspend") else _requests(g["template"].get("spec") or {})
            total = {k: q * replicas for k, q in per_pod.items()} if replicas else {}
            ready = sum(1 for p in pods.get((c["metadata"]["name"], g["groupName"]), ())
                        if (p["metadata"].get("labels") or {}).get("ray.io/node-type") == "worker" and _ready(p))
            cells = [g["groupName"], g.get("minReplicas", 0), g.get("maxReplicas", 2**31 - 1), f"{ready}/{replicas}",
                     *(str(total[k]) if k in total else "0" for k in ("cpu", GPU, TPU, "memory")), c["metadata"]["name"]]
            rows.append(([c["metadata"]["namespace"]] if all_namespaces else []) + cells)
    columns = ["Name", "Min", "Max", "Replicas", "CPUs", "GPUs", "TPUs", "Memory", "Cluster"]
    return table((["Namespace"] if all_namespaces else []) + columns, rows)


def get_nodes(pods: Sequence[Obj], now: datetime, *, all_namespaces: bool = False) -> str:
    """get_nodes.go printNodes: the first container's requests, the pod's Ray labels."""
    rows = []
    for p in pods:
        labels, req = p["metadata"].get("labels") or {}, (p["spec"]["containers"][0].get("resources") or {}).get("requests") or {}
        cells = [p["metadata"]["name"], *(_q(req.get(k)) for k in ("cpu", GPU, TPU, "memory")),
                 labels.get("ray.io/cluster", ""), labels.get("ray.io/node-type", ""), labels.get("ray.io/group", ""),
                 _age(p["metadata"], now)]
        rows.append(([p["metadata"]["namespace"]] if all_namespaces else []) + cells)
    columns = ["Name", "CPUs", "GPUs", "TPUs", "Memory", "Cluster", "Type", "Worker Group", "Age"]
    return table((["Namespace"] if all_namespaces else []) + columns, rows)


def table_rows(text: str) -> list[dict[str, str]]:
    """A printed table back into rows of {HEADER: cell}, cut at the headers' columns."""
    header, *lines = text.splitlines()
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=  ))\S+(?: \S+)?", header)]
    names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    return [{n: line[a:b].strip() for n, a, b in zip(names, starts, [*starts[1:], None], strict=True)}
            for line in lines]
