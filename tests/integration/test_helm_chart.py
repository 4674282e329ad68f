"""The Helm chart (deploy/helm/raybus) against the real test control plane.

- `helm template` renders with the default values and with an external NATS, and every rendered
  object is accepted by the API server (a server-side dry-run create, `dryRun=All`: the API
  server's own schema and admission, not a copy of them); values.schema.json refuses bad values.
- Least privilege, proved with the chart's own RBAC: its ServiceAccounts, ClusterRoles and
  bindings are created, each service account gets a token (TokenRequest) and a kubeconfig, and
  each identity is tried: the watcher reads but may not write, a controller may not even read,
  the actuator writes (and may grant the autoscaler's Role), the CRD hook applies the CRDs and
  nothing else. Every 403 provoked is counted.
- Then watcher, actuator and cluster-ctl run under those identities (a controller's kubeconfig
  for cluster-ctl: it needs none) and bring the sample RayCluster to ready: with the chart's
  ClusterRoleBindings, and with singleNamespaceInstall's RoleBindings in the test's namespace
  alone (where the watcher may not list another namespace's pods).

Helm is built from the Go module proxy by scripts/build-helm.sh (cached); without Go and
without a cached binary the tests skip, saying why.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from raybus_common.bus.permissions import SERVICES, password_variable, render
from raybus_common.kube.client import ApiError
from raybus_testbed import kubectl_ray
from raybus_testbed.controlplane import CRD_DIR, crds_in, install_crds
from raybus_testbed.kube import Kube
from raybus_testbed.services import Services
from raybus_testbed.waiting import wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "raybus"
SAMPLE = ROOT / "deploy" / "samples" / "raycluster-sample.yaml"
CONTROLLERS = ("cluster-ctl", "job-ctl", "serve-ctl", "cron", "scheduler-bridge")
EXTERNAL = ("nats.bundled=false", "nats.url=nats://x:4222")
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def helm() -> Path:
    build = subprocess.run(["bash", str(ROOT / "scripts" / "build-helm.sh")], capture_output=True, text=True,
                           check=False)
    if build.returncode == 3:
        pytest.skip(f"no helm: {build.stderr.strip()}")
    assert build.returncode == 0, build.stderr
    return Path(build.stdout.strip().splitlines()[-1])


def template(helm: Path, namespace: str, *sets: str, release: str = "raybus") -> list[Obj]:
    args = [str(helm), "template", release, str(CHART), "--namespace", namespace]
    for s in sets:
        args += ["--set", s]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def of_kind(objs: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def env_of(deployment: Obj) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}


class Paths:
    """Where the API server serves a kind, from its own discovery documents."""

    def __init__(self, api: Kube) -> None:
        self.api = api
        self.known: dict[tuple[str, str], tuple[str, bool]] = {}

    def collection(self, obj: Obj, namespace: str) -> str:
        api_version, kind = obj["apiVersion"], obj["kind"]
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if (api_version, kind) not in self.known:
            for r in self.api.get(base)["resources"]:
                if "/" not in r["name"]:
                    self.known[(api_version, r["kind"])] = (r["name"], r["namespaced"])
        plural, namespaced = self.known[(api_version, kind)]
        return f"{base}/namespaces/{namespace}/{plural}" if namespaced else f"{base}/{plural}"


def test_kubectl_ray_version_reads_raybus_from_the_chart(helm: Path) -> None:
    """`kubectl ray version`'s selector picks the actuator's Deployment, and prints the tag."""
    deployments = [o for o in template(helm, "raybus", "image.tag=1.2.3") if o["kind"] == "Deployment"]
    picked = [d for d in deployments if d["metadata"]["labels"].get("app.kubernetes.io/name") in
              ("kuberay-operator", "kuberay")]
    assert [d["metadata"]["name"] for d in picked] == ["raybus-actuator"]
    assert kubectl_ray.OPERATOR_SELECTOR == "app.kubernetes.io/name in (kuberay-operator,kuberay)"
    assert kubectl_ray.operator_version(picked) == "1.2.3"
    actuator = picked[0]
    assert actuator["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "raybus", "pods keep the chart's"
    off = template(helm, "raybus", "kubectlRay.versionLabel=false")
    assert not [d for d in off if d["kind"] == "Deployment"
                and d["metadata"]["labels"]["app.kubernetes.io/name"] != "raybus"]


@pytest.mark.parametrize("sets", [(), EXTERNAL], ids=["bundled-nats", "external-nats"])
def test_every_rendered_object_passes_the_api_servers_dry_run(helm: Path, control_plane: Kube, namespace: str,
                                                              sets: tuple[str, ...]) -> None:
    objs = template(helm, namespace, *sets)
    paths = Paths(control_plane)
    for obj in objs:
        control_plane.request("POST", paths.collection(obj, namespace), body=obj, params={"dryRun": "All"})

    deployments = of_kind(objs, "Deployment")
    assert sorted(deployments) == sorted(f"raybus-{s}" for s in ("watcher", "actuator", *CONTROLLERS))
    assert len(of_kind(objs, "PodDisruptionBudget")) == len(deployments) + (0 if sets else 1)
    for name, d in deployments.items():
        pod = d["spec"]["template"]["spec"]
        c = pod["containers"][0]
        assert (c["livenessProbe"]["httpGet"]["path"], c["readinessProbe"]["httpGet"]["path"]) == ("/healthz", "/readyz")
        assert pod["securityContext"]["runAsNonRoot"] and c["securityContext"]["readOnlyRootFilesystem"]
        controller = name.removeprefix("raybus-") in CONTROLLERS
        assert pod["automountServiceAccountToken"] is (not controller), name
        assert of_kind(objs, "Service")[name]["spec"]["ports"][0]["targetPort"] == "http"
    env = env_of(deployments["raybus-actuator"])
    if sets:
        assert not of_kind(objs, "StatefulSet")
        assert (env["RAYBUS_NATS_URL"], env["RAYBUS_STREAM_REPLICAS"]) == ("nats://x:4222", "1")
    else:
        nats = of_kind(objs, "StatefulSet")["raybus-nats"]
        assert nats["spec"]["replicas"] == 3 and nats["spec"]["volumeClaimTemplates"]
        assert "raybus-nats" in of_kind(objs, "Service")
        assert (env["RAYBUS_NATS_URL"], env["RAYBUS_STREAM_REPLICAS"]) == (
            f"nats://raybus-nats.{namespace}.svc:4222", "3")
    # Only the watcher and the actuator are bound to any rights; the CRD hook has its own.
    bound = {b["subjects"][0]["name"] for b in of_kind(objs, "ClusterRoleBinding").values()}
    assert bound == {"raybus-watcher", "raybus-actuator", "raybus-crds"}


def test_values_reach_the_services(helm: Path) -> None:
    objs = template(helm, "raybus", "reconcileConcurrency=4", "batchScheduler.name=volcano",
                    "featureGates[0].name=RayCronJob", "featureGates[0].enabled=true", "watchNamespace={a,b}",
                    "singleNamespaceInstall=true", "serviceMonitor.enabled=true",
                    "services.actuator.replicas=3", "services.actuator.podDisruptionBudget.minAvailable=2",
                    "podDisruptionBudget.maxUnavailable=null")
    deployments = of_kind(objs, "Deployment")
    ctl = env_of(deployments["raybus-cluster-ctl"])
    assert (ctl["RAYBUS_RECONCILE_CONCURRENCY"], ctl["RAYBUS_BATCH_SCHEDULER"], ctl["RAYBUS_FEATURE_GATES"],
            ctl["RAYBUS_WATCH_NAMESPACES"]) == ("4", "volcano", "RayCronJob=true", "a,b")
    assert env_of(deployments["raybus-watcher"])["RAYBUS_WATCH_NAMESPACES"] == "a,b"
    assert "RAYBUS_WATCH_NAMESPACES" not in env_of(deployments["raybus-actuator"])
    assert deployments["raybus-actuator"]["spec"]["replicas"] == 3
    assert of_kind(objs, "PodDisruptionBudget")["raybus-actuator"]["spec"] == {
        "minAvailable": 2, "selector": deployments["raybus-actuator"]["spec"]["selector"]}
    # singleNamespaceInstall: RoleBindings in each watched namespace, no cluster-wide binding.
    bindings = [(b["metadata"]["namespace"], b["metadata"]["name"]) for b in objs if b["kind"] == "RoleBinding"]
    assert sorted(bindings) == [("a", "raybus-actuator"), ("a", "raybus-watcher"),
                                ("b", "raybus-actuator"), ("b", "raybus-watcher")]
    assert set(of_kind(objs, "ClusterRoleBinding")) == {"raybus-crds"}
    assert len(of_kind(objs, "ServiceMonitor")) == 7


@pytest.mark.parametrize("sets", [(), EXTERNAL], ids=["bundled-nats", "external-nats"])
def test_helm_lint_strict_passes(helm: Path, sets: tuple[str, ...]) -> None:
    args = [str(helm), "lint", "--strict", str(CHART)]
    for s in sets:
        args += ["--set", s]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("bad", [
    "reconcileConcurrency=0", "logging.level=LOUD", "batchScheduler.name=slurm", "services.watcher.replicas=-1",
    "nats.bundled=false", "nats.streamReplicas=7", "watchNamespace={Not_A_Namespace}", "httpPort=0",
    "podDisruptionBudget.minAvailable=1", "image.pullPolicy=Sometimes", "replicas=3",
], ids=lambda s: s.split("=")[0])
def test_values_schema_rejects_a_bad_value(helm: Path, bad: str) -> None:
    args = [str(helm), "template", "raybus", str(CHART), "--set", bad]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "don't meet the specifications of the schema" in done.stderr, done.stderr


def test_watcher_rules_are_deploy_rbacs(helm: Path) -> None:
    rendered = of_kind(template(helm, "raybus"), "ClusterRole")["raybus-watcher"]["rules"]
    shipped = next(d for d in yaml.safe_load_all((ROOT / "deploy" / "rbac" / "watcher.yaml").read_text())
                   if d["kind"] == "ClusterRole")["rules"]
    assert rendered == shipped


@pytest.mark.parametrize("auth", [False, True], ids=["open", "users"])
def test_bundled_nats_config_is_one_nats_server_accepts(helm: Path, tmp_path: Path, auth: bool) -> None:
    sets = ("nats.auth.enabled=true", "nats.auth.secretName=nats-passwords") if auth else ()
    objs = template(helm, "raybus", *sets)
    data = of_kind(objs, "ConfigMap")["raybus-nats"]["data"]
    conf = data["nats.conf"]
    assert conf.count("nats://raybus-nats-") == 3
    env = {"SERVER_NAME": "raybus-nats-0"}
    assert ("include ./accounts.conf" in conf) == auth and ("accounts.conf" in data) == auth
    if auth:
        # The chart carries the generated users (bus.permissions), each password from the Secret.
        assert data["accounts.conf"] == render()
        (tmp_path / "accounts.conf").write_text(data["accounts.conf"])
        nats = of_kind(objs, "StatefulSet")["raybus-nats"]["spec"]["template"]["spec"]["containers"][0]
        secret_env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in nats["env"] if "valueFrom" in e
                      and "secretKeyRef" in e["valueFrom"]}
        assert secret_env == {password_variable(s): {"name": "nats-passwords", "key": s} for s in SERVICES}
        env |= {name: f"pw-{ref['key']}" for name, ref in secret_env.items()}
        for name, deployment in of_kind(objs, "Deployment").items():
            service = name.removeprefix("raybus-")
            assert env_of(deployment)["RAYBUS_NATS_USER"] == service
    (tmp_path / "nats.conf").write_text(conf)
    done = subprocess.run([str(Path(sys.executable).parent / "nats-server"), "-t", "-c", str(tmp_path / "nats.conf")],
                          capture_output=True, text=True, check=False, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


# --- least privilege, on the API server ---------------------------------------------------------


class Identities:
    """The chart's RBAC installed in the control plane (release `fullname`), and a kubeconfig per
    service account from the TokenRequest API."""

    def __init__(self, helm: Path, admin: Kube, kubeconfig: Path, namespace: str, workdir: Path,
                 sets: tuple[str, ...] = ()) -> None:
        self.admin, self.ns, self.workdir = admin, namespace, workdir
        self.fullname = namespace[:36].rstrip("-")
        objs = template(helm, namespace, f"fullnameOverride={self.fullname}", *sets)
        self.rbac = [o for o in objs if o["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                                                      "RoleBinding")]
        paths = Paths(admin)
        for obj in self.rbac:
            admin.create(paths.collection(obj, obj["metadata"].get("namespace", namespace)), obj)
        self.cluster_scoped = [f"{paths.collection(o, namespace)}/{o['metadata']['name']}" for o in self.rbac
                               if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
        self.base = yaml.safe_load(kubeconfig.read_text())
        self.clients: list[Kube] = []

    def kubeconfig(self, service: str) -> Path:
        sa = f"{self.fullname}-{service}"
        token = self.admin.create(f"/api/v1/namespaces/{self.ns}/serviceaccounts/{sa}/token", {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600}})["status"]["token"]
        cfg = copy.deepcopy(self.base)
        cfg["users"] = [{"name": sa, "user": {"token": token}}]
        cfg["contexts"][0]["context"]["user"] = sa
        path = self.workdir / f"kubeconfig-{service}"
        path.write_text(yaml.safe_dump(cfg))
        return path

    def client(self, service: str) -> Kube:
        api = Kube.connect(self.kubeconfig(service))
        self.clients.append(api)
        return api

    def close(self) -> None:
        for api in self.clients:
            api.close()
        for path in self.cluster_scoped:
            self.admin.delete(path)


@pytest.fixture
def identities(helm: Path, control_plane: Kube, kubeconfig: Path, namespace: str, tmp_path: Path,
               request: pytest.FixtureRequest) -> Iterator[Identities]:
    """The chart's RBAC; `indirect` parametrization gives extra --set values."""
    ids = Identities(helm, control_plane, kubeconfig, namespace, tmp_path, getattr(request, "param", ()))
    try:
        yield ids
    finally:
        ids.close()


def cluster(name: str, namespace: str, **spec: Any) -> Obj:
    obj: Obj = yaml.safe_load(SAMPLE.read_text())
    obj["metadata"] = {"name": name, "namespace": namespace}
    obj["spec"].update(spec)
    return obj


def pod(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def test_each_identity_holds_only_its_rights(identities: Identities, control_plane: Kube, namespace: str) -> None:
    ns = namespace
    rayclusters, pods = f"/apis/ray.io/v1/namespaces/{ns}/rayclusters", f"/api/v1/namespaces/{ns}/pods"
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    control_plane.create(rayclusters, cluster("seen", ns))
    denied: list[str] = []

    def refused(what: str, call: Callable[[], object]) -> None:
        with pytest.raises(ApiError) as e:
            call()
        assert e.value.status == 403, f"{what}: {e.value}"
        denied.append(what)

    watcher = identities.client("watcher")
    assert [o["metadata"]["name"] for o in watcher.get(rayclusters)["items"]] == ["seen"]
    assert watcher.get(pods)["items"] == []
    first = next(watcher.watch(rayclusters, {"watch": "true", "timeoutSeconds": "30"}))
    assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "seen")
    refused("watcher creates a RayCluster", lambda: watcher.create(rayclusters, cluster("nope", ns)))
    refused("watcher creates a pod", lambda: watcher.create(pods, pod("nope")))
    refused("watcher deletes a RayCluster", lambda: watcher.delete(f"{rayclusters}/seen"))

    ctl = identities.client("cluster-ctl")
    refused("controller lists pods", lambda: ctl.get(pods))
    refused("controller lists RayClusters", lambda: ctl.get(rayclusters))

    actuator = identities.client("actuator")
    made = actuator.create(pods, pod("by-actuator"))
    assert made["metadata"]["name"] == "by-actuator"
    actuator.apply(f"{rayclusters}/applied", cluster("applied", ns), manager="raybus")
    # The autoscaler's Role and RoleBinding, which cluster-ctl asks for: RBAC lets the actuator
    # grant them because it holds those rights itself (it has no `bind` or `escalate`). So RBAC
    # must read the Role to judge a RoleBinding: before the Role exists, applying the binding is
    # refused with 404 NotFound (naming the binding), an answer an admin never gets.
    roles = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles"
    rolebinding = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings/autoscaler"
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "autoscaler"},
               "subjects": [{"kind": "ServiceAccount", "name": "autoscaler", "namespace": ns}],
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "autoscaler"}}
    with pytest.raises(ApiError) as early:
        actuator.apply(rolebinding, binding, manager="raybus")
    assert (early.value.status, early.value.message) == (
        404, 'rolebindings.rbac.authorization.k8s.io "autoscaler" not found')
    actuator.apply(f"{roles}/autoscaler", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "autoscaler"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
                  {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
                  {"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "patch"]}]},
        manager="raybus")
    actuator.apply(rolebinding, binding, manager="raybus")
    refused("actuator lists RayClusters", lambda: actuator.get(rayclusters))
    refused("actuator grants what it does not hold", lambda: actuator.create(roles, {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "more"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]}))

    # The CRD hook's identity: `raybus crds apply` succeeds with it, and it can do nothing else.
    # One CRD is removed first (RayCronJob: no other test here uses it), so the hook both creates
    # (a fresh install) and patches (an upgrade).
    cron_crd = f"{crds}/raycronjobs.ray.io"
    old_uid = control_plane.get(cron_crd)["metadata"]["uid"]
    control_plane.delete(cron_crd)
    wait_until(lambda: not control_plane.exists(cron_crd), timeout=60, what="RayCronJob CRD deleted")
    hook = identities.kubeconfig("crds")
    try:
        done = subprocess.run([str(Path(sys.executable).parent / "raybus"), "crds", "apply", "--kubeconfig",
                               str(hook)], capture_output=True, text=True, check=False, timeout=300)
    finally:
        if not control_plane.exists(cron_crd):  # leave the session's cluster whole for the tests after
            install_crds(control_plane, crds_in([CRD_DIR / "ray.io_raycronjobs.yaml"]))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("(Established)") == 4
    assert control_plane.get(cron_crd)["metadata"]["uid"] != old_uid
    hook_api = identities.client("crds")
    refused("CRD hook lists CRDs", lambda: hook_api.get(crds))
    refused("CRD hook reads another CRD", lambda: hook_api.get(f"{crds}/podgroups.scheduling.volcano.sh"))
    refused("CRD hook lists pods", lambda: hook_api.get(pods))

    assert len(denied) == 10, denied


@pytest.mark.parametrize("identities", [(), ("singleNamespaceInstall=true",)], indirect=True,
                         ids=["cluster-wide", "single-namespace"])
def test_the_stack_runs_under_the_charts_identities(identities: Identities, control_plane: Kube, namespace: str,
                                                     services: Services) -> None:
    watcher_kc, actuator_kc = identities.kubeconfig("watcher"), identities.kubeconfig("actuator")
    cluster_wide = not any(o["kind"] == "RoleBinding" for o in identities.rbac)
    watcher = identities.client("watcher")
    try:
        watcher.get("/api/v1/namespaces/default/pods")
        elsewhere = 200
    except ApiError as e:
        elsewhere = e.status
    assert elsewhere == (200 if cluster_wide else 403)  # singleNamespaceInstall: this namespace only
    ctl_kc = identities.kubeconfig("cluster-ctl")  # no rights at all: cluster-ctl uses none
    # Only this test's namespace: other tests' namespaces may still be terminating.
    services.start("watcher", "raybus-watcher", RAYBUS_KUBECONFIG=str(watcher_kc), KUBECONFIG=str(watcher_kc),
                   RAYBUS_WATCH_NAMESPACES=namespace)
    services.start("actuator", "raybus-actuator", RAYBUS_KUBECONFIG=str(actuator_kc), KUBECONFIG=str(actuator_kc))
    services.start("cluster-ctl", "raybus-cluster-ctl", KUBECONFIG=str(ctl_kc), RAYBUS_WATCH_NAMESPACES=namespace)

    path = f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters/raycluster-sample"
    control_plane.create(f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters", cluster("raycluster-sample", namespace))

    def ready() -> bool:
        status = control_plane.get(path).get("status") or {}
        return bool(status.get("state") == "ready" and status.get("readyWorkerReplicas") == 2)

    wait_until(ready, timeout=120, what="raycluster-sample ready under the chart's RBAC")
    assert len(control_plane.get(f"/api/v1/namespaces/{namespace}/pods")["items"]) == 3
    assert services.metric("actuator", "raybus_dead_letters_total") == 0
