"""The real Kueue controller manager as a local process, beside Raybus: it admits RayJobs and
RayClusters by flipping `spec.suspend`, with no Raybus-specific code (KubeRay has none either).

`scripts/build-kueue.sh` builds `kueue` from the Go module proxy into
`~/.cache/raybus/bin/kueue-<version>/`; `kueue_binary` finds it there, building it first when Go
is available, and raises `NoKueue` when it cannot, so a test can skip saying why. Kueue's CRDs
come with the schedulers' (`schedulers.crd_files()`), which the control plane installs.

    with Kueue(tmp_path, kubeconfig) as kueue:
        create_queue(api, namespace, "q", cpu="2", memory="4Gi")
        ...  # a RayJob labelled kueue.x-k8s.io/queue-name=q, created suspended, gets admitted
    # here the process is gone (SIGTERM, SIGKILL if it lingers)

How it runs, outside the cluster (`--kubeconfig`, `--config`, see `config`):

- integrations `ray.io/rayjob` and `ray.io/raycluster` only; jobs without the queue label are
  left alone (`manageJobsWithoutQueueName: false`); no leader election; its health probes,
  metrics and webhook server on loopback ports of their own.
- NO webhook configuration is registered: the API server cannot reach a webhook here. Kueue's
  reconcilers still create a Workload for each labelled job, suspend an unadmitted one and
  unsuspend it once admitted; what the webhooks would add (suspending a job at creation,
  validating it) is not there, so a test creates its jobs suspended.
- Internal cert management is off (it would wait forever to inject a CA into webhook
  configurations and conversion webhooks that do not exist). The webhook server serves a
  self-signed pair made with `openssl`. Kueue v0.17.0 then reads its metrics server's pair
  from `/etc/kueue/metrics/certs`, a path it hardcodes: so it runs in a private mount namespace
  (`unshare --mount`, root) where an overlay over /etc adds that directory from the workdir;
  nothing on the machine changes. Without root and unshare, `NoKueue` says so (unless that
  directory exists already, when Kueue runs as it is).
- VisibilityOnDemand is off: it starts an aggregated API server nothing here registers.

The queue helpers build and create a ResourceFlavor, a ClusterQueue with a cpu/memory quota and
a LocalQueue (kueue.x-k8s.io/v1beta2). This module neither installs CRDs nor judges Kueue.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from .gotools import ProbedServer, go_binary
from .kube import Kube
from .procs import Proc, free_port

VERSION = "v0.17.0"
GROUP = "kueue.x-k8s.io"
API = f"/apis/{GROUP}/v1beta2"
QUEUE_LABEL = f"{GROUP}/queue-name"
FRAMEWORKS = ("ray.io/rayjob", "ray.io/raycluster")
METRICS_CERTS = Path("/etc/kueue/metrics/certs")  # hardcoded in cmd/kueue/main.go (v0.17.0)
FEATURE_GATES = "VisibilityOnDemand=false"

Obj = dict[str, Any]


class NoKueue(RuntimeError):
    """No Kueue binary and no Go to build one, or no way to give it its metrics certificate."""


def kueue_binary(version: str | None = None) -> Path:
    """The `kueue` binary of `version` (default `RAYBUS_KUEUE_VERSION`, else VERSION), built by
    `scripts/build-kueue.sh` if it is not cached."""
    version = version or os.environ.get("RAYBUS_KUEUE_VERSION") or VERSION
    return go_binary("kueue", version, "kueue", version_variable="RAYBUS_KUEUE_VERSION", error=NoKueue)


def config(*, probe_port: int, metrics_port: int, webhook_port: int, cert_dir: Path) -> Obj:
    """Kueue's Configuration (config.kueue.x-k8s.io/v1beta2) as this module runs it."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2", "kind": "Configuration",
        "namespace": "kueue-system",
        "manageJobsWithoutQueueName": False,
        "internalCertManagement": {"enable": False},
        "leaderElection": {"leaderElect": False},
        "health": {"healthProbeBindAddress": f"127.0.0.1:{probe_port}"},
        "metrics": {"bindAddress": f"127.0.0.1:{metrics_port}"},
        "webhook": {"host": "127.0.0.1", "port": webhook_port, "certDir": str(cert_dir)},
        "integrations": {"frameworks": list(FRAMEWORKS)},
    }


def self_signed(cert_dir: Path) -> None:
    """A self-signed `tls.crt`/`tls.key` for 127.0.0.1 in `cert_dir` (one `openssl req`)."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                          "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                          "-keyout", str(cert_dir / "tls.key"), "-out", str(cert_dir / "tls.crt")],
                         check=False, capture_output=True, text=True)
    if out.returncode != 0:
        raise NoKueue(f"openssl could not make Kueue's certificate: {out.stderr.strip()[-500:]}")


def _with_metrics_certs(workdir: Path, cert_dir: Path, args: list[str]) -> list[str]:
    """`args`, run where `METRICS_CERTS` holds `cert_dir`'s pair: as they are if that directory
    exists, else in a private mount namespace with an overlay over /etc that adds it."""
    if (METRICS_CERTS / "tls.crt").exists():
        return args
    if os.geteuid() != 0 or not shutil.which("unshare"):
        raise NoKueue(f"Kueue {VERSION} reads its metrics certificate from {METRICS_CERTS} when its internal "
                      "cert management is off; giving it one without touching /etc needs root and unshare")
    upper, scratch = workdir / "etc-overlay" / "upper", workdir / "etc-overlay" / "work"
    target = upper / METRICS_CERTS.relative_to("/etc")
    target.mkdir(parents=True, exist_ok=True)
    scratch.mkdir(parents=True, exist_ok=True)
    for name in ("tls.crt", "tls.key"):
        shutil.copyfile(cert_dir / name, target / name)
    mount = 'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc && shift 2 && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", mount, "kueue-in-mount-ns",
            str(upper), str(scratch), *args]


class Kueue(ProbedServer):
    """One Kueue controller manager against `kubeconfig` (see the module's docstring); its log,
    at zap level `verbosity` (2: each job's and Workload's steps), is `workdir/kueue.log`."""

    label = "Kueue"

    def __init__(self, workdir: Path, kubeconfig: Path | str, *, binary: Path | None = None,
                 verbosity: int = 2) -> None:
        self.workdir = workdir
        self.binary = binary or kueue_binary()
        self.probe_port, self.metrics_port, self.webhook_port = free_port(), free_port(), free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        cert_dir = workdir / "certs"
        self_signed(cert_dir)
        self.config_path = workdir / "kueue-config.yaml"
        self.config_path.write_text(yaml.safe_dump(config(
            probe_port=self.probe_port, metrics_port=self.metrics_port, webhook_port=self.webhook_port,
            cert_dir=cert_dir)))
        args = [str(self.binary), f"--kubeconfig={kubeconfig}", f"--config={self.config_path}",
                f"--feature-gates={FEATURE_GATES}", "--zap-encoder=console", f"--zap-log-level={verbosity}"]
        self.proc = Proc("kueue", _with_metrics_certs(workdir, cert_dir, args), workdir / "kueue.log")

    def start(self, timeout: float = 90.0) -> None:
        """Start it; return once its readiness probe answers (its webhook server is serving, its
        controllers are being started)."""
        super().start(timeout)


# -- queues ---------------------------------------------------------------------------------
def resource_flavor(name: str) -> Obj:
    """A ResourceFlavor with no node labels: admitted pods get no node selector from it."""
    return {"apiVersion": f"{GROUP}/v1beta2", "kind": "ResourceFlavor", "metadata": {"name": name}, "spec": {}}


def cluster_queue(name: str, flavor: str, *, cpu: str, memory: str) -> Obj:
    """A ClusterQueue for every namespace with a nominal quota of `cpu` and `memory` in `flavor`."""
    return {"apiVersion": f"{GROUP}/v1beta2", "kind": "ClusterQueue", "metadata": {"name": name},
            "spec": {"namespaceSelector": {}, "resourceGroups": [{
                "coveredResources": ["cpu", "memory"],
                "flavors": [{"name": flavor, "resources": [{"name": "cpu", "nominalQuota": cpu},
                                                           {"name": "memory", "nominalQuota": memory}]}]}]}}


def local_queue(name: str, namespace: str, cluster_queue_name: str) -> Obj:
    return {"apiVersion": f"{GROUP}/v1beta2", "kind": "LocalQueue",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"clusterQueue": cluster_queue_name}}


def create_queue(api: Kube, namespace: str, name: str, *, cpu: str, memory: str) -> None:
    """A LocalQueue `name` in `namespace` on a ClusterQueue of its own (`<namespace>-<name>`, with
    that quota) in a ResourceFlavor of its own (the same name): tests sharing a Kueue stay apart."""
    cq = f"{namespace}-{name}"
    api.create(f"{API}/resourceflavors", resource_flavor(cq))
    api.create(f"{API}/clusterqueues", cluster_queue(cq, cq, cpu=cpu, memory=memory))
    api.create(f"{API}/namespaces/{namespace}/localqueues", local_queue(name, namespace, cq))


def workloads(api: Kube, namespace: str) -> list[Obj]:
    """The Workloads of `namespace` (Kueue names them `<kind>-<job name>-<hash>`)."""
    items: list[Obj] = api.get(f"{API}/namespaces/{namespace}/workloads")["items"]
    return items


def condition(obj: Obj, kind: str) -> Obj | None:
    """The status condition `kind` of a Kueue object (QuotaReserved, Admitted, Finished, …)."""
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)
