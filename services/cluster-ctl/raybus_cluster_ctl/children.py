"""The non-pod children of a RayCluster, built the way KubeRay v1.7 builds them. Pure.

Every function takes the RayCluster as plain Kubernetes JSON (camelCase dicts) and returns
complete objects (apiVersion, kind, metadata, spec) without ownerReferences: the caller adds
the controller reference. Nothing here reads the clock, the environment or the API server;
KubeRay's operator-level switches (`ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE`) are keyword
arguments. Pods are built elsewhere (`pods.py`); the Redis cleanup Job accepts the built
head pod for full fidelity and otherwise derives the parts of it the cleanup needs.

Deliberate differences from KubeRay, each because Raybus applies objects rather than
creating them once: every object carries `app.kubernetes.io/created-by` and `ray.io/cluster`
(the watcher selects children by the former; KubeRay omits both on the serve and headless
Services and the auth Secret); service ports are always sorted by name (KubeRay appends Go
map order to a custom head Service); computed ports that clash by name or number with the
user's `headService` ports are skipped (KubeRay appends them and the API server rejects the
duplicate). Not covered: the OpenShift Route, the GCS PVC, NetworkPolicies, mTLS objects.
"""

from __future__ import annotations

import copy
from typing import Any

from raybus_common.kube.resources import CREATED_BY, CREATED_BY_VALUE

Obj = dict[str, Any]

# KubeRay label and annotation keys (utils/constant.go); pods.py keeps its own copy.
_CLUSTER = "ray.io/cluster"
_NODE_TYPE = "ray.io/node-type"
_GROUP = "ray.io/group"
_IS_RAY_NODE = "ray.io/is-ray-node"
_IDENTIFIER = "ray.io/identifier"
_APP_NAME = "app.kubernetes.io/name"
_APP_NAME_VALUE = "kuberay"
_ORIGIN_NAME = "ray.io/originated-from-cr-name"
_ORIGIN_CRD = "ray.io/originated-from-crd"
_SERVE = "ray.io/serve"
_HEADLESS = "ray.io/headless-worker-svc"
_ENABLE_SERVE_SERVICE = "ray.io/enable-serve-service"
_FT_ENABLED = "ray.io/ft-enabled"
_STORAGE_NS = "ray.io/external-storage-namespace"
_OVERWRITE_CMD = "ray.io/overwrite-container-cmd"
_INGRESS_CLASS = "kubernetes.io/ingress.class"

# Default head ports (utils/constant.go), used when the head container declares none.
_DEFAULT_PORTS = {"client": 10001, "gcs-server": 6379, "dashboard": 8265, "metrics": 8080, "serve": 8000}
_METRICS = ("metrics", 8080)
_DASHBOARD_PORT = 8265

# Go's unicode.IsPunct over ASCII: what CheckName/CheckLabel replace when leading.
_GO_PUNCT = set("!\"#%&'()*,-./:;?@[\\]_{}")


# --- names (utils/util.go) -------------------------------------------------------------------

def check_name(s: str) -> str:
    """KubeRay `CheckName`: keep the last 50 chars; a leading digit or punctuation becomes `r`."""
    s = s[-50:]
    if s[:1].isdigit():
        s = "r" + s[1:]
    if s[:1] in _GO_PUNCT:
        s = "r" + s[1:]
    return s


def check_label(s: str) -> str:
    """KubeRay `CheckLabel`: keep the last 63 chars; leading punctuation becomes `r`."""
    s = s[-63:]
    if s[:1] in _GO_PUNCT:
        s = "r" + s[1:]
    return s


def head_service_name(cluster: Obj) -> str:
    """`headGroupSpec.headService.metadata.name` if set, else `<cluster>-head-svc`."""
    custom = _head(cluster).get("headService") or {}
    return str((custom.get("metadata") or {}).get("name") or f"{_name(cluster)}-head-svc")


def autoscaler_service_account_name(cluster: Obj) -> str:
    """The head template's `serviceAccountName` if set, else the cluster name; CheckName'd."""
    sa = _head_template(cluster).get("spec", {}).get("serviceAccountName") or _name(cluster)
    return check_name(str(sa))


# --- small readers ---------------------------------------------------------------------------

def _name(cluster: Obj) -> str:
    return str(cluster["metadata"]["name"])


def _namespace(cluster: Obj) -> str:
    return str(cluster["metadata"].get("namespace") or "default")


def _annotations(cluster: Obj) -> dict[str, str]:
    return dict(cluster["metadata"].get("annotations") or {})


def _spec(cluster: Obj) -> Obj:
    return dict(cluster.get("spec") or {})


def _head(cluster: Obj) -> Obj:
    return dict(_spec(cluster).get("headGroupSpec") or {})


def _head_template(cluster: Obj) -> Obj:
    return dict(_head(cluster).get("template") or {})


def _ray_container(template: Obj) -> Obj:
    containers = (template.get("spec") or {}).get("containers") or [{}]
    return dict(containers[0])


def _meta(name: str, namespace: str, labels: dict[str, str], annotations: dict[str, str]) -> Obj:
    return {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations}


def _ours(cluster: Obj, labels: dict[str, str]) -> dict[str, str]:
    """Raybus's two labels under KubeRay's (see the module docstring)."""
    return {_CLUSTER: _name(cluster), CREATED_BY: CREATED_BY_VALUE, **labels}


def _service_ports(cluster: Obj) -> dict[str, int]:
    """KubeRay `getServicePorts`: the head Ray container's ports (unnamed → `<port>-port`), or
    the five defaults when it declares none; `metrics: 8080` added when missing."""
    ports: dict[str, int] = {}
    for p in _ray_container(_head_template(cluster)).get("ports") or []:
        port = int(p["containerPort"])
        ports[p.get("name") or f"{port}-port"] = port
    if not ports:
        ports = dict(_DEFAULT_PORTS)
    ports.setdefault(*_METRICS)
    return ports


# --- Services (common/service.go) ------------------------------------------------------------

def head_service_labels(cluster: Obj) -> dict[str, str]:
    """Labels and selector of the head Service; `app.kubernetes.io/name` follows the head
    template's value of that label, else `kuberay`."""
    name = _name(cluster)
    template_labels = (_head_template(cluster).get("metadata") or {}).get("labels") or {}
    return {
        _CLUSTER: name,
        _NODE_TYPE: "head",
        _IDENTIFIER: check_label(f"{name}-head"),
        _APP_NAME: str(template_labels.get(_APP_NAME, _APP_NAME_VALUE)),
        CREATED_BY: CREATED_BY_VALUE,
    }


def head_service(cluster: Obj, *, cluster_ip_service: bool = False) -> Obj:
    """KubeRay `BuildServiceForHeadPod`. Without `headService`: ports from the head container
    (appProtocol `tcp`, sorted by name), annotations `headServiceAnnotations`, type
    `serviceType`, headless (`clusterIP: None`, `publishNotReadyAddresses`) when the type is
    empty or ClusterIP unless the operator runs with `ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE`
    (`cluster_ip_service`). With `headService`: that Service with our selector and labels
    forced, our annotations winning, our ports appended, name/type defaulted, namespace
    forced, and never made headless."""
    head = _head(cluster)
    labels = head_service_labels(cluster)
    annotations = {str(k): str(v) for k, v in (_spec(cluster).get("headServiceAnnotations") or {}).items()}
    ports = [{"name": n, "port": p, "appProtocol": "tcp"} for n, p in sorted(_service_ports(cluster).items())]
    service_type = head.get("serviceType") or ""
    custom = head.get("headService")
    if custom:
        svc: Obj = copy.deepcopy(custom)
        svc.pop("status", None)
        meta = svc.setdefault("metadata", {})
        spec = svc.setdefault("spec", {})
        user_ports = list(spec.get("ports") or [])
        taken = {p.get("name") for p in user_ports} | {p.get("port") for p in user_ports}
        spec["ports"] = user_ports + [p for p in ports if p["name"] not in taken and p["port"] not in taken]
        spec["selector"] = dict(labels)
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        meta["name"] = meta.get("name") or head_service_name(cluster)
        meta["namespace"] = _namespace(cluster)
        if not spec.get("type") and service_type:
            spec["type"] = service_type
        return {"apiVersion": "v1", "kind": "Service", **svc}
    spec = {"selector": dict(labels), "ports": ports}
    if service_type:
        spec["type"] = service_type
    if not cluster_ip_service and service_type in ("", "ClusterIP"):
        spec["clusterIP"] = "None"  # at most one head pod: no need for a virtual IP
        spec["publishNotReadyAddresses"] = True
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(head_service_name(cluster), _namespace(cluster), dict(labels), annotations),
        "spec": spec,
    }


def serve_service_enabled(cluster: Obj) -> bool:
    """KubeRay makes `<cluster>-serve-svc` only for annotation `ray.io/enable-serve-service: "true"`."""
    return _annotations(cluster).get(_ENABLE_SERVE_SERVICE) == "true"


def serve_service(cluster: Obj) -> Obj | None:
    """KubeRay `BuildServeService` for a RayCluster: selects every pod of the cluster, ports
    are the head ports named `serve` or `serve-*` (no appProtocol), type `serviceType`.
    None when not enabled, or when no port qualifies: KubeRay then returns an error, which
    also stops that reconcile pass before pods are created."""
    if not serve_service_enabled(cluster):
        return None
    name = _name(cluster)
    ports = [{"name": n, "port": p} for n, p in sorted(_service_ports(cluster).items())
             if n == "serve" or n.startswith("serve-")]
    if not ports:
        return None
    spec: Obj = {"selector": {_CLUSTER: name}, "ports": ports}
    if _head(cluster).get("serviceType"):
        spec["type"] = _head(cluster)["serviceType"]
    labels = _ours(cluster, {_ORIGIN_NAME: name, _ORIGIN_CRD: "RayCluster", _SERVE: f"{name}-serve"})
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": _meta(f"{name}-serve-svc", _namespace(cluster), labels, {}), "spec": spec}


def headless_worker_service(cluster: Obj) -> Obj | None:
    """KubeRay `BuildHeadlessServiceForRayCluster`: `<cluster>-headless` selecting the worker
    pods, headless and publishing not-ready addresses, for multi-host peer DNS. Only when some
    worker group has `numOfHosts > 1`."""
    groups = _spec(cluster).get("workerGroupSpecs") or []
    if not any(int(g.get("numOfHosts") or 1) > 1 for g in groups):
        return None
    name = _name(cluster)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(f"{name}-headless", _namespace(cluster), _ours(cluster, {_HEADLESS: name}), {}),
        "spec": {"clusterIP": "None", "selector": {_CLUSTER: name, _NODE_TYPE: "worker"},
                 "type": "ClusterIP", "publishNotReadyAddresses": True},
    }


# --- Ingress (common/ingress.go) -------------------------------------------------------------

def ingress(cluster: Obj) -> Obj | None:
    """KubeRay `BuildIngressForHeadService`, when `headGroupSpec.enableIngress`: one rule to
    the head Service's dashboard port (host/path/pathType from `ingressOptions`, defaults any
    host, `/`, `Prefix`), `ingressOptions.tls` copied, every cluster annotation copied except
    `kubernetes.io/ingress.class`, which becomes `spec.ingressClassName`."""
    head = _head(cluster)
    if not head.get("enableIngress"):
        return None
    name = _name(cluster)
    options = head.get("ingressOptions") or {}
    annotations = _annotations(cluster)
    ingress_class = annotations.pop(_INGRESS_CLASS, None)
    backend = {"service": {"name": head_service_name(cluster),
                           "port": {"number": _service_ports(cluster).get("dashboard", _DASHBOARD_PORT)}}}
    rule: Obj = {"http": {"paths": [{"path": options.get("path") or "/",
                                     "pathType": options.get("pathType") or "Prefix", "backend": backend}]}}
    if options.get("host"):
        rule = {"host": options["host"], **rule}
    spec: Obj = {"rules": [rule]}
    if options.get("tls"):
        spec["tls"] = copy.deepcopy(options["tls"])
    if ingress_class is not None:
        spec["ingressClassName"] = ingress_class
    labels = {_CLUSTER: name, _IDENTIFIER: check_label(f"{name}-head"), _APP_NAME: _APP_NAME_VALUE,
              CREATED_BY: CREATED_BY_VALUE}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": _meta(check_name(f"{name}-head-ingress"), _namespace(cluster), labels, annotations),
            "spec": spec}


# --- autoscaler RBAC (common/rbac.go) --------------------------------------------------------

_AUTOSCALER_RULES: list[Obj] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
    {"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "patch"]},
]


def autoscaling_enabled(cluster: Obj) -> bool:
    return bool(_spec(cluster).get("enableInTreeAutoscaling"))


def user_service_account(cluster: Obj) -> bool:
    """The head names its own ServiceAccount: KubeRay never creates it (the user must; a
    missing one is a `AutoscalerServiceAccountNotFound` error), so neither do we."""
    sa = _head_template(cluster).get("spec", {}).get("serviceAccountName") or ""
    return bool(sa) and sa == autoscaler_service_account_name(cluster)


def autoscaler_rbac(cluster: Obj) -> list[Obj]:
    """With `enableInTreeAutoscaling`: ServiceAccount (unless the user names their own),
    Role (pods get/list/watch/patch, pods/resize patch, rayclusters get/patch) and a
    RoleBinding of the one to the other, all labelled `ray.io/cluster`,
    `app.kubernetes.io/name: kuberay`, `app.kubernetes.io/created-by: kuberay-operator`."""
    if not autoscaling_enabled(cluster):
        return []
    ns, sa, role = _namespace(cluster), autoscaler_service_account_name(cluster), check_name(_name(cluster))

    def labels() -> dict[str, str]:
        return {_CLUSTER: _name(cluster), _APP_NAME: _APP_NAME_VALUE, CREATED_BY: CREATED_BY_VALUE}

    out: list[Obj] = []
    if not user_service_account(cluster):
        out.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(sa, ns, labels(), {})})
    out.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": _meta(role, ns, labels(), {}), "rules": copy.deepcopy(_AUTOSCALER_RULES)})
    out.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": _meta(role, ns, labels(), {}),
                "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role}})
    return out


# --- auth Secret (raycluster_controller.go reconcileAuthSecret) ------------------------------

def auth_secret_name(cluster: Obj) -> str:
    return check_name(_name(cluster))


def auth_secret_needed(cluster: Obj) -> bool:
    """KubeRay's quirk kept: any `authOptions` whose mode is not `disabled` (an empty mode
    too), unless auth is delegated to Kubernetes tokens or a `secretName` is given."""
    auth = _spec(cluster).get("authOptions")
    if auth is None or auth.get("mode") == "disabled":
        return False
    return not auth.get("enableK8sTokenAuth") and not auth.get("secretName")


def auth_secret(cluster: Obj, token: str) -> Obj | None:
    """Secret `CheckName(<cluster>)` with `stringData.auth_token`; the caller makes the token
    (KubeRay: base64 of 32 random bytes) and creates it only if absent."""
    if not auth_secret_needed(cluster):
        return None
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": _meta(auth_secret_name(cluster), _namespace(cluster), _ours(cluster, {}), {}),
            "stringData": {"auth_token": token}}


# --- Redis cleanup Job (raycluster_controller.go buildRedisCleanupJob) -----------------------

def redis_ft_enabled(cluster: Obj) -> bool:
    """GCS FT (annotation `ray.io/ft-enabled` "true", any case, or `gcsFaultToleranceOptions`)
    with the Redis backend (the default)."""
    options = _spec(cluster).get("gcsFaultToleranceOptions")
    enabled = _annotations(cluster).get(_FT_ENABLED, "").lower() == "true" or options is not None
    return enabled and (options or {}).get("backend", "redis") in ("", "redis")


def _storage_namespace(cluster: Obj) -> str:
    options = _spec(cluster).get("gcsFaultToleranceOptions") or {}
    return str(options.get("externalStorageNamespace")
               or _annotations(cluster).get(_STORAGE_NS, cluster["metadata"].get("uid", "")))


def _redis_env(cluster: Obj, env: list[Obj]) -> list[Obj]:
    """KubeRay `configureRedisFT`: the env the head (and so the cleanup) gets for Redis FT."""
    names = {e.get("name") for e in env}
    out = list(env)
    if "RAY_external_storage_namespace" not in names:
        out.append({"name": "RAY_external_storage_namespace", "value": _storage_namespace(cluster)})
    options = _spec(cluster).get("gcsFaultToleranceOptions")
    if options is not None:
        out.append({"name": "RAY_REDIS_ADDRESS", "value": options.get("redisAddress", "")})
        for field, var in (("redisUsername", "REDIS_USERNAME"), ("redisPassword", "REDIS_PASSWORD")):
            if options.get(field) is not None:
                out.append({"name": var, **copy.deepcopy(options[field])})
    elif "REDIS_PASSWORD" not in names and "redis-password" in (_head(cluster).get("rayStartParams") or {}):
        out.append({"name": "REDIS_PASSWORD", "value": _head(cluster)["rayStartParams"]["redis-password"]})
    return out


def _derived_head_pod(cluster: Obj) -> Obj:
    """The parts of KubeRay's head pod the cleanup Job keeps: labels, FT annotations, the
    template spec with the Redis env, and the autoscaler's ServiceAccount."""
    name, template = _name(cluster), copy.deepcopy(_head_template(cluster))
    meta = template.get("metadata") or {}
    labels = {_IS_RAY_NODE: "yes", _CLUSTER: name, _NODE_TYPE: "head", _GROUP: "headgroup",
              _IDENTIFIER: check_label(f"{name}-head"), _APP_NAME: _APP_NAME_VALUE, CREATED_BY: CREATED_BY_VALUE}
    overrides = {**(meta.get("labels") or {}), **(_head(cluster).get("labels") or {})}
    labels.update({k: v for k, v in overrides.items() if k not in (_NODE_TYPE, _GROUP, _CLUSTER)})
    annotations = dict(meta.get("annotations") or {})
    if _annotations(cluster).get(_OVERWRITE_CMD, "").lower() == "true":
        annotations[_OVERWRITE_CMD] = "true"
    annotations[_FT_ENABLED] = "true"
    annotations[_STORAGE_NS] = _storage_namespace(cluster)
    spec = template.get("spec") or {}
    spec["containers"][0]["env"] = _redis_env(cluster, spec["containers"][0].get("env") or [])
    if autoscaling_enabled(cluster):
        spec["serviceAccountName"] = autoscaler_service_account_name(cluster)
    return {"metadata": {"labels": labels, "annotations": annotations}, "spec": spec}


_CLEANUP_HINT = (
    "echo \"To get more information about manually deleting the storage namespace in Redis and removing "
    "the RayCluster's finalizer, please check "
    "https://docs.ray.io/en/master/cluster/kubernetes/user-guides/kuberay-gcs-ft.html for more details.\" && "
)
_CLEANUP_PREFIX = (
    "python -c \"from ray._private.gcs_utils import cleanup_redis_storage; "
    "from urllib.parse import urlparse; import os; import sys; "
    "redis_address = os.getenv('RAY_REDIS_ADDRESS', '').split(',')[0]; "
    "redis_address = redis_address if '://' in redis_address else 'redis://' + redis_address; "
    "parsed = urlparse(redis_address); "
    "sys.exit(1) if not cleanup_redis_storage(host=parsed.hostname, port=parsed.port, "
)
_CLEANUP_USERNAME = "username=os.getenv('REDIS_USERNAME', parsed.username), "
_CLEANUP_SUFFIX = (
    "password=os.getenv('REDIS_PASSWORD', parsed.password or ''), use_ssl=parsed.scheme=='rediss', "
    "storage_namespace=os.getenv('RAY_external_storage_namespace')) else None\""
)
_CLEANUP_RESOURCES = {"cpu": "200m", "memory": "256Mi"}


def redis_cleanup_job(cluster: Obj, *, head_pod: Obj | None = None) -> Obj | None:
    """KubeRay `buildRedisCleanupJob`, for Redis-backed GCS FT: the head pod relabelled
    `ray.io/node-type: redis-cleanup`, only its Ray container (no `wait-for-tls-ip-san` init
    container, no probes) running `cleanup_redis_storage` on the first `RAY_REDIS_ADDRESS`,
    200m/256Mi, restartPolicy Never, backoffLimit 0, activeDeadlineSeconds 300. Pass the
    built `head_pod` for full fidelity; without it the head pod is derived from the template."""
    if not redis_ft_enabled(cluster):
        return None
    pod = copy.deepcopy(head_pod) if head_pod is not None else _derived_head_pod(cluster)
    labels = {**(pod["metadata"].get("labels") or {}), _NODE_TYPE: "redis-cleanup"}
    annotations = dict(pod["metadata"].get("annotations") or {})
    spec = pod["spec"]
    ray = spec["containers"][0]
    env = list(ray.get("env") or [])
    script = _CLEANUP_PREFIX + (_CLEANUP_USERNAME if any(e.get("name") == "REDIS_USERNAME" for e in env) else "")
    ray["command"] = ["/bin/bash", "-c", "--"]
    ray["args"] = [_CLEANUP_HINT + script + _CLEANUP_SUFFIX]
    ray.pop("livenessProbe", None)
    ray.pop("readinessProbe", None)
    ray["env"] = env + [{"name": "RAY_redis_db_connect_retries", "value": "120"},
                        {"name": "RAY_redis_db_connect_wait_milliseconds", "value": "500"}]
    ray["resources"] = {"limits": dict(_CLEANUP_RESOURCES), "requests": dict(_CLEANUP_RESOURCES)}
    spec["containers"] = [ray]
    init = [c for c in spec.get("initContainers") or [] if c.get("name") != "wait-for-tls-ip-san"]
    if init:
        spec["initContainers"] = init
    else:
        spec.pop("initContainers", None)
    spec["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(check_label(f"{_name(cluster)}-redis-cleanup"), _namespace(cluster),
                          labels, annotations),
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": 300,  # best effort for five minutes
            "template": {"metadata": {"labels": dict(labels), "annotations": dict(annotations)}, "spec": spec},
        },
    }


# --- all of them -----------------------------------------------------------------------------

def children(cluster: Obj, *, cluster_ip_service: bool = False) -> list[Obj]:
    """Every non-pod child in KubeRay's creation order: autoscaler ServiceAccount, Role,
    RoleBinding; Ingress; head Service; headless worker Service; serve Service. The auth
    Secret (needs a token) and the Redis cleanup Job (deletion only) are built separately."""
    out = autoscaler_rbac(cluster)
    optional = (ingress(cluster), head_service(cluster, cluster_ip_service=cluster_ip_service),
                headless_worker_service(cluster), serve_service(cluster))
    out.extend(o for o in optional if o is not None)
    return out
