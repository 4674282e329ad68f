"""The Kubernetes resources Raybus reads and writes, and their API paths. Pure data.

`kind` tokens are the lowercase kinds used in bus subjects (`pod`, `raycluster`). Label
selectors narrow what the watcher sees the way KubeRay narrows its informer caches: Pods by
`ray.io/node-type`, batch Jobs by `app.kubernetes.io/created-by`.
"""

from __future__ import annotations

from dataclasses import dataclass

CREATED_BY = "app.kubernetes.io/created-by"
CREATED_BY_VALUE = "kuberay-operator"  # KubeRay's value: pods look the same to Ray and to tooling


@dataclass(frozen=True)
class Resource:
    kind: str  # subject token, lowercase
    api_kind: str  # Kubernetes kind, CamelCase
    group: str
    version: str
    plural: str
    namespaced: bool = True
    label_selector: str | None = None  # what the watcher narrows to
    has_status: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def collection(self, namespace: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"

    def item(self, namespace: str | None, name: str) -> str:
        return f"{self.collection(namespace)}/{name}"


def _r(kind: str, api_kind: str, group: str, version: str, plural: str, **kw: object) -> Resource:
    return Resource(kind, api_kind, group, version, plural, **kw)  # type: ignore[arg-type]


RAY = (
    _r("raycluster", "RayCluster", "ray.io", "v1", "rayclusters", has_status=True),
    _r("rayjob", "RayJob", "ray.io", "v1", "rayjobs", has_status=True),
    _r("rayservice", "RayService", "ray.io", "v1", "rayservices", has_status=True),
    _r("raycronjob", "RayCronJob", "ray.io", "v1", "raycronjobs", has_status=True),
)
OWNED = (
    _r("pod", "Pod", "", "v1", "pods", label_selector="ray.io/node-type in (head,worker,redis-cleanup)"),
    _r("service", "Service", "", "v1", "services", label_selector=f"{CREATED_BY}={CREATED_BY_VALUE}"),
    _r("job", "Job", "batch", "v1", "jobs", label_selector=f"{CREATED_BY}={CREATED_BY_VALUE}"),
    _r("ingress", "Ingress", "networking.k8s.io", "v1", "ingresses", label_selector=f"{CREATED_BY}={CREATED_BY_VALUE}"),
    _r("serviceaccount", "ServiceAccount", "", "v1", "serviceaccounts", label_selector=f"{CREATED_BY}={CREATED_BY_VALUE}"),
    _r("role", "Role", "rbac.authorization.k8s.io", "v1", "roles", label_selector=f"{CREATED_BY}={CREATED_BY_VALUE}"),
    _r("rolebinding", "RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings",
       label_selector=f"{CREATED_BY}={CREATED_BY_VALUE}"),
    _r("secret", "Secret", "", "v1", "secrets", label_selector=f"{CREATED_BY}={CREATED_BY_VALUE}"),
    _r("persistentvolumeclaim", "PersistentVolumeClaim", "", "v1", "persistentvolumeclaims",
       label_selector=f"{CREATED_BY}={CREATED_BY_VALUE}"),
    _r("networkpolicy", "NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies",
       label_selector=f"{CREATED_BY}={CREATED_BY_VALUE}"),
)
# Watched only when their CRDs exist in the cluster.
SCHEDULERS = (
    _r("podgroup", "PodGroup", "scheduling.volcano.sh", "v1beta1", "podgroups"),
    _r("schedulingpodgroup", "PodGroup", "scheduling.x-k8s.io", "v1alpha1", "podgroups"),
    _r("workload", "Workload", "kueue.x-k8s.io", "v1beta1", "workloads"),
)
# Written by the actuator, never watched.
WRITE_ONLY = (
    _r("event", "Event", "events.k8s.io", "v1", "events"),
    _r("configmap", "ConfigMap", "", "v1", "configmaps"),
    _r("namespace", "Namespace", "", "v1", "namespaces", namespaced=False),
)

CATALOG: dict[str, Resource] = {r.kind: r for r in (*RAY, *OWNED, *SCHEDULERS, *WRITE_ONLY)}
_BY_API: dict[tuple[str, str], Resource] = {(r.api_version, r.api_kind): r for r in CATALOG.values()}


def by_kind(kind: str) -> Resource:
    try:
        return CATALOG[kind]
    except KeyError:
        raise KeyError(f"unknown resource kind {kind!r}; known: {', '.join(sorted(CATALOG))}") from None


def by_api(api_version: str, api_kind: str) -> Resource:
    """The resource for an object's apiVersion and kind."""
    try:
        return _BY_API[(api_version, api_kind)]
    except KeyError:
        raise KeyError(f"unknown resource {api_version} {api_kind}") from None


def parse_watch_spec(spec: str) -> Resource:
    """`kind` from the catalog, optionally `kind=<label selector>` to override its selector.

    Lets a deployment (or a test) watch an extra kind, e.g. `configmap=raybus.io/demo=true`.
    """
    kind, _, selector = spec.partition("=")
    base = by_kind(kind.strip())
    if not selector:
        return base
    return Resource(base.kind, base.api_kind, base.group, base.version, base.plural, base.namespaced,
                    selector.strip(), base.has_status)
