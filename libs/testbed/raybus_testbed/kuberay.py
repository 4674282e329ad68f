"""The real KubeRay operator as a local process: the reference Raybus is checked against.

`scripts/build-kuberay.sh` builds `ray-operator` from the Go module proxy into
`~/.cache/raybus/bin/kuberay-<version>/` (the proxy serves v1.4.0 and v1.5.0 only);
`operator_binary` finds it there, building it first when Go is available, and raises
`NoKubeRay` when it can do neither, so a test can skip saying why.

    with KubeRay(tmp_path, kubeconfig, namespaces=[ns]) as kuberay:
        ...  # KubeRay reconciles the Ray objects of `ns`
    # here the process is gone (SIGTERM, SIGKILL if it lingers)

The operator runs without leader election or webhooks, and without a batch scheduler unless
given one (`batch_scheduler`), with its metrics and health probes on loopback ports, watching
only the namespaces given. This module starts and stops it; it does not install CRDs (the
control plane does) or judge what KubeRay did.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .gotools import ProbedServer, go_binary
from .procs import Proc, free_port

VERSION = "v1.5.0"  # the newest the Go module proxy serves; it stamps nothing newer than this
# KubeRay v1.7's default feature gates, which Raybus has on by default, where v1.5.0 has them
# off: run KubeRay with these to compare like with like.
V17_DEFAULT_GATES = "RayJobDeletionPolicy=true,RayMultiHostIndexing=true,RayServiceIncrementalUpgrade=true"


class NoKubeRay(RuntimeError):
    """No KubeRay binary in the cache and no Go toolchain to build one."""


def operator_binary(version: str | None = None) -> Path:
    """The `ray-operator` binary: `RAYBUS_KUBERAY_BIN` if set (a binary built elsewhere), else
    the cached build of `version` (default `RAYBUS_KUBERAY_VERSION`, else VERSION), built by
    `scripts/build-kuberay.sh` if missing."""
    given = os.environ.get("RAYBUS_KUBERAY_BIN")
    if given:
        if not os.access(given, os.X_OK):
            raise NoKubeRay(f"RAYBUS_KUBERAY_BIN={given} is not an executable file")
        return Path(given)
    version = version or os.environ.get("RAYBUS_KUBERAY_VERSION") or VERSION
    return go_binary("kuberay", version, "ray-operator", version_variable="RAYBUS_KUBERAY_VERSION", error=NoKubeRay)


def oracle_version() -> str:
    """The KubeRay version `operator_binary` gives (as far as the settings say)."""
    version = os.environ.get("RAYBUS_KUBERAY_VERSION")
    if os.environ.get("RAYBUS_KUBERAY_BIN"):
        return f"{version or 'of unknown version'} (RAYBUS_KUBERAY_BIN)"
    return version or VERSION


class KubeRay(ProbedServer):
    """One KubeRay operator process against `kubeconfig`, reconciling `namespaces` only;
    `feature_gates` in KubeRay's spelling (`RayMultiHostIndexing=true`), its defaults if empty;
    `qps`/`burst` its client's rate limit (KubeRay's defaults, 100/200, if None);
    `use_kubernetes_proxy` makes it reach Ray dashboards through the API server's service proxy
    (`-use-kubernetes-proxy`), as an operator outside the cluster must: the head Service's DNS
    name does not resolve here; `batch_scheduler` one of KubeRay's `-batch-scheduler` values
    (`volcano`, `yunikorn`, `scheduler-plugins`, `kai-scheduler`), none if empty (with `volcano` it
    watches Volcano's PodGroups: their CRD must be served, or it does not start)."""

    label = "KubeRay"

    def __init__(self, workdir: Path, kubeconfig: Path | str, *, namespaces: Sequence[str],
                 binary: Path | None = None, feature_gates: str = "", concurrency: int = 4,
                 qps: float | None = None, burst: int | None = None, use_kubernetes_proxy: bool = False,
                 batch_scheduler: str = "") -> None:
        if not namespaces:  # an empty flag would make it watch every namespace of the cluster
            raise ValueError("KubeRay needs at least one namespace to watch")
        self.binary = binary or operator_binary()
        self.metrics_port, self.probe_port = free_port(), free_port()
        self.proc = Proc("kuberay", [
            str(self.binary), f"-kubeconfig={kubeconfig}", f"-watch-namespace={','.join(namespaces)}",
            "-enable-leader-election=false", f"-metrics-addr=127.0.0.1:{self.metrics_port}",
            f"-health-probe-bind-address=127.0.0.1:{self.probe_port}",
            f"-reconcile-concurrency={concurrency}", f"-feature-gates={feature_gates}", "-log-stdout-encoder=console",
            *([f"-qps={qps}"] if qps is not None else []), *([f"-burst={burst}"] if burst is not None else []),
            *(["-use-kubernetes-proxy=true"] if use_kubernetes_proxy else []),
            *([f"-batch-scheduler={batch_scheduler}"] if batch_scheduler else []),
        ], workdir / "kuberay.log", env={"ENABLE_WEBHOOKS": "false"})
