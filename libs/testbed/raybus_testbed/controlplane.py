"""A real local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok, started as local processes from binaries built by
`scripts/build-control-plane.sh` (cached outside the repo).

kube-apiserver runs with RBAC and token authentication; the admin token is in the kubeconfig
this writes. kube-controller-manager brings garbage collection, Jobs and default service
accounts; kube-scheduler binds pods to the fake nodes; kwok plays every node's kubelet with
the stages in `kwok-stages.yaml`, so pods become Running/Ready and Job pods complete. It does
not run containers: nothing inside a pod ever executes, except in a RayJob's submitter pods,
which kwok only makes Running and `podrunner.PodRunner` runs on this machine.

CRDs: Raybus's own (`deploy/crds`), then the Gateway API's GatewayClass, Gateway and HTTPRoute
(`gatewayapi`), then the batch schedulers' (`schedulers`: Volcano's and scheduler-plugins'
PodGroups, Kueue's kinds), the last two from the Go module proxy, cached. Without either of those
(no cache and no Go, or the fetch failed) the control plane starts all the same and says why in
one log line. With `crd_dir=None`, none of them.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import yaml

from . import gatewayapi, schedulers
from .kube import Kube
from .procs import Proc, free_port
from .waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-control-plane.sh"
STAGES = Path(__file__).with_name("kwok-stages.yaml")
CRD_DIR = REPO_ROOT / "deploy" / "crds"

log = logging.getLogger(__name__)


class Unavailable(RuntimeError):
    """No binaries, no Go to build them, and no existing cluster: integration tests must skip."""


@dataclass(frozen=True)
class FakeNode:
    name: str
    cpu: str = "32"
    memory: str = "128Gi"
    pods: str = "250"
    extended: dict[str, str] = field(default_factory=dict)  # e.g. {"nvidia.com/gpu": "8"}
    labels: dict[str, str] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        labels = {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": "amd64", "type": "kwok", **self.labels}
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.name, "labels": labels,
                             "annotations": {"kwok.x-k8s.io/node": "fake"}}}

    def capacity(self) -> dict[str, str]:
        return {"cpu": self.cpu, "memory": self.memory, "pods": self.pods, **self.extended}


DEFAULT_NODES: tuple[FakeNode, ...] = (
    FakeNode("kwok-cpu-0"), FakeNode("kwok-cpu-1"), FakeNode("kwok-cpu-2"),
    FakeNode("kwok-gpu-0", cpu="64", memory="512Gi", extended={"nvidia.com/gpu": "8"},
             labels={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}),
    *(FakeNode(f"kwok-tpu-{i}", cpu="96", memory="384Gi", extended={"google.com/tpu": "4"},
               labels={"cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
                       "cloud.google.com/gke-tpu-topology": "4x4"}) for i in range(4)),
)


def binaries(build: bool = True) -> Path:
    """The directory holding the five binaries, building them first when Go is available."""
    if build and shutil.which("go") and BUILD_SCRIPT.exists():
        out = subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, capture_output=True, text=True)
        return Path(out.stdout.strip().splitlines()[-1])
    cache = Path(os.environ.get("RAYBUS_CACHE", Path.home() / ".cache" / "raybus")) / "bin"
    found = sorted(cache.glob("current-*"))
    if not found:
        raise Unavailable("no control-plane binaries in ~/.cache/raybus and no Go toolchain to build them")
    return found[-1]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d: Path) -> None:
    """A CA, the apiserver's serving cert (127.0.0.1, the service IP, in-cluster names), SA keys."""
    d.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "3650", "-subj", "/CN=raybus-local-ca", cwd=d)
    sans = ("subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,"
            "DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "apiserver.key", "-out", "apiserver.csr",
             "-subj", "/CN=kube-apiserver", cwd=d)
    (d / "san.ext").write_text(sans + "\n")
    _openssl("x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "apiserver.crt", "-days", "3650", "-extfile", "san.ext", cwd=d)
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=d)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)


class ControlPlane:
    def __init__(self, workdir: Path, *, nodes: tuple[FakeNode, ...] = DEFAULT_NODES,
                 bin_dir: Path | None = None, crd_dir: Path | None = CRD_DIR, watch_cache: bool = True,
                 users: tuple[str, ...] = (), audit: bool = False,
                 scheduler_qps: float | None = None) -> None:
        self.workdir = workdir
        # kube-scheduler's client limit (its default is QPS 50 / burst 100: one binding per pod,
        # so 4,000 pods take at least 78 s to bind whatever the operator does). None keeps it.
        self.scheduler_qps = scheduler_qps
        # False: the API server serves every watch from etcd, so compacting etcd (`compact_etcd`)
        # ends any watch resumed from an older resourceVersion with 410 Gone, CRDs included.
        self.watch_cache = watch_cache
        self.nodes = nodes
        self.bin_dir = bin_dir
        self.crd_dir = crd_dir
        self.certs = workdir / "pki"
        self.kubeconfig = workdir / "kubeconfig"
        self.token = secrets.token_hex(16)
        # Extra admin users, each with its own token and kubeconfig (`kubeconfig_for`), so that
        # the audit log can tell one client's requests from another's.
        self.user_tokens = {user: secrets.token_hex(16) for user in users}
        # With `audit`, every request is logged (level Metadata, one line per request once its
        # response is complete) to `audit_log`, for counting requests by user, verb and code.
        self.audit = audit
        self.audit_log = workdir / "audit.log"
        self.etcd_port, self.etcd_peer_port = free_port(), free_port()
        self.api_port = free_port()
        self.procs: dict[str, Proc] = {}
        self._api: Kube | None = None

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    @property
    def api(self) -> Kube:
        """The admin client (through the kubeconfig this writes), made on first use."""
        if self._api is None:
            self._api = Kube.connect(self.kubeconfig)
        return self._api

    def compact_etcd(self) -> int:
        """Compact etcd at its current revision (old resourceVersions are gone for good); returns it."""
        return compact_etcd(self.etcd_url)

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        """Start every component and wait until the cluster is usable; on failure stop what started."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        bins = self.bin_dir or binaries()
        self.workdir.mkdir(parents=True, exist_ok=True)
        make_certs(self.certs)
        (self.workdir / "tokens.csv").write_text("".join(
            f'{token},{user},{user},"system:masters"\n'
            for user, token in {"raybus-admin": self.token, **self.user_tokens}.items()))
        self._write_kubeconfig()
        for user in self.user_tokens:
            self._write_kubeconfig(user)
        audit_flags: list[str] = []
        if self.audit:
            policy = self.workdir / "audit-policy.yaml"
            policy.write_text(yaml.safe_dump({
                "apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                "omitStages": ["RequestReceived", "ResponseStarted", "Panic"], "rules": [{"level": "Metadata"}]}))
            audit_flags = [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}",
                           "--audit-log-format=json", "--audit-log-maxsize=0"]
        logs = self.workdir / "logs"
        c = self.certs
        self._run("etcd", [
            str(bins / "etcd"), "--name=raybus", f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={self.etcd_url}", f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{self.etcd_peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{self.etcd_peer_port}",
            f"--initial-cluster=raybus=http://127.0.0.1:{self.etcd_peer_port}",
            "--unsafe-no-fsync", "--log-level=warn", "--quota-backend-bytes=8589934592",
        ], logs)
        self._run("kube-apiserver", [
            str(bins / "kube-apiserver"), f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.api_port}",
            f"--tls-cert-file={c / 'apiserver.crt'}", f"--tls-private-key-file={c / 'apiserver.key'}",
            f"--client-ca-file={c / 'ca.crt'}", f"--token-auth-file={self.workdir / 'tokens.csv'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={c / 'sa.pub'}", f"--service-account-signing-key-file={c / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/16", "--authorization-mode=Node,RBAC",
            "--allow-privileged=true", "--enable-priority-and-fairness=false",
            "--max-requests-inflight=0", "--max-mutating-requests-inflight=0", "--profiling=false",
            "--endpoint-reconciler-type=none", f"--watch-cache={str(self.watch_cache).lower()}",
            *audit_flags,
        ], logs)
        wait_until(lambda: self.api.text("/readyz") == "ok", timeout=90, what="kube-apiserver /readyz",
                   proc=self.procs["kube-apiserver"])
        self._run("kube-controller-manager", [
            str(bins / "kube-controller-manager"), f"--kubeconfig={self.kubeconfig}", "--leader-elect=false",
            f"--service-account-private-key-file={c / 'sa.key'}", f"--root-ca-file={c / 'ca.crt'}",
            "--use-service-account-credentials=false", "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            "--concurrent-gc-syncs=20", "--concurrent-job-syncs=10", "--profiling=false",
        ], logs)
        self._run("kube-scheduler", [
            str(bins / "kube-scheduler"), f"--kubeconfig={self.kubeconfig}", "--leader-elect=false",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}", "--profiling=false",
            f"--authentication-kubeconfig={self.kubeconfig}", f"--authorization-kubeconfig={self.kubeconfig}",
            *([f"--kube-api-qps={self.scheduler_qps:g}", f"--kube-api-burst={int(self.scheduler_qps * 2)}"]
              if self.scheduler_qps else []),
        ], logs)
        self._run("kwok", [
            str(bins / "kwok"), f"--kubeconfig={self.kubeconfig}", f"--config={STAGES}",
            "--manage-nodes-with-label-selector=type=kwok", "--cidr=10.244.0.0/16", "--node-ip=10.240.0.1",
            "--node-lease-duration-seconds=40", f"--server-address=127.0.0.1:{free_port()}",
        ], logs)
        self.add_nodes(self.nodes)
        if self.crd_dir is not None:
            self.install_crds(sorted(self.crd_dir.glob("*.yaml")))
            self._install_optional(gatewayapi.crd_files, gatewayapi.NoGatewayAPI,
                                   "no Gateway API CRDs, Gateways and HTTPRoutes are not served")
            self._install_optional(schedulers.crd_files, schedulers.NoSchedulerCRDs,
                                   "no scheduler CRDs, PodGroups and Kueue's kinds are not served")
        wait_until(lambda: self.api.exists("/api/v1/namespaces/default/serviceaccounts/default"),
                   timeout=60, what="the default service account (kube-controller-manager running)")

    def stop(self) -> None:
        for name in ("kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            if name in self.procs:
                self.procs[name].stop()
        if self._api is not None:
            self._api.close()
            self._api = None

    def _run(self, name: str, args: list[str], logs: Path) -> None:
        proc = Proc(name, args, logs / f"{name}.log")
        proc.start()
        self.procs[name] = proc

    def kubeconfig_for(self, user: str) -> Path:
        """The kubeconfig of one of the extra `users` (an admin, like the main one)."""
        if user not in self.user_tokens:
            raise KeyError(f"no user {user!r}; this control plane has {sorted(self.user_tokens)}")
        return self.workdir / f"kubeconfig-{user}"

    def _write_kubeconfig(self, user: str = "") -> None:
        name, token = (user, self.user_tokens[user]) if user else ("raybus-admin", self.token)
        cfg = {
            "apiVersion": "v1", "kind": "Config", "current-context": "raybus-local",
            "clusters": [{"name": "raybus-local", "cluster": {
                "server": self.server, "certificate-authority": str(self.certs / "ca.crt")}}],
            "users": [{"name": name, "user": {"token": token}}],
            "contexts": [{"name": "raybus-local", "context": {"cluster": "raybus-local", "user": name}}],
        }
        (self.kubeconfig_for(user) if user else self.kubeconfig).write_text(yaml.safe_dump(cfg))

    # -- cluster contents ----------------------------------------------------------------
    def add_nodes(self, nodes: tuple[FakeNode, ...]) -> None:
        """Create fake nodes with their capacity, and wait until kwok reports them Ready."""
        for node in nodes:
            if not self.api.exists(f"/api/v1/nodes/{node.name}"):
                self.api.create("/api/v1/nodes", node.manifest())
            cap = node.capacity()
            self.api.merge_patch(f"/api/v1/nodes/{node.name}/status",
                                 {"status": {"capacity": cap, "allocatable": cap}})
        for node in nodes:
            wait_until(partial(_condition, self.api, f"/api/v1/nodes/{node.name}", "Ready"), timeout=60,
                       what=f"node {node.name} Ready")

    def _install_optional(self, crd_files: Callable[[], list[Path]], unavailable: type[Exception],
                          missing: str) -> None:
        """The CRDs `crd_files` fetches, or one log line saying why they are not served."""
        try:
            files = crd_files()
        except unavailable as e:
            log.warning("control plane: %s: %s", missing, e)
            return
        self.install_crds(files)

    def install_crds(self, files: list[Path]) -> None:
        """Server-side apply every CRD in `files` and wait until each is Established."""
        install_crds(self.api, crds_in(files))


def crds_in(files: list[Path]) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in the YAML `files`."""
    return [doc for path in files for doc in yaml.safe_load_all(path.read_text())
            if doc and doc.get("kind") == "CustomResourceDefinition"]


def install_crds(api: Kube, crds: list[dict[str, Any]]) -> None:
    """Server-side apply each CRD and wait until every one is Established (its kinds served)."""
    base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    for crd in crds:
        api.apply(f"{base}/{crd['metadata']['name']}", crd)
    for crd in crds:
        name = crd["metadata"]["name"]
        wait_until(partial(_condition, api, f"{base}/{name}", "Established"), timeout=60,
                   what=f"CRD {name} Established")


def _condition(api: Kube, path: str, condition: str) -> bool:
    """Whether the object at `path` has `condition` True (a node's Ready, a CRD's Established)."""
    conditions = (api.get(path).get("status") or {}).get("conditions") or []
    return any(c["type"] == condition and c["status"] == "True" for c in conditions)


def compact_etcd(etcd_url: str) -> int:
    """Compact etcd (through its JSON gateway) at its current revision; returns the revision."""
    key = base64.b64encode(b"/registry").decode()
    head = httpx.post(f"{etcd_url}/v3/kv/range", json={"key": key, "limit": 1}, timeout=10).json()
    revision = int(head["header"]["revision"])
    resp = httpx.post(f"{etcd_url}/v3/kv/compaction", json={"revision": revision, "physical": True}, timeout=30)
    if resp.status_code != 200:
        raise RuntimeError(f"etcd compaction at {revision} failed: {resp.status_code} {resp.text}")
    return revision
