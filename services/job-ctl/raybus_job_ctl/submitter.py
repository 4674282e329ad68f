"""What submits a RayJob's Ray job, as KubeRay v1.7 builds it (`common/job.go`,
`rayjob_controller.go`): the `ray job submit` shell command, the submitter Kubernetes Job
(K8sJobMode), the submitter container injected into the head Pod (SidecarMode), and the body
of the dashboard POST (HTTPMode).

The command is KubeRay's `BuildJobSubmitCommand` to the byte: a wait for the dashboard's GCS
health, then (unless SidecarMode without the `SidecarSubmitterRestart` gate) a `ray job status`
guard so a retried submitter does not submit twice, `ray job submit` with KubeRay's flags in
KubeRay's order (JSON arguments as Go's `json.Marshal` writes them and quoted with Go's
`strconv.Quote`, cpus and gpus with `%f`), the trimmed entrypoint, and `ray job logs --follow`.

Where KubeRay cannot build the command or the request (metadata with `rayVersion` below 2.6.0
or not a version, `entrypointResources` that is not a JSON object of numbers, a runtime env
that is not a YAML mapping) it returns an error and requeues; here the builders raise
`CannotBuild` with KubeRay's message. One difference: KubeRay's semver check also rejects every
prerelease (`2.10.0-rc1`) with the "at least 2.6.0" message; here a prerelease compares by
semver precedence (`2.10.0-rc1` passes, `2.6.0-rc1` does not).

Pure: no I/O; the login shell (KubeRay's `ENABLE_LOGIN_SHELL`) and the gate are parameters.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from raybus_common import gotext, objects
from raybus_common.crds.batch import SUBMITTER_RESOURCES
from raybus_common.crds.raycluster import ORIGINATED_FROM_CRD_LABEL
from raybus_common.crds.rayjob import RayJob
from raybus_common.crds.rayjob_validation import load_runtime_env
from raybus_common.kube.resources import CREATED_BY, CREATED_BY_VALUE
from raybus_common.ray.jobs import JobRequest, head_dashboard_port

from .constants import (
    GCS_HEALTH_PATH,
    GCS_HEALTH_TIMEOUT,
    ORIGINATED_FROM_CR_NAME_LABEL,
    PYTHON_HEALTH_COMMAND,
    PYTHONUNBUFFERED,
    RAY_AUTH_MODE,
    RAY_AUTH_TOKEN,
    RAY_AUTH_TOKEN_KEY,
    RAY_DASHBOARD_ADDRESS,
    RAY_ENABLE_K8S_TOKEN_AUTH,
    RAY_JOB_SUBMISSION_ID,
    RAYJOB_CRD,
    SUBMITTER_BACKOFF_LIMIT,
    SUBMITTER_CONTAINER,
    TOKEN_DIR,
    TOKEN_VOLUME,
)

Obj = dict[str, Any]
# Masterminds semver's loose form (NewVersion with its default coercion).
_SEMVER = re.compile(r"v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
                     r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?")


class CannotBuild(ValueError):
    """KubeRay could not build the command or request either (its error, requeued)."""


# --- addresses and the shell -----------------------------------------------------------------
def dashboard_address(url: str) -> str:
    """The dashboard's base URL from `status.dashboardURL`: `http://` + url unless it has a
    scheme already (KubeRay checks for `http://` only, and would make `http://https://…`)."""
    return url if "://" in url else "http://" + url


def sidecar_address(port: int) -> str:
    """What the sidecar submitter dials: the head's dashboard port on the pod's loopback."""
    return f"http://127.0.0.1:{port}"


def shell_command(login_shell: bool) -> list[str]:
    """KubeRay `GetContainerCommand(["e"])`: bash with -e, and -l when `ENABLE_LOGIN_SHELL`."""
    return ["/bin/bash", "-cel" if login_shell else "-ce", "--"]


# --- what the command and the request carry ---------------------------------------------------
def _metadata_json(job: RayJob) -> str:
    """KubeRay `getMetadataJSONForSubmitCommand`: refused when the cluster spec's `rayVersion` is
    set and below 2.6.0 (or not a version); unset or no cluster spec (clusterSelector) passes."""
    version = job.spec.ray_cluster_spec.ray_version if job.spec.ray_cluster_spec else None
    if version:
        m = _SEMVER.fullmatch(version)
        if m is None:
            raise CannotBuild(f"failed to parse Ray version: {version}: invalid semantic version")
        numbers = tuple(int(g or 0) for g in m.group(1, 2, 3))
        if numbers < (2, 6, 0) or (numbers == (2, 6, 0) and m.group(4)):
            raise CannotBuild("the Ray version must be at least 2.6.0 to use the metadata field")
    return gotext.marshal(job.spec.metadata or {})


def _entrypoint_resources(text: str) -> dict[str, float] | None:
    """KubeRay's `json.Unmarshal` of `entrypointResources` into a map of float32."""
    def refuse(constant: str) -> Any:
        raise ValueError(f"invalid JSON value {constant}")

    try:
        value = json.loads(text, parse_constant=refuse)
    except ValueError as e:
        raise CannotBuild(f"entrypointResources: {e}") from None
    if value is None:
        return None
    if not isinstance(value, dict) or not all(v is None or (isinstance(v, int | float) and not isinstance(v, bool))
                                              for v in value.values()):
        raise CannotBuild("entrypointResources: json: cannot unmarshal into Go value of type map[string]float32")
    return {str(k): float(v or 0) for k, v in value.items()}


def submit_command(job: RayJob, *, address: str, job_id: str, sidecar: bool, restartable: bool = False) -> str:
    """KubeRay `BuildJobSubmitCommand`, its tokens joined by spaces. `address`: the dashboard's
    base URL (`dashboard_address`, or `sidecar_address` in SidecarMode, whose health probe then
    goes to `localhost` on the same port). `restartable`: SidecarMode under the
    `SidecarSubmitterRestart` gate, which guards and follows like K8sJobMode."""
    spec = job.spec
    health = (f"http://localhost:{address.rsplit(':', 1)[-1]}/{GCS_HEALTH_PATH}" if sidecar
              else f"{address}/{GCS_HEALTH_PATH}")
    cmd = ["until", PYTHON_HEALTH_COMMAND % (health, GCS_HEALTH_TIMEOUT), ">/dev/null", "2>&1", ";",
           "do", "echo", gotext.quote(f"Waiting for Ray Dashboard GCS to become healthy at {address} ..."), ";",
           "sleep", "2", ";", "done", ";"]
    guarded = not sidecar or restartable
    if guarded:
        cmd += ["if", "!", "ray", "job", "status", "--address", address, job_id, ">/dev/null", "2>&1", ";", "then"]
    cmd += ["ray", "job", "submit", "--address", address]
    if guarded:
        cmd.append("--no-wait")
    if spec.runtime_env_yaml:
        try:
            runtime_env = gotext.yaml_to_json(spec.runtime_env_yaml)
        except ValueError as e:
            raise CannotBuild(str(e)) from None
        cmd += ["--runtime-env-json", gotext.quote(runtime_env)]
    if spec.metadata:
        cmd += ["--metadata-json", gotext.quote(_metadata_json(job))]
    if job_id:
        cmd += ["--submission-id", job_id]
    if spec.entrypoint_num_cpus and spec.entrypoint_num_cpus > 0:
        cmd += ["--entrypoint-num-cpus", gotext.format_f32(spec.entrypoint_num_cpus)]
    if spec.entrypoint_num_gpus and spec.entrypoint_num_gpus > 0:
        cmd += ["--entrypoint-num-gpus", gotext.format_f32(spec.entrypoint_num_gpus)]
    if spec.entrypoint_resources:
        cmd += ["--entrypoint-resources", gotext.quote(spec.entrypoint_resources)]
    cmd += ["--", gotext.trim_space(spec.entrypoint or ""), ";"]
    if guarded:
        cmd += ["fi", ";", "ray", "job", "logs", "--address", address, "--follow", job_id]
    return " ".join(cmd)


def job_request(job: RayJob, *, job_id: str) -> JobRequest:
    """KubeRay `ConvertRayJobToReq`: HTTPMode's POST body. The entrypoint as written (KubeRay
    does not trim it here), the runtime env and resources parsed; CannotBuild where KubeRay's
    parsing fails."""
    spec = job.spec
    try:
        runtime_env = load_runtime_env(spec.runtime_env_yaml or "")
    except ValueError as e:
        raise CannotBuild(str(e)) from None
    return JobRequest(entrypoint=spec.entrypoint or "", submission_id=job_id, metadata=spec.metadata or None,
                      runtime_env=runtime_env, entrypoint_num_cpus=spec.entrypoint_num_cpus or 0.0,
                      entrypoint_num_gpus=spec.entrypoint_num_gpus or 0.0,
                      entrypoint_resources=_entrypoint_resources(spec.entrypoint_resources)
                      if spec.entrypoint_resources else None)


# --- the submitter container ------------------------------------------------------------------
def _head_container(head_spec: Mapping[str, Any]) -> Mapping[str, Any]:
    containers = ((head_spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    first: Mapping[str, Any] = containers[0]
    return first


def _default_container(image: Any) -> Obj:
    """KubeRay `GetDefaultSubmitterContainer`: the head's image, fixed resources."""
    return {"name": SUBMITTER_CONTAINER, "image": image, "resources": copy.deepcopy(dict(SUBMITTER_RESOURCES))}


def _set_env(container: Obj, dashboard_url: str, job_id: str, cluster: str, auth: Mapping[str, Any]) -> None:
    """KubeRay appends PYTHONUNBUFFERED, RAY_DASHBOARD_ADDRESS and RAY_JOB_SUBMISSION_ID to the
    container's env, so its values win where the template already had those names; here the
    template's entries of those names are dropped instead (the same environment, without the
    duplicate names a server-side apply refuses). With token auth (`authOptions.mode: token`),
    KubeRay `SetContainerTokenAuthEnvVars`, each variable only when not there already."""
    ours = {PYTHONUNBUFFERED: "1", RAY_DASHBOARD_ADDRESS: dashboard_url, RAY_JOB_SUBMISSION_ID: job_id}
    env = [e for e in container.get("env") or [] if e.get("name") not in ours]
    env += [{"name": k, "value": v} for k, v in ours.items()]
    container["env"] = env
    if auth.get("mode") != "token":
        return
    names = {e.get("name") for e in env}
    if RAY_AUTH_MODE not in names:
        env.append({"name": RAY_AUTH_MODE, "value": "token"})
    if auth.get("enableK8sTokenAuth"):
        if RAY_ENABLE_K8S_TOKEN_AUTH not in names:
            env.append({"name": RAY_ENABLE_K8S_TOKEN_AUTH, "value": "true"})
        mounts = container.setdefault("volumeMounts", [])
        if not any(m.get("name") == TOKEN_VOLUME for m in mounts):
            mounts.append({"name": TOKEN_VOLUME, "mountPath": TOKEN_DIR, "readOnly": True})
    elif RAY_AUTH_TOKEN not in names:
        secret = auth.get("secretName") or gotext.check_name(cluster)
        env.append({"name": RAY_AUTH_TOKEN, "valueFrom": {"secretKeyRef": {"name": secret, "key": RAY_AUTH_TOKEN_KEY}}})


def sidecar_container(job: RayJob, head_spec: Mapping[str, Any], *, job_id: str, login_shell: bool,
                      restart_gate: bool, cluster: str = "") -> Obj:
    """The submitter container KubeRay appends to the head Pod in SidecarMode
    (`getSubmitterContainer`): `head_spec` is the `headGroupSpec` of the RayCluster being built,
    `cluster` its name (the token Secret's default name). The command is always KubeRay's, its
    address the head's own dashboard port; `RAY_DASHBOARD_ADDRESS` is the RayJob's
    `status.dashboardURL` as it stands (empty on a first attempt). Under the gate the container
    restarts on failure (`restartPolicy: OnFailure`)."""
    head = _head_container(head_spec)
    port = head_dashboard_port((head_spec.get("template") or {}).get("spec") or {})
    container = _default_container(head.get("image"))
    container["command"] = shell_command(login_shell)
    container["args"] = [submit_command(job, address=sidecar_address(int(port)), job_id=job_id, sidecar=True,
                                        restartable=restart_gate)]
    auth = job.spec.ray_cluster_spec.auth_options if job.spec.ray_cluster_spec else None
    dashboard_url = (job.status.dashboard_url if job.status else None) or ""
    _set_env(container, dashboard_url, job_id, cluster, auth.to_wire() if auth else {})
    if restart_gate:
        container["restartPolicy"] = "OnFailure"
    return container


# --- the submitter Job ------------------------------------------------------------------------
def submitter_job(raw: Mapping[str, Any], job: RayJob, cluster: Mapping[str, Any], *, job_id: str,
                  dashboard_url: str, login_shell: bool) -> Obj:
    """K8sJobMode's submitter (KubeRay `getSubmitterTemplate` + `createNewK8sJob`): a batch/v1
    Job named like the RayJob, owned by it, `backoffLimit` from `submitterConfig` (2 unset).
    Its pod: `submitterPodTemplate` if given, else KubeRay's one container (the image of
    `cluster`'s head container, `restartPolicy: Never`). The first container gets KubeRay's
    command when it has none, and the env of `_set_env`; token auth follows `cluster` (the
    RayCluster the job runs on: its own or the selected one), as does the projected token volume
    when `cluster` delegates auth to Kubernetes tokens."""
    spec = job.spec
    cluster_spec = cluster.get("spec") or {}
    command = submit_command(job, address=dashboard_address(dashboard_url), job_id=job_id, sidecar=False)
    if spec.submitter_pod_template is not None:
        template: Obj = copy.deepcopy(dict(spec.submitter_pod_template))
    else:
        image = _head_container(cluster_spec.get("headGroupSpec") or {}).get("image")
        template = {"spec": {"containers": [_default_container(image)], "restartPolicy": "Never"}}
    pod = template.setdefault("spec", {})
    containers = pod.setdefault("containers", [])
    if not containers:
        containers.append(_default_container(_head_container(cluster_spec.get("headGroupSpec") or {}).get("image")))
    first = containers[0]
    if not first.get("command"):
        first["command"] = shell_command(login_shell)
        first["args"] = [command]
    auth = cluster_spec.get("authOptions") or {}
    _set_env(first, dashboard_url, job_id, objects.name(cluster), auth)
    if auth.get("enableK8sTokenAuth"):
        volumes = pod.setdefault("volumes", [])
        if not any(v.get("name") == TOKEN_VOLUME for v in volumes):
            volumes.append({"name": TOKEN_VOLUME, "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}})
    labels = {ORIGINATED_FROM_CR_NAME_LABEL: job.name, ORIGINATED_FROM_CRD_LABEL: RAYJOB_CRD,
              CREATED_BY: CREATED_BY_VALUE}
    meta = template.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    backoff = spec.submitter_config.backoff_limit if spec.submitter_config else None
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job.name, "namespace": job.namespace, "labels": dict(labels),
                     "ownerReferences": [objects.owner_reference(raw)]},
        "spec": {"backoffLimit": SUBMITTER_BACKOFF_LIMIT if backoff is None else backoff, "template": template},
    }
