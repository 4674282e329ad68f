"""The optional feature blocks of a RayClusterSpec: autoscaler, GCS fault tolerance, auth, ingress,
network policy, TLS, history-server collector and upgrade strategy.

Models and their enums only, field for field as KubeRay v1.7's `ray.io/v1` API spells them. The
defaults KubeRay applies in Go code rather than in the CRD (autoscaler idle timeout 60 s, GCS
backend `redis`, PVC size 1Gi, ingress path `/`, ...) are noted in comments and left to the
controllers. Import these through `raybus_common.crds.raycluster`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from .base import (
    CRDModel,
    EnvFromSource,
    EnvVar,
    EnvVarSource,
    IngressTLS,
    Int32,
    NetworkPolicyEgressRule,
    NetworkPolicyIngressRule,
    Quantity,
    ResourceRequirements,
    SecurityContext,
    VolumeMount,
)

# -- autoscaler -----------------------------------------------------------------------------


class UpscalingMode(StrEnum):
    DEFAULT = "Default"
    AGGRESSIVE = "Aggressive"
    CONSERVATIVE = "Conservative"


class AutoscalerVersion(StrEnum):
    V1 = "v1"
    V2 = "v2"


class AutoscalerOptions(CRDModel):
    # Replaces the sidecar's whole ResourceRequirements (KubeRay's own: 500m CPU, 512Mi, req = limit).
    resources: ResourceRequirements | None = None
    image: str | None = None  # unset: the Ray container's image
    image_pull_policy: str | None = None
    security_context: SecurityContext | None = None
    # Read by Ray's autoscaler, not the operator; 60 when unset.
    idle_timeout_seconds: Int32 | None = None
    upscaling_mode: UpscalingMode | None = None
    # Unset: Ray's version decides (v2 from Ray 2.47), and the operator injects nothing.
    version: AutoscalerVersion | None = None
    env: list[EnvVar] | None = None
    env_from: list[EnvFromSource] | None = None
    volume_mounts: list[VolumeMount] | None = None
    command: list[str] | None = None
    args: list[str] | None = None


# -- GCS fault tolerance --------------------------------------------------------------------


class GcsFaultToleranceBackend(StrEnum):
    REDIS = "redis"
    ROCKSDB = "rocksdb"


class GcsStorageDeletionPolicy(StrEnum):
    """What happens to the operator-managed GCS PVC when its RayCluster is deleted."""

    DELETE_WITH_CLUSTER = "DeleteWithCluster"
    RETAIN = "Retain"  # the PVC gets no ownerReference and outlives the cluster


class RedisCredential(CRDModel):
    """A Redis username or password: literally, or from a Secret/ConfigMap like an env var."""

    value_from: EnvVarSource | None = None
    value: str | None = None


class GcsEmbeddedStorage(CRDModel):
    """The PVC behind the embedded RocksDB store (backend `rocksdb` only)."""

    # An existing PVC the user owns; excludes size, storageClassName and accessModes.
    claim_name: str | None = None
    size: Quantity | None = None  # operator-managed PVC; 1Gi when unset
    storage_class_name: str | None = None
    access_modes: list[str] | None = None  # [ReadWriteOnce] when unset
    sub_path: str | None = None
    deletion_policy: GcsStorageDeletionPolicy | None = None  # DeleteWithCluster when unset


class GcsFaultToleranceOptions(CRDModel):
    """Presence enables GCS fault tolerance."""

    # Unset means redis.
    backend: GcsFaultToleranceBackend | None = Field(
        None,
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "gcsFaultToleranceOptions.backend is immutable"}
            ]
        },
    )
    redis_username: RedisCredential | None = None
    redis_password: RedisCredential | None = None
    external_storage_namespace: str | None = None  # the cluster's UID when unset
    redis_address: str | None = None
    storage: GcsEmbeddedStorage | None = None


# -- authentication -------------------------------------------------------------------------


class AuthMode(StrEnum):
    DISABLED = "disabled"
    TOKEN = "token"


class AuthOptions(CRDModel):
    # Delegate token checks to the Kubernetes API server (projected ServiceAccount tokens).
    enable_k8s_token_auth: bool | None = Field(None, alias="enableK8sTokenAuth")
    secret_name: str | None = None  # an existing Secret with key `auth_token`
    mode: AuthMode | None = None


# -- head ingress ---------------------------------------------------------------------------


class IngressPathType(StrEnum):
    EXACT = "Exact"
    PREFIX = "Prefix"
    IMPLEMENTATION_SPECIFIC = "ImplementationSpecific"


class IngressOptions(CRDModel):
    host: str | None = None  # unset: any host
    path: str | None = None  # `/` when unset
    path_type: IngressPathType | None = None  # Prefix when unset
    tls: list[IngressTLS] | None = None


# -- network policy -------------------------------------------------------------------------


class NetworkPolicyMode(StrEnum):
    DENY_ALL = "DenyAll"
    DENY_ALL_INGRESS = "DenyAllIngress"
    DENY_ALL_EGRESS = "DenyAllEgress"


class NetworkPolicyRules(CRDModel):
    """Rules appended to the base policy, which always allows intra-cluster traffic."""

    ingress_rules: list[NetworkPolicyIngressRule] | None = None
    # DNS egress is not added for you: under DenyAll/DenyAllEgress add it here.
    egress_rules: list[NetworkPolicyEgressRule] | None = None


class WorkerGroupNetworkPolicyRules(NetworkPolicyRules):
    """Rules for one worker group; they replace (not extend) `worker` for that group."""

    group_name: str


class NetworkPolicyConfig(CRDModel):
    mode: NetworkPolicyMode = NetworkPolicyMode.DENY_ALL
    head: NetworkPolicyRules | None = None
    worker: NetworkPolicyRules | None = None
    worker_groups: list[WorkerGroupNetworkPolicyRules] | None = Field(
        None, json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["groupName"]}
    )


# -- TLS, history server, upgrades ----------------------------------------------------------


class TLSOptions(CRDModel):
    """mTLS between Ray pods with certificates from cert-manager; off when unset or false."""

    enabled: bool | None = None


class CollectorOptions(CRDModel):
    """The history-server collector sidecar `ray-history-collector`."""

    image: str | None = None
    image_pull_policy: str | None = None
    resources: ResourceRequirements | None = None
    env: list[EnvVar] | None = None


class HistoryServerOptions(CRDModel):
    collector_options: CollectorOptions | None = None


class RayClusterUpgradeType(StrEnum):
    RECREATE = "Recreate"  # delete every Pod when the Pod-template hash changes
    NONE = "None"  # never recreate Pods for a spec change (also the behaviour when unset)


class RayClusterUpgradeStrategy(CRDModel):
    type: RayClusterUpgradeType | None = None
