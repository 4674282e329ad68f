"""What raybus-serve-ctl's `reconcile` reads besides the view: KubeRay's gates and requeue interval
(`ControllerConfig`: `RayServiceIncrementalUpgrade`, `RayClusterStatusConditions`) and the
operator switches KubeRay's RayService controller reads from its environment. Each field names
the KubeRay variable it stands for; `settings.ServeCtlSettings` fills them from `RAYBUS_<FIELD>`.
Pure: built explicitly in tests.
"""

from __future__ import annotations

from raybus_common.controller.config import ControllerConfig


class ServeConfig(ControllerConfig):
    # ENABLE_ZERO_DOWNTIME: with no upgradeStrategy, whether a changed cluster spec brings up a new
    # cluster (the spec's upgradeStrategy takes precedence).
    enable_zero_downtime: bool = True
    # ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE: the head Service gets a cluster IP instead of being headless.
    enable_ray_head_cluster_ip_service: bool = False
    # The `ray.io/kuberay-version` stamped on the clusters it makes (cluster-ctl's setting of the
    # same name); a cluster stamped otherwise is updated in place, as KubeRay does across upgrades.
    kuberay_version: str = "raybus-0.1.0"
