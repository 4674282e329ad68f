"""What cluster-ctl's `reconcile` reads besides the view: KubeRay's gates and requeue interval
(`ControllerConfig`) and the operator-level switches KubeRay reads from its own environment
(`ENABLE_PROBES_INJECTION`, `ENABLE_INIT_CONTAINER_INJECTION`, …) and from its configuration
file (`defaultContainerEnvs`, `headSidecarContainers`, …).

Pure: tests build it explicitly (`ClusterConfig(enable_probes_injection=False)`);
`settings.ClusterCtlSettings` fills it from `RAYBUS_<FIELD>` variables, the structured ones as
JSON, e.g. `RAYBUS_DEFAULT_POD_LABELS='{"team": "ml"}'`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, field_validator

from raybus_common.controller.config import ControllerConfig


class ClusterConfig(ControllerConfig):
    # ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE: give the head Service a cluster IP instead of a headless one.
    enable_ray_head_cluster_ip_service: bool = False
    # ENABLE_RANDOM_POD_DELETE: let the operator scale a group down while the autoscaler is on.
    enable_random_pod_delete: bool = False
    # ENABLE_GCS_FT_REDIS_CLEANUP: add the Redis cleanup finalizer to Redis-backed GCS FT clusters.
    gcs_ft_redis_cleanup: bool = True
    # ENABLE_PROBES_INJECTION: fill the Ray container's liveness/readiness probes the user left unset.
    enable_probes_injection: bool = True
    # ENABLE_INIT_CONTAINER_INJECTION: add the `wait-gcs-ready` init container to worker pods.
    enable_init_container_injection: bool = True
    # ENABLE_LOGIN_SHELL: run generated commands with `/bin/bash -cl --` instead of `-c --`.
    enable_login_shell: bool = False
    # ENABLE_DETERMINISTIC_HEAD_POD_NAME: name the head pod `<cluster>-head` (no random suffix).
    enable_deterministic_head_pod_name: bool = False
    # CLUSTER_DOMAIN: the DNS suffix of the head Service's FQDN that workers dial.
    cluster_domain: str = "cluster.local"
    # KUBERAY_VERSION: reported to Ray's usage stats and stamped on head pods (`ray.io/kuberay-version`).
    # Raybus's own value, not KubeRay's: a head pod stamped with another version (a cluster adopted
    # from KubeRay) gets its annotations re-stamped instead of being recreated (KubeRay's `ShouldRecreatePodsForUpgrade` re-stamps across its own versions).
    kuberay_version: str = "raybus-0.1.0"
    # How many RayClusters' spec facts (`memo`) a replica keeps, least recently used first out;
    # 0: none (every pass works them out afresh). Raybus's own knob.
    spec_memo_size: int = Field(100_000, ge=0)
    # Operator config `defaultContainerEnvs`: env vars added to every Ray container that lacks them.
    default_container_envs: list[dict[str, Any]] = Field(default_factory=list)
    # Operator config `defaultPodLabels` / `defaultPodAnnotations`: fill keys the pod does not set.
    default_pod_labels: dict[str, str] = Field(default_factory=dict)
    default_pod_annotations: dict[str, str] = Field(default_factory=dict)
    # Operator config `headSidecarContainers` / `workerSidecarContainers`: appended to every pod.
    head_sidecar_containers: list[dict[str, Any]] = Field(default_factory=list)
    worker_sidecar_containers: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("default_container_envs", "default_pod_labels", "default_pod_annotations",
                     "head_sidecar_containers", "worker_sidecar_containers", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        """From the environment these come as JSON text (`RAYBUS_DEFAULT_POD_LABELS='{"team": "ml"}'`)."""
        return json.loads(value) if isinstance(value, str) else value
