"""The Ray Serve side of the bus, as data: what a RayService's RayCluster serves
(`RayServeApplications` objects on `raybus.state.rayserveapplications.<ns>.<raycluster>`), and whether
the serve config a controller wants is the one Ray has deployed (`deployed_matches`).

The watcher's serve poller asks each RayService-made RayCluster whose head is ready
(`GET /api/serve/applications/?api_type=declarative` on its dashboard, `GET /-/healthz` on its
head pod's Serve proxy) and publishes what it found, only when that changed. The object is
shaped like a Kubernetes object so serve-ctl's view holds it like any child: named after the
RayCluster, owned by the RayCluster's controller owner (the RayService: a controller
ownerReference copied from the RayCluster), labelled with the RayCluster's
`ray.io/originated-from-*` labels, its uid `<raycluster uid>/serve` and its `resourceVersion`
the observation time in ms (as `jobs.RayJobInfo`). `spec` names the cluster asked, `status`
holds what was found:

| status field | meaning |
|---|---|
| `applications` | per application (Ray's name, `""` as `"default"`, KubeRay's rule): `status`, `message`, `deployments` (per deployment `status`, `message`) and `deployedAppConfig`, the application's config as Ray keeps it (`deployed_app_config`; null while Ray has none, e.g. an app being deleted) |
| `targetCapacity` | the instance's `target_capacity` (null: none set) |
| `proxy` | the head pod's Serve proxy: `podName`, `healthy` (its `/-/healthz` answered 200), `error` (why not) |
| `error` | why the dashboard could not be asked (no answer, 5xx, no address or token yet); "" when it answered. An error keeps the applications the last answer showed |

**Deployed or not, without a cache.** KubeRay remembers the serve config it last submitted per
cluster in memory (a restart submits once more). Raybus reads it back instead: Ray keeps each
application's config as submitted (the declarative API's `model_dump(exclude_unset=True)` of
the application, the global `logging_config` copied into an application without one), so
`deployed_matches(desired, observation)` compares the desired config's applications with the
`deployedAppConfig`s the observation shows. It survives any restart, and sees what another
writer (a user's `serve deploy`) changed.

Pure: pydantic only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..crds.cluster_services import DEFAULT_SERVE_PORT, SERVE_PORT_NAME
from .jobs import Dashboard, dashboard_of, head_port, head_template_spec, observation_object

KIND = "RayServeApplications"
SUBJECT_KIND = "rayserveapplications"  # the kind token on the bus
DEFAULT_APP = "default"  # the name KubeRay gives Ray's unnamed application ("")
RUNNING = "RUNNING"
DELETING = "DELETING"
ORIGIN_LABELS = ("ray.io/originated-from-cr-name", "ray.io/originated-from-crd")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class DeploymentStatus(_Frozen):
    status: str = ""  # UPDATING, HEALTHY, UNHEALTHY, …
    message: str = ""


class AppStatus(_Frozen):
    status: str = ""  # NOT_STARTED, DEPLOYING, RUNNING, DEPLOY_FAILED, DELETING, UNHEALTHY
    message: str = ""
    deployments: dict[str, DeploymentStatus] = Field(default_factory=dict)
    deployed_app_config: dict[str, Any] | None = Field(None, alias="deployedAppConfig")


class ProxyHealth(_Frozen):
    """The head pod's Serve proxy, as `GET http://<head pod IP>:<serve port>/-/healthz` found it."""

    pod_name: str = Field("", alias="podName")
    healthy: bool = False
    error: str = ""  # why it is not healthy: the answer's status and body, or no answer


class ServeApps(_Frozen):
    """What one poll of a RayCluster's Serve found: the status part of a `RayServeApplications`."""

    applications: dict[str, AppStatus] = Field(default_factory=dict)
    target_capacity: float | None = Field(None, alias="targetCapacity")
    proxy: ProxyHealth = Field(default_factory=ProxyHealth)
    error: str = ""  # the dashboard could not be asked

    @classmethod
    def from_dashboard(cls, answer: Mapping[str, Any], proxy: ProxyHealth) -> ServeApps:
        """From the dashboard's `ServeInstanceDetails` JSON (`GET /api/serve/applications/`)."""
        apps = {}
        for name, app in (answer.get("applications") or {}).items():
            if not isinstance(app, Mapping):
                continue
            deployments = {str(d): DeploymentStatus(status=_text(dep.get("status")), message=_text(dep.get("message")))
                           for d, dep in (app.get("deployments") or {}).items() if isinstance(dep, Mapping)}
            config = app.get("deployed_app_config")
            apps[str(name) or DEFAULT_APP] = AppStatus(
                status=_text(app.get("status")), message=_text(app.get("message")), deployments=deployments,
                deployed_app_config=dict(config) if isinstance(config, Mapping) else None)
        capacity = answer.get("target_capacity")
        return cls(applications=apps, proxy=proxy,
                   target_capacity=float(capacity) if isinstance(capacity, int | float) else None)

    @property
    def ready(self) -> bool:
        """KubeRay's readiness of a cluster's Serve: at least one application, every one RUNNING
        (deployment statuses and the proxy play no part)."""
        return bool(self.applications) and all(a.status == RUNNING for a in self.applications.values())

    def to_status(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def _text(value: Any) -> str:
    return str(value) if value is not None else ""


def serve_port(cluster: Mapping[str, Any]) -> int:
    """The port named `serve` of `cluster`'s head template, else 8000 (KubeRay's `GetServePort`):
    `crds.cluster_services.serve_port` of a RayCluster as observed, unparsed (the watcher's)."""
    return head_port(head_template_spec(cluster), SERVE_PORT_NAME, DEFAULT_SERVE_PORT)


def serve_dashboard(cluster: Mapping[str, Any]) -> Dashboard:
    """Where the dashboard of a RayService's `cluster` is: `jobs.dashboard_of`, its URL the
    cluster's own head Service (`status.head.serviceName`) as `<svc>.<ns>.svc:<port>`, a name
    that resolves inside any cluster whatever its DNS domain ("" while the Service is not known)."""
    d = dashboard_of(cluster)
    return d.model_copy(update={"url": f"{d.head_service}.{d.namespace}.svc:{d.port}" if d.head_service else ""})


def controller_owner(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """`obj`'s controller ownerReference (a RayService's RayCluster: the RayService), if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, Mapping) and ref.get("controller"):
            return dict(ref)
    return None


def apps_object(cluster: Mapping[str, Any], *, apps: ServeApps, observed_at: datetime) -> dict[str, Any]:
    """The `RayServeApplications` observation of `cluster` (a RayCluster, as observed)."""
    meta = cluster.get("metadata") or {}
    uid = str(meta.get("uid") or "")
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k in ORIGIN_LABELS}
    return observation_object(KIND, cluster, uid=f"{uid}/serve", owner=controller_owner(cluster), labels=labels,
                              spec={"rayClusterName": meta.get("name", ""), "rayClusterUID": uid},
                              status=apps.to_status(), observed_at=observed_at)


def apps_of(obj: Mapping[str, Any] | None) -> tuple[str, ServeApps] | None:
    """(cluster, what was found) of a `RayServeApplications` object; None if it is not one."""
    if not obj or obj.get("kind") != KIND:
        return None
    return str((obj.get("spec") or {}).get("rayClusterName") or ""), ServeApps.model_validate(obj.get("status") or {})


def of_cluster(obj: Mapping[str, Any], cluster_uid: str) -> bool:
    """Whether the `RayServeApplications` `obj` is the one of the RayCluster with `cluster_uid`
    (not of an older RayCluster of that name)."""
    return str((obj.get("spec") or {}).get("rayClusterUID") or "") in ("", cluster_uid)


# -- is the desired config the deployed one? ------------------------------------------------------


def app_name(app: Mapping[str, Any]) -> str:
    """An application's name in a serve config: `name`, Ray's default ("default") when absent
    or ""."""
    return str(app.get("name") or DEFAULT_APP)


def as_deployed(desired: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What Ray keeps of each application of the serve config `desired` (a `serveConfigV2` as
    parsed): the application as written, the global `logging_config` in it when it has none
    (Ray's controller copies it so), keyed by name."""
    shared = desired.get("logging_config")
    out: dict[str, dict[str, Any]] = {}
    for app in desired.get("applications") or []:
        if not isinstance(app, Mapping):
            continue
        kept = dict(app)
        if kept.get("logging_config") is None and shared:
            kept["logging_config"] = shared
        out[app_name(app)] = kept
    return out


def deployed_matches(desired_config: Mapping[str, Any], observation: Mapping[str, Any] | ServeApps | None) -> bool:
    """Whether Ray has deployed `desired_config` (a serve config as parsed, KubeRay's
    `serveConfigV2`), as `observation` (a `RayServeApplications` object, or its `ServeApps`)
    shows it; False means submit it (again):

    | observation                                                           | matches |
    |------------------------------------------------------------------------|---------|
    | none yet, or no application (a head restarted without GCS FT: KubeRay's case (b)) | no |
    | an application of the config missing, or its `deployedAppConfig` not the config's (`as_deployed`) or null | no |
    | an application the config does not name (not being deleted)            | no      |
    | `targetCapacity` other than the config's `target_capacity`             | no      |
    | every application as the config says (applications being deleted aside) | yes   |

    Numbers compare by value (Ray may read `1` back as `1.0`). The instance-wide options
    (`http_options`, `proxy_location`, `grpc_options`) are not compared: Ray keeps them only
    from Serve's first start and ignores later changes, so re-submitting cannot apply them.
    An observation with an `error` is judged by the applications it kept."""
    apps = observation if isinstance(observation, ServeApps) else (apps_of(observation) or (None, None))[1]
    if apps is None or not apps.applications:
        return False
    wanted = as_deployed(desired_config)
    capacity = desired_config.get("target_capacity")
    if (float(capacity) if isinstance(capacity, int | float) else None) != apps.target_capacity:
        return False
    for name, app in apps.applications.items():
        if name not in wanted and app.status != DELETING:
            return False
    return all(name in apps.applications and apps.applications[name].deployed_app_config == config
               for name, config in wanted.items())
