"""The non-pod children of a RayCluster, built the way KubeRay v1.7 builds them. Pure.

Every function takes the RayCluster as plain Kubernetes JSON (camelCase dicts) and returns
complete objects (apiVersion, kind, metadata, spec) without ownerReferences: the caller adds
the controller reference. Nothing here reads the clock, the environment or the API server;
KubeRay's operator-level switches (`ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE`) are keyword
arguments. Pods are built elsewhere (`pods.py`); the Redis cleanup Job is in `cleanup_job.py`
and the shared label keys, name rules and readers are in `children_common.py`, whose public
names are all importable from here too.

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

from raybus_common.kube.resources import CREATED_BY, CREATED_BY_VALUE

from .children_common import (
    _APP_NAME,
    _APP_NAME_VALUE,
    _CLUSTER,
    _ENABLE_SERVE_SERVICE,
    _HEADLESS,
    _IDENTIFIER,
    _INGRESS_CLASS,
    _NODE_TYPE,
    _ORIGIN_CRD,
    _ORIGIN_NAME,
    _SERVE,
    Obj,
    _annotations,
    _head,
    _head_template,
    _meta,
    _name,
    _namespace,
    _spec,
    autoscaler_service_account_name,
    autoscaling_enabled,
    check_label,
    check_name,
    head_service_name,
)
from .cleanup_job import redis_cleanup_job, redis_ft_enabled

# Every public name of the three children modules stays importable from here.
__all__ = [
    "Obj", "auth_secret", "auth_secret_name", "auth_secret_needed", "autoscaler_rbac",
    "autoscaler_service_account_name", "autoscaling_enabled", "check_label", "check_name", "children",
    "head_service", "head_service_labels", "head_service_name", "headless_worker_service", "ingress",
    "redis_cleanup_job", "redis_ft_enabled", "serve_service", "serve_service_enabled", "user_service_account",
]

# Default head ports (utils/constant.go), used when the head container declares none.
_DEFAULT_PORTS = {"client": 10001, "gcs-server": 6379, "dashboard": 8265, "metrics": 8080, "serve": 8000}
_METRICS = ("metrics", 8080)
_DASHBOARD_PORT = 8265


# --- small readers ---------------------------------------------------------------------------

def _ray_container(template: Obj) -> Obj:
    containers = (template.get("spec") or {}).get("containers") or [{}]
    return dict(containers[0])


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
