"""What Raybus decides about the Kubernetes kinds it watches, and the paths of a served resource.
Pure data.

A `KindSpec` is Raybus's own decision about a kind: its subject token (the lowercase kind used
in bus subjects: `pod`, `raycluster`; `podgroup` for Volcano's PodGroup and
`schedulingpodgroup` for scheduler-plugins' one), its API group and Kind, the label selector
the watcher narrows it with (the way KubeRay narrows its informer caches: Pods by
`ray.io/node-type`, the other owned kinds by `app.kubernetes.io/created-by`) and, where it
matters, the versions Raybus accepts, most preferred first.

What the API server serves (version, plural, namespaced) is not kept here: it comes from
discovery (`kube.discovery`), so a scheduler's or the Gateway API's kinds are found at whatever
version a cluster serves. A `Resource` is a spec resolved against what is served: the paths
to list, watch and write it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

CREATED_BY = "app.kubernetes.io/created-by"
CREATED_BY_VALUE = "kuberay-operator"  # KubeRay's value: pods look the same to Ray and to tooling
_OURS = f"{CREATED_BY}={CREATED_BY_VALUE}"


@dataclass(frozen=True)
class KindSpec:
    kind: str  # subject token, lowercase
    group: str  # "" for the core group
    api_kind: str  # Kubernetes kind, CamelCase
    label_selector: str | None = None  # what the watcher narrows to
    # Acceptable versions, most preferred first: Raybus reads these objects' fields, so a
    # version it does not know is no use. Empty: whichever version the server prefers.
    versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resource:
    """A kind as the API server serves it: where to list, watch and write it."""

    kind: str  # subject token, lowercase
    api_kind: str  # Kubernetes kind, CamelCase
    group: str
    version: str
    plural: str
    namespaced: bool = True
    label_selector: str | None = None  # what the watcher narrows to

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


def _k(kind: str, group: str, api_kind: str, selector: str | None = None, versions: tuple[str, ...] = ("v1",)
       ) -> KindSpec:
    return KindSpec(kind, group, api_kind, selector, versions)


RAY = (
    _k("raycluster", "ray.io", "RayCluster"),
    _k("rayjob", "ray.io", "RayJob"),
    _k("rayservice", "ray.io", "RayService"),
    _k("raycronjob", "ray.io", "RayCronJob"),
)
OWNED = (
    _k("pod", "", "Pod", "ray.io/node-type in (head,worker,redis-cleanup)"),
    _k("service", "", "Service", _OURS),
    _k("job", "batch", "Job", _OURS),
    _k("ingress", "networking.k8s.io", "Ingress", _OURS),
    _k("serviceaccount", "", "ServiceAccount", _OURS),
    _k("role", "rbac.authorization.k8s.io", "Role", _OURS),
    _k("rolebinding", "rbac.authorization.k8s.io", "RoleBinding", _OURS),
    _k("secret", "", "Secret", _OURS),
    _k("persistentvolumeclaim", "", "PersistentVolumeClaim", _OURS),
    _k("networkpolicy", "networking.k8s.io", "NetworkPolicy", _OURS),
)
# Watched only when the cluster serves them (their CRDs are installed), at the version the
# server prefers: their controllers read them through the apiVersion they carry.
SCHEDULERS = (
    _k("podgroup", "scheduling.volcano.sh", "PodGroup", versions=()),
    _k("schedulingpodgroup", "scheduling.x-k8s.io", "PodGroup", versions=()),
    _k("workload", "kueue.x-k8s.io", "Workload", versions=()),
)
# The Gateway API's kinds, which serve-ctl writes for a RayService's NewClusterWithIncrementalUpgrade
# (its `<rs>-gateway` and `<rs>-httproute`): watched like a scheduler's, only when the cluster
# serves them, and narrowed like the owned kinds to Raybus's own. `v1` (what serve-ctl writes),
# then `v1beta1` (the same fields), never an experimental version whose fields differ.
GATEWAY_API = (
    _k("gateway", "gateway.networking.k8s.io", "Gateway", _OURS, versions=("v1", "v1beta1")),
    _k("httproute", "gateway.networking.k8s.io", "HTTPRoute", _OURS, versions=("v1", "v1beta1")),
)
# Every kind watched only when served (and listable).
OPTIONAL = (*SCHEDULERS, *GATEWAY_API)
# Not watched unless named in RAYBUS_WATCH_EXTRA (the actuator needs no entry here: it writes
# any kind discovery finds).
OTHERS = (
    _k("configmap", "", "ConfigMap"),
    _k("event", "events.k8s.io", "Event"),
    _k("namespace", "", "Namespace"),
)

SPECS: dict[str, KindSpec] = {s.kind: s for s in (*RAY, *OWNED, *OPTIONAL, *OTHERS)}


def spec_of(kind: str) -> KindSpec:
    try:
        return SPECS[kind]
    except KeyError:
        raise KeyError(f"unknown resource kind {kind!r}; known: {', '.join(sorted(SPECS))}") from None


def parse_watch_spec(spec: str) -> KindSpec:
    """`kind` (a token of `SPECS`), optionally `kind=<label selector>` to override its selector.

    Lets a deployment (or a test) watch an extra kind, e.g. `configmap=raybus.io/demo=true`.
    """
    kind, _, selector = spec.partition("=")
    base = spec_of(kind.strip())
    return replace(base, label_selector=selector.strip()) if selector else base
