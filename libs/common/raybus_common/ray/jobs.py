"""The Ray job side of the bus, as data: where a RayCluster's dashboard is (`Dashboard`), the
body of a job submission (`JobRequest`), and the observation of a RayJob's Ray job
(`RayJobInfo` objects on `raybus.state.rayjobinfo.<ns>.<rayjob>`).

A `RayJobInfo` is shaped like a Kubernetes object so a controller's view holds it like any
child: it is named after its RayJob, owned by it (a controller ownerReference), and its
`resourceVersion` is the observation time in milliseconds, so a late duplicate from another
poller never rolls the view back. `spec` says what was asked (which submission id, on which
cluster), `status` what the dashboard answered:

| status field | meaning |
|---|---|
| `found` | the dashboard knows the submission id (False: it answered 404) |
| `jobStatus`, `message`, `startTime`, `endTime`, `errorType` | the dashboard's `status`, `message`, `start_time`, `end_time` (ms since the epoch), `error_type` |
| `error` | why the dashboard could not be asked (timeout, refused, 5xx, a missing token Secret); "" when it answered |

Pure: pydantic only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..gotext import check_name

API_VERSION = "raybus.io/v1"
KIND = "RayJobInfo"
SUBJECT_KIND = "rayjobinfo"  # the kind token on the bus
DEFAULT_DASHBOARD_PORT = 8265


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Dashboard(_Frozen):
    """Where one RayCluster's dashboard is, as a controller sees it in its view. How it is
    reached (the Service's DNS name, the head pod's IP, the API server's service proxy) is the
    edge's setting (`address.base_url`), not the controller's."""

    namespace: str
    cluster: str
    url: str = ""  # status.dashboardURL: "<head svc>.<ns>.svc.<domain>:<port>", no scheme
    head_service: str = ""  # the head Service's name (for the API server's service proxy)
    head_pod_ip: str = ""  # the RayCluster's status.head.podIP
    port: int = DEFAULT_DASHBOARD_PORT  # the head container's port named "dashboard"
    auth_secret: str = ""  # Secret holding key `auth_token` when authOptions.mode is token


class JobRequest(_Frozen):
    """`POST /api/jobs/`'s body (KubeRay's RayJobRequest): everything but the entrypoint is left
    out when empty or zero."""

    entrypoint: str
    submission_id: str = ""
    metadata: dict[str, str] | None = None
    runtime_env: dict[str, Any] | None = None
    entrypoint_num_cpus: float = 0.0
    entrypoint_num_gpus: float = 0.0
    entrypoint_resources: dict[str, float] | None = None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"entrypoint": self.entrypoint}
        if self.submission_id:
            out["submission_id"] = self.submission_id
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        if self.runtime_env:
            out["runtime_env"] = dict(self.runtime_env)
        if self.entrypoint_num_cpus > 0:
            out["entrypoint_num_cpus"] = self.entrypoint_num_cpus
        if self.entrypoint_num_gpus > 0:
            out["entrypoint_num_gpus"] = self.entrypoint_num_gpus
        if self.entrypoint_resources:
            out["entrypoint_resources"] = dict(self.entrypoint_resources)
        return out


class JobInfo(_Frozen):
    """What one poll of `GET /api/jobs/<id>` found: the status part of a `RayJobInfo`."""

    found: bool = False
    job_status: str = Field("", alias="jobStatus")
    message: str = ""
    start_time: int | None = Field(None, alias="startTime")  # ms since the epoch, None while 0
    end_time: int | None = Field(None, alias="endTime")
    error_type: str | None = Field(None, alias="errorType")
    error: str = ""  # the dashboard could not be asked

    @classmethod
    def from_dashboard(cls, answer: Mapping[str, Any]) -> JobInfo:
        """From the dashboard's RayJobInfo JSON (times 0 or absent → None)."""
        def ms(key: str) -> int | None:
            value = answer.get(key)
            return int(value) if isinstance(value, int | float) and value > 0 else None

        error_type = answer.get("error_type")
        return cls(found=True, job_status=str(answer.get("status") or ""), message=str(answer.get("message") or ""),
                   start_time=ms("start_time"), end_time=ms("end_time"),
                   error_type=str(error_type) if error_type is not None else None)

    def to_status(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def observation_object(kind: str, of: Mapping[str, Any], *, uid: str, owner: Mapping[str, Any] | None,
                       spec: dict[str, Any], status: dict[str, Any], observed_at: datetime,
                       labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An observation of Ray shaped like a Kubernetes object of `kind`: named (and namespaced)
    as the object `of`, its `uid`, its resourceVersion the observation time in ms, its
    controller `owner`, `labels`; `status` with `observedAt`."""
    meta = of.get("metadata") or {}
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {
            "name": meta.get("name", ""),
            "namespace": meta.get("namespace", ""),
            "uid": uid,
            "resourceVersion": str(int(observed_at.timestamp() * 1000)),
            **({"labels": dict(labels)} if labels else {}),
            **({"ownerReferences": [dict(owner)]} if owner else {}),
        },
        "spec": spec,
        "status": {**status, "observedAt": observed_at.isoformat()},
    }


def info_object(rayjob: Mapping[str, Any], *, submission_id: str, cluster: str, info: JobInfo,
                observed_at: datetime) -> dict[str, Any]:
    """The `RayJobInfo` observation of `rayjob`'s Ray job `submission_id` on `cluster`."""
    meta = rayjob.get("metadata") or {}
    uid = meta.get("uid", "")
    owner = {"apiVersion": rayjob.get("apiVersion", "ray.io/v1"), "kind": "RayJob", "name": meta.get("name", ""),
             "uid": uid, "controller": True}
    return observation_object(KIND, rayjob, uid=f"{uid}/{submission_id}", owner=owner, observed_at=observed_at,
                              spec={"submissionId": submission_id, "rayClusterName": cluster}, status=info.to_status())


def info_of(obj: Mapping[str, Any] | None) -> tuple[str, str, JobInfo] | None:
    """(submission id, cluster, what was found) of a `RayJobInfo` object; None if it is not one."""
    if not obj or obj.get("kind") != KIND:
        return None
    spec = obj.get("spec") or {}
    return (str(spec.get("submissionId") or ""), str(spec.get("rayClusterName") or ""),
            JobInfo.model_validate(obj.get("status") or {}))


def same_observation(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Whether two observations of Ray (`RayJobInfo`, `serve.RayServeApplications`) say the same:
    the same uid, spec and status, their observation times aside. A poller publishes only what
    changed."""
    if a is None or b is None:
        return a is b
    def strip(o: Mapping[str, Any]) -> tuple[Any, Any, Any]:
        status = {k: v for k, v in (o.get("status") or {}).items() if k != "observedAt"}
        return (o.get("metadata") or {}).get("uid"), o.get("spec"), status
    return strip(a) == strip(b)


def head_port(pod_spec: Mapping[str, Any], name: str, default: int) -> int:
    """The port named `name` of a head pod spec's first (the Ray) container (KubeRay's
    `FindContainerPort`), else `default`."""
    containers = pod_spec.get("containers") or []
    for port in (containers[0].get("ports") or []) if containers else []:
        if port.get("name") == name and isinstance(port.get("containerPort"), int):
            return int(port["containerPort"])
    return default


def head_dashboard_port(pod_spec: Mapping[str, Any]) -> int:
    """The port named `dashboard` of a head pod spec's Ray container, else 8265."""
    return head_port(pod_spec, "dashboard", DEFAULT_DASHBOARD_PORT)


def head_template_spec(cluster: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod spec of `cluster`'s head template ({} when there is none)."""
    head = ((cluster.get("spec") or {}).get("headGroupSpec") or {}).get("template") or {}
    return head.get("spec") or {}


def dashboard_port(cluster: Mapping[str, Any]) -> int:
    """The dashboard port of `cluster`'s head template (`head_dashboard_port`)."""
    return head_dashboard_port(head_template_spec(cluster))


def auth_secret(cluster: Mapping[str, Any]) -> str:
    """The Secret with the cluster's `auth_token` when `authOptions.mode` is `token`, else ""
    (KubeRay: `authOptions.secretName`, or `CheckName(<cluster>)`, as cluster-ctl names it)."""
    options = (cluster.get("spec") or {}).get("authOptions") or {}
    if options.get("mode") != "token":
        return ""
    if options.get("secretName"):
        return str(options["secretName"])
    name = str((cluster.get("metadata") or {}).get("name") or "")
    return check_name(name) if name else ""


def dashboard_of(cluster: Mapping[str, Any], *, url: str = "") -> Dashboard:
    """Where `cluster`'s dashboard is, from the RayCluster as observed (`status.head`) and the
    RayJob's `status.dashboardURL` (`url`)."""
    meta = cluster.get("metadata") or {}
    head = (cluster.get("status") or {}).get("head") or {}
    return Dashboard(namespace=meta.get("namespace", ""), cluster=meta.get("name", ""), url=url,
                     head_service=str(head.get("serviceName") or ""), head_pod_ip=str(head.get("podIP") or ""),
                     port=dashboard_port(cluster), auth_secret=auth_secret(cluster))
