"""Conformance, with the real KubeRay operator as the oracle.

Every valid RayCluster, RayJob and RayService fixture (`tests/fixtures/valid/`) is applied twice
on one control plane: to a namespace the real KubeRay operator watches (`raybus_testbed.kuberay`,
built from its Go module; `RAYBUS_KUBERAY_VERSION`, or `RAYBUS_KUBERAY_BIN` for a binary built
elsewhere) and to one Raybus watches (watcher, actuator, cluster-ctl, job-ctl, serve-ctl as
processes).
Once both settle, the status, the children and the Events of each pair are normalised and
compared (`raybus_testbed.conformance`). A difference must be fixed or listed in `KNOWN` with
its reason (docs/compatibility.md says the same in prose); the test fails on an unlisted
difference and on a listed one that no manifest shows any more.

RayJobs run for real, both operators' against one real Ray head (`ray_head`, whose dashboard
must be on 8265, the port the fixtures' head containers name; else they are skipped, saying
so): the kwok pod network is routed to it (`pod_network`), so Raybus's watcher and actuator
reach it at a head pod's IP (`RAYBUS_RAY_DASHBOARD_ACCESS=pod`) and KubeRay through the API
server's service proxy (`-use-kubernetes-proxy`: the proxy connects to the head pod's IP), and
the submitters of both are really run (`pod_runner`). v1.5 does not label its submitter pods,
by which the testbed knows them (kwok would complete them unrun), so a MutatingAdmissionPolicy
on the KubeRay namespace labels its Jobs' pods at creation as v1.7 labels them
(`conformance.oracle_submitter_policy`); what is compared (the Job) keeps what KubeRay wrote.
What a fixture expects to exist already is made in both namespaces first (`Manifest.given`: a
submitter's ServiceAccount, the RayCluster a `clusterSelector` picks when no fixture is it).

A RayJob's reading is its status (times, uids and the generated `<rayjob>-<5 chars>` names
made neutral, `rayClusterStatus` reduced to its presence), the RayCluster, submitter Job and
head Service it owns, and the Events about it; it counts as settled once unchanged for a while
and past every deletion TTL due within the run (`conformance.cleanup_after_end`). A RayJob may
settle unfinished (a Ray job PENDING forever on resources the head lacks, an InteractiveMode
job waiting for its id): the same state on both sides is what is compared. Ray's side is
shared: a fixture with a fixed `jobId` gets one Ray job, submitted by whichever operator came
first and followed by both. A fixture the oracle cannot take as written gets a variant
without what it lacks (`VARIANTS`), compared beside it.

RayServices run for real too, on the same Ray head: Serve's proxy on the head's `serve` port
(8000), which the head pod's IP reaches, so both operators put their serve config to one Serve
(KubeRay through the API server's proxy, serve-ctl's actuator by pod IP) and check the head's
`/-/healthz` (KubeRay through the pods proxy). A fixture is compared only when that Serve can
run its config (`not_compared`: every application's import path is a module of
`raybus_testbed/serveapps`, and no `runtime_env` to fetch): `rayservice-hello`. The two
operators deploy the same config to one Ray, so Ray's side is shared: whichever puts it first
deploys it, and the other finds it deployed (KubeRay puts it once per cluster anyway, from its
cache; serve-ctl only when Ray shows another). A RayService's reading is its status (conditions,
`serviceStatus`, `numServeEndpoints`, `applicationStatuses`; times and the drawn
`<rs>-<5 chars>` cluster names neutral, `rayClusterStatus` reduced to its presence), the
RayCluster and the head and serve Services it owns, its clusters' head pods' `ray.io/serve`
label, and the Events about it; it counts as settled once Ready and unchanged for a while. Not
Ready within SERVICE_TIMEOUT_SECONDS on either side is a difference of its own.
NewClusterWithIncrementalUpgrade fixtures are not compared: an upgrade moves only once a gateway
controller accepts the Gateway and HTTPRoute, and the test control plane has none (serve-ctl's
incremental upgrade is tested in tests/integration/test_serve_ctl.py, the test accepting them).

With `-k` picking some fixtures, only those are applied (and no report is spliced).

KubeRay runs with the feature gates Raybus turns on by default (KubeRay v1.7's defaults), where
its version has them. The report (manifest → identical / differs where listed / differs) is
printed, written to the test's temp dir, and, with `RAYBUS_CONFORMANCE_REPORT=<file>` (`make
conformance` sets docs/compatibility.md), spliced into that file between its markers.

RayCronJob fixtures are listed as not compared because the oracle's KubeRay has no RayCronJob.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from raybus_testbed import conformance as conf
from raybus_testbed.kube import Kube
from raybus_testbed.kuberay import V17_DEFAULT_GATES, KubeRay, NoKubeRay, operator_binary, oracle_version
from raybus_testbed.rayhead import SERVE_APPS, SERVE_PORT, RayHead
from raybus_testbed.rayheads import start_serve
from raybus_testbed.services import Services

pytestmark = [pytest.mark.integration, pytest.mark.conformance]

REPO = Path(__file__).resolve().parents[2]
FIXTURES = sorted((REPO / "tests" / "fixtures" / "valid").glob("*.yaml"))
SAMPLE = REPO / "deploy" / "samples" / "raycluster-sample.yaml"
NOT_BUILT = {
    "RayCronJob": ("RayCronJob: KubeRay v1.5.0, the newest the Go module proxy serves, predates RayCronJob; "
                   "its RayJobs are checked against v1.7's construction in tests/unit/test_cron_reconcile.py"),
}
COMPARED = ("RayCluster", "RayJob", "RayService")
INCREMENTAL = "NewClusterWithIncrementalUpgrade"
SETTLE_SECONDS = 6.0  # a reading unchanged this long counts as settled
# A RayJob that has not finished may still be on its way (a runtime env being set up, a driver
# starting): unchanged this long before it counts as settled there.
SETTLE_UNFINISHED_JOB_SECONDS = 20.0
TIMEOUT_SECONDS = 150.0
JOB_TIMEOUT_SECONDS = 300.0  # RayJobs run for real, and some wait out a deletion TTL
SERVICE_TIMEOUT_SECONDS = 300.0  # Serve starts its controller, proxy and replicas on a busy head
TTL_GRACE_SECONDS = 2.0 + SETTLE_SECONDS  # KubeRay acts 2 s after a TTL; then let it show
RAY_DASHBOARD_PORT = 8265  # the dashboard port the RayJob fixtures' head containers name
REMARKS = (
    ("RayJobs run for real: the submitters of both operators are run, and both submit to one real Ray head, "
     "which stands in for every RayJob's cluster. Their Ray jobs are apart (each operator draws its own "
     "`<rayjob>-<5 chars>` submission id), except where a fixture fixes `jobId` (`rayjob-httpmode`): that is one "
     "Ray job, which the two share (whichever operator submits first makes it, the other finds it there)."),
    ("RayServices run for real, on the same Ray head with Serve: both operators' clusters reach one Serve, so the "
     "fixture's serve config (`raybus_hello:app`, the head's test app) is deployed to one Ray by both; whichever "
     "operator puts it first deploys it, the other finds it deployed. Serve itself is started on that head (no "
     "application, its proxy on the serve config's port) before either operator runs: Serve's first start can "
     "fail on a busy machine, and whichever operator's put started it would record a Warning the other never "
     "sees. What is compared is each operator's own "
     "reading of it (status, applications, the head pod's `ray.io/serve`, endpoints), its RayCluster and Services, "
     "and its Events. Where another Ray head held 8265 or 8000, both sides get the RayService with its head's "
     "`dashboard` and `serve` ports and its serve config's `http_options.port` made the test head's."),
)

V15 = "v15"  # the suffix of a variant of a fixture the oracle can take (VARIANTS)
RAYJOBS = tuple(s for p in FIXTURES if p.stem.startswith("rayjob-") for s in (p.stem, f"{p.stem}-{V15}"))
RAYSERVICES = tuple(p.stem for p in FIXTURES if p.stem.startswith("rayservice-"))

_POD = r"Pod/[^.]+"
_CONTAINER = rf"{_POD}\.spec\.(containers|initContainers)\.[^.]+"
_JOB_CLUSTER = r"RayCluster/[^.]+"  # a RayJob's (or RayService's)
_SUBMITTER = rf"(Job/[^.]+\.spec\.template|{_JOB_CLUSTER}\.spec\.headGroupSpec\.template)"
# Each difference that showed, with its reason; docs/compatibility.md says the same in prose.
# `version=True`: the oracle (v1.5.0, the newest the Go module proxy serves) predates KubeRay
# v1.7, which Raybus follows.
KNOWN: tuple[conf.Known, ...] = (
    conf.Known("the RayJob's head Service's created-by label",
               r"Service/[^.]+-head-svc\.metadata\.labels\.app\.kubernetes\.io/created-by",
               "the RayJob's `<rayjob>-head-svc` carries `app.kubernetes.io/created-by: kuberay-operator`, the label "
               "the watcher narrows its caches by", manifests=RAYJOBS),
    conf.Known("a RayJob's or RayService's cluster as Go marshals it",
               rf"{_JOB_CLUSTER}\.spec\..*\.(metadata|scaleStrategy)",
               "KubeRay writes a RayJob's (RayService's) RayCluster as its Go types marshal `rayClusterSpec` "
               "(`rayClusterConfig`): an empty `metadata: {}` in each pod template, `scaleStrategy: {}` in each worker "
               "group; Raybus copies `rayClusterSpec` (`rayClusterConfig`) as written", manifests=RAYJOBS + RAYSERVICES,
               empty=True),
    conf.Known("submission mode label on a RayJob's cluster",
               rf"{_JOB_CLUSTER}\.metadata\.labels\.ray\.io/job-submission-mode",
               "v1.7 labels a RayJob's RayCluster with `ray.io/job-submission-mode`", version=True, manifests=RAYJOBS),
    conf.Known("RayJob labels on the submitter pod template",
               r"Job/[^.]+\.spec\.template\.metadata\.labels\."
               r"(app\.kubernetes\.io/created-by|ray\.io/originated-from-cr-name|ray\.io/originated-from-crd)",
               "v1.7 puts the submitter Job's three labels (`ray.io/originated-from-cr-name`, "
               "`ray.io/originated-from-crd`, `app.kubernetes.io/created-by`) on its pod template too",
               version=True, manifests=RAYJOBS),
    conf.Known("the submitter's wait for the dashboard",
               rf"{_SUBMITTER}\.spec\.containers\.[^.]+\.args\[0\]\.wait",
               "v1.7's submitter first waits for the dashboard's `/api/gcs_healthz` with a Python loop; v1.5's "
               "K8sJobMode submitter does not wait, its SidecarMode one waits with `wget`",
               version=True, manifests=RAYJOBS),
    conf.Known("labels on serve and headless Services",
               r"Service/[^.]+\.metadata\.labels\.(app\.kubernetes\.io/created-by|ray\.io/cluster)",
               "serve and headless worker Services carry `app.kubernetes.io/created-by` and `ray.io/cluster`, "
               "the labels the watcher narrows its caches by"),
    conf.Known("DeletedWorkerPod of a suspended group", r"events\[DeletedWorkerPod\]",
               "KubeRay records `DeletedWorkerPod` for a suspended worker group on every pass, pods or not; Raybus "
               "records it when it deletes pods", manifests=("raycluster-scale-strategy-suspend",)),
    conf.Known("generation after the GCS FT finalizer", r"status\.observedGeneration",
               "KubeRay adds the GCS FT finalizer with an Update of the whole object as its Go types marshal it "
               "(`metadata: {}`, `resources: {}` and the like added), which changes the spec: generation 2; Raybus "
               "patches `metadata.finalizers` alone, leaving the user's spec and its generation as they were",
               manifests=("raycluster-gcs-ft-legacy-annotation", "raycluster-gcs-ft-redis")),
    conf.Known("head pod's version and Recreate hash",
               rf"{_POD}\.metadata\.annotations\.ray\.io/(kuberay-version|upgrade-strategy-recreate-hash)",
               "v1.6+ stamps the operator version and the Recreate hash on every head pod at creation", version=True),
    conf.Known("ulimit of `ray start`", rf"{_CONTAINER}\.args\[0\]",
               "v1.7 starts Ray with `ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}` (v1.5: a fixed 65536)",
               version=True),
    conf.Known("RAY_CLUSTER_NAMESPACE", rf"{_CONTAINER}\.env\.RAY_CLUSTER_NAMESPACE",
               "v1.7 sets RAY_CLUSTER_NAMESPACE on Ray containers", version=True),
    conf.Known("autoscaler env", rf"{_CONTAINER}\.env\.(KUBERAY_GEN_AUTOSCALER_START_CMD|RAY_enable_autoscaler_v2)",
               "v1.7's autoscaler sidecar gets its start command as env, and autoscaler v1 an explicit "
               "RAY_enable_autoscaler_v2=false", version=True),
    conf.Known("token auth", rf"({_CONTAINER}\.env\.RAY_AUTH_(MODE|TOKEN)|Secret/[^.]+)",
               "`spec.authOptions` (token auth and its Secret) is new in v1.6", version=True),
    conf.Known("Ingress options", r"Ingress/[^.]+\.spec\..*",
               "`headGroupSpec.ingressOptions` (host, path, pathType, TLS) is new in v1.7", version=True),
    conf.Known("serve-* ports", r"Service/[^.]+\.spec\.ports\.serve-[^.]+",
               "v1.7's serve Service exposes every head port named `serve` or `serve-*` (v1.5: `serve` only)",
               version=True),
    conf.Known("Event series", r"events\[Created(WorkerPod|Service)\]",
               "v1.7 records events.k8s.io Events, folding isomorphic ones (same reason, action, object) into one "
               "series that keeps the first note, as Raybus does; v1.5's core/v1 recorder keeps one Event per "
               "message, so a second group's worker Pods or a second Service show as another Event", version=True,
               kuberay_only=True),
    conf.Known("RayService cluster spec hash",
               r"RayCluster/[^.]+\.metadata\.annotations\.ray\.io/hash-without-replicas-and-workers-to-delete",
               "KubeRay's hash is sha1 of the Go struct's JSON, upper-case base32hex; serve-ctl's sha1 of the spec's "
               "canonical JSON with the same fields left out (a RayService taken over from KubeRay gets one new "
               "cluster)", manifests=RAYSERVICES),
    conf.Known("RayService labels on its clusters' head template",
               r"RayCluster/[^.]+\.spec\.headGroupSpec\.template\.metadata\.labels(\.ray\.io/originated-from-.*)?",
               "serve-ctl also labels its clusters' head template `ray.io/originated-from-cr-name` / "
               "`ray.io/originated-from-crd: RayService`: it finds the head pod (for `ray.io/serve` and endpoints) by "
               "label", manifests=RAYSERVICES),
    conf.Known("a RayJob's cluster created twice", r"events\[FailedToCreateRayCluster\]",
               "KubeRay creates a RayJob's (or RayService's) RayCluster again when its cache has not yet seen the one it just created, "
               "and records a Warning `FailedToCreateRayCluster` (\"already exists\"); Raybus's controller waits for "
               "its own writes. A race: not every run shows it", manifests=RAYJOBS + RAYSERVICES,
               sometimes=True),
    # Last, so that the differences above still show on this manifest where they apply.
    conf.Known("deletion rules on `jobDeploymentStatus` (everything)", r".*",
               "a deletion rule conditioned on `jobDeploymentStatus` is new in v1.7: v1.5 writes it back with "
               "`jobStatus: \"\"` when it adds its finalizer, the API server refuses that, and the RayJob never "
               "starts. `rayjob-deletion-rules-v15` is the fixture without that rule, compared in full",
               version=True, manifests=("rayjob-deletion-rules",)),
    conf.Known("custom head Service with repeated ports (everything after it)", r".*",
               "a custom head Service whose ports repeat the computed ones: KubeRay appends the computed ports "
               "anyway and the API server refuses the Service, so KubeRay's cluster never gets further; Raybus "
               "skips the ports the user already named", manifests=("raycluster-head-service-ingress",)),
)


@dataclass
class Manifest:
    path: Path
    obj: dict[str, Any]
    variant: str = ""  # the stem of a variant the oracle can take (VARIANTS), else ""

    @property
    def stem(self) -> str:
        return self.variant or self.path.stem

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def collection(self) -> str:
        return {"RayCluster": "rayclusters", "RayJob": "rayjobs", "RayService": "rayservices"}[self.kind]

    def head_port(self, name: str, default: int) -> int:
        """The port a RayJob's or RayService's head container names `name` (KubeRay's `default`
        when none): of its `rayClusterSpec` / `rayClusterConfig`, or of the RayCluster its
        `clusterSelector` picks (the fixture of that name, else the sample `given` makes: both
        say 8265 for the dashboard)."""
        own = self.obj.get("spec") or {}
        spec = own.get("rayClusterSpec") or own.get("rayClusterConfig") or \
            next((g["spec"] for _, g in self.given() if g["kind"] == "RayCluster"), None)
        if not spec:
            return default
        head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
        return next((int(p["containerPort"]) for p in head.get("ports") or [] if p.get("name") == name), default)

    def pointed_at(self, head: RayHead) -> Manifest:
        """The RayService with its head container's `dashboard` and `serve` ports and its serve
        config's `http_options.port` made the test Ray head's, where they differ (another Ray
        head held 8265 or 8000 when it started); itself when they agree."""
        spec = self.obj["spec"]
        container = spec["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]
        config = yaml.safe_load(str(spec.get("serveConfigV2") or "")) or {}
        want = {"dashboard": head.dashboard_port, "serve": head.serve_port}
        http = config.get("http_options") or {}
        if all(p["containerPort"] == want[p["name"]] for p in container.get("ports") or [] if p.get("name") in want) \
                and int(http.get("port") or SERVE_PORT) == head.serve_port:
            return self
        out = copy.deepcopy(self.obj)
        for port in out["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]["ports"]:
            port["containerPort"] = want.get(port.get("name"), port["containerPort"])
        config["http_options"] = {**http, "port": head.serve_port}
        out["spec"]["serveConfigV2"] = yaml.safe_dump(config, sort_keys=False)
        return Manifest(self.path, out, self.variant)

    def given(self) -> list[tuple[str, dict[str, Any]]]:
        """What the manifest expects to exist already, as (collection path with `{ns}`, object):
        the ServiceAccount a submitter pod template names, the RayCluster a `clusterSelector`
        picks (the sample, one worker). Made in both namespaces before the manifest."""
        spec = self.obj.get("spec") or {}
        out: list[tuple[str, dict[str, Any]]] = []
        account = ((spec.get("submitterPodTemplate") or {}).get("spec") or {}).get("serviceAccountName")
        if account:
            out.append(("/api/v1/namespaces/{ns}/serviceaccounts",
                        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}}))
        picked = (spec.get("clusterSelector") or {}).get("ray.io/cluster")
        if picked:
            cluster = yaml.safe_load(SAMPLE.read_text())
            cluster["metadata"] = {"name": picked}
            cluster["spec"]["workerGroupSpecs"][0].update(replicas=1, minReplicas=1)
            out.append(("/apis/ray.io/v1/namespaces/{ns}/rayclusters", cluster))
        return out


def _without_deployment_status_rules(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The RayJob without its deletion rules conditioned on `jobDeploymentStatus` (new in v1.7:
    v1.5 writes such a rule back with `jobStatus: ""`, which the API server refuses, so it never
    starts the RayJob); None when it has none."""
    rules = ((obj.get("spec") or {}).get("deletionStrategy") or {}).get("deletionRules") or []
    kept = [r for r in rules if (r.get("condition") or {}).get("jobStatus")]
    if len(kept) == len(rules):
        return None
    out = copy.deepcopy(obj)
    out["spec"]["deletionStrategy"]["deletionRules"] = kept
    return out


# Variants of fixtures the oracle cannot take as written, with what it lacks left out, so that
# the rest is compared too: (suffix of the variant's stem and name, how it is made).
VARIANTS = ((V15, _without_deployment_status_rules),)


def not_compared(m: Manifest) -> str:
    """Why manifest `m` is never compared here, whatever the machine ("" when it is): a kind the
    oracle or Raybus does not have, a RayService strategy serve-ctl does not serve, a serve
    config whose code the test Ray head cannot import."""
    if m.kind in NOT_BUILT:
        return NOT_BUILT[m.kind]
    if m.kind != "RayService":
        return ""
    if ((m.obj.get("spec") or {}).get("upgradeStrategy") or {}).get("type") == INCREMENTAL:
        return (f"RayService: upgradeStrategy {INCREMENTAL} moves only once a gateway controller accepts the "
                "Gateway and HTTPRoute, and the test control plane has none")
    missing = conf.serve_code_missing(m.obj, (p.stem for p in SERVE_APPS.glob("*.py")))
    if missing:
        return (f"RayService: its serve config needs what the test Ray head does not have ({', '.join(missing)}); "
                "`rayservice-hello` is the RayService compared, with the head's own Serve app")
    return ""


def comparable() -> list[Manifest]:
    """The manifests a run compares (where the machine allows: `not_reachable`)."""
    return [m for m in manifests() if m.kind in COMPARED and not not_compared(m)]


def manifests() -> list[Manifest]:
    found = [Manifest(p, yaml.safe_load(p.read_text())) for p in FIXTURES]
    names = [(m.kind, m.name) for m in found]
    for m in found:  # two fixtures with one name would share children: give each its file's name
        if names.count((m.kind, m.name)) > 1:
            m.obj["metadata"]["name"] = m.stem
    for suffix, make in VARIANTS:
        for m in list(found):
            if m.kind == "RayJob" and (obj := make(m.obj)) is not None:
                obj["metadata"]["name"] = f"{m.name}-{suffix}"
                found.append(Manifest(m.path, obj, variant=f"{m.stem}-{suffix}"))
    return sorted(found, key=lambda m: m.stem)


def _children(api: Kube, ns: str, uid: str, kinds: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    return [{**o, "kind": kind} for kind, path in kinds for o in api.get(path.format(ns=ns))["items"]
            if conf.owned_by(o, uid)]


def _events(api: Kube, ns: str, kind: str, name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(f"/api/v1/namespaces/{ns}/events",
                                          fieldSelector=f"involvedObject.kind={kind},involvedObject.name={name}")["items"]
    return items


@dataclass
class Read:
    """One look at what an operator made of a manifest: the normalised reading (None before the
    object exists), the object as it is, and, for a finished RayJob, the wall-clock times at
    which a deletion TTL of its runs out."""

    reading: conf.Reading | None
    obj: dict[str, Any] | None = None
    due: list[float] = field(default_factory=list)

    def unfinished_job(self) -> bool:
        return (self.obj is not None and self.obj.get("kind") == "RayJob"
                and ((self.obj.get("status") or {}).get("jobDeploymentStatus") not in ("Complete", "Failed")))

    def unready_service(self) -> bool:
        return self.obj is not None and self.obj.get("kind") == "RayService" and not conf.rayservice_ready(self.obj)


def read(api: Kube, ns: str, m: Manifest) -> Read:
    """What the operator watching `ns` made of manifest `m`."""
    try:
        obj = api.get(f"/apis/ray.io/v1/namespaces/{ns}/{m.collection}/{m.name}")
    except Exception:  # noqa: BLE001 - not there yet (or, for a RayJob with DeleteSelf, gone)
        return Read(None)
    uid = obj["metadata"]["uid"]
    events = _events(api, ns, m.kind, m.name)

    def reading(status: dict[str, Any], children: list[dict[str, Any]], scrub: conf.Scrubber) -> conf.Reading:
        return conf.Reading(status=status, children=conf.keyed_children(children, scrub),
                            events=tuple(sorted({conf.normalise_event(e, scrub) for e in events})))

    if m.kind == "RayCluster":
        children = _children(api, ns, uid, conf.CHILD_KINDS)
        scrub = conf.scrubber(ns, uid, children)
        return Read(reading(conf.normalise_status(obj.get("status") or {}, scrub), children, scrub), obj)
    if m.kind == "RayService":
        children = _children(api, ns, uid, conf.RAYSERVICE_CHILD_KINDS)
        clusters = [c["metadata"]["name"] for c in children if c["kind"] == "RayCluster"]
        heads = [p for p in (api.get(f"/api/v1/namespaces/{ns}/pods", labelSelector="ray.io/node-type=head")["items"]
                             if clusters else []) if p["metadata"]["labels"].get("ray.io/cluster") in clusters]
        scrub = conf.rayservice_scrubber(ns, obj, heads)
        status = conf.normalise_rayservice_status(obj.get("status") or {}, scrub)
        return Read(reading(status, children + conf.head_pods_serve_label(heads, clusters), scrub), obj)
    children = _children(api, ns, uid, conf.RAYJOB_CHILD_KINDS)
    scrub = conf.rayjob_scrubber(ns, obj)
    end = (obj.get("status") or {}).get("endTime")
    due = [datetime.fromisoformat(end).timestamp() + ttl for ttl in conf.cleanup_after_end(obj)] if end else []
    return Read(reading(conf.normalise_rayjob_status(obj.get("status") or {}, scrub), children, scrub), obj, due)


def settle(api: Kube, subjects: list[tuple[str, Manifest]], deadline: float) -> dict[tuple[str, str], Read]:
    """Read every (namespace, manifest) until each reading has a status and stayed the same for
    SETTLE_SECONDS (SETTLE_UNFINISHED_JOB_SECONDS for a RayJob not finished), every RayService
    is Ready, and every deletion TTL due before the deadline has run out (and shown), or the
    deadline passes; the last reads, by (namespace, stem)."""
    last: dict[tuple[str, str], tuple[str, float, Read]] = {}
    while True:
        now, wall = time.monotonic(), time.time()
        horizon = wall + (deadline - now)
        settled = True
        for ns, m in subjects:
            got = read(api, ns, m)
            reading = got.reading
            fingerprint = json.dumps([reading.status, reading.children, reading.events] if reading else None,
                                     sort_keys=True, default=str)
            prev = last.get((ns, m.stem))
            since = prev[1] if prev and prev[0] == fingerprint else now
            last[(ns, m.stem)] = (fingerprint, since, got)
            hold = SETTLE_UNFINISHED_JOB_SECONDS if got.unfinished_job() else SETTLE_SECONDS
            pending = [d for d in got.due if wall < d + TTL_GRACE_SECONDS < horizon]
            if reading is None or not reading.status or now - since < hold or pending or got.unready_service():
                settled = False
        if settled or now > deadline:
            return {k: v[2] for k, v in last.items()}
        time.sleep(1.0)


@dataclass
class Run:
    outcomes: dict[str, conf.Outcome]
    oracle: str


def selected(session: pytest.Session) -> set[str] | None:
    """The fixture stems this session's selected tests compare; None for all of them (every
    one is selected, or the check that every listed difference still shows is)."""
    here = [i for i in session.items if getattr(i, "path", None) == Path(__file__)]
    if any(i.name.startswith("test_every_listed_difference_still_shows") for i in here):
        return None
    stems = {i.callspec.params["stem"] for i in here if hasattr(i, "callspec") and "stem" in i.callspec.params}
    return None if stems >= {m.stem for m in comparable()} else stems


def ray_side(request: pytest.FixtureRequest) -> tuple[RayHead | None, str]:
    """The Ray head the RayJobs and RayServices run against, with the pod network routed and the
    pod runner running; or None and why not (the fixture's skip reason)."""
    try:
        head: RayHead = request.getfixturevalue("ray_head")
        request.getfixturevalue("pod_network")
        request.getfixturevalue("pod_runner")
    except pytest.skip.Exception as e:
        return None, str(e.msg)
    return head, ""


def not_reachable(m: Manifest, head: RayHead | None, why: str) -> str:
    """Why RayJob or RayService `m` cannot be compared here ("" when it can): no Ray head, or, for
    a RayJob, one whose dashboard is on another port than the manifest names (another Ray head
    held it; a RayService is pointed at the head's ports instead: `Manifest.pointed_at`)."""
    if head is None:
        return f"{m.kind}: no Ray head to run it against ({why})"
    port = m.head_port("dashboard", RAY_DASHBOARD_PORT)
    if m.kind == "RayJob" and port != head.dashboard_port:
        return (f"RayJob: its head container's dashboard port is {port}, and the test Ray head's is "
                f"{head.dashboard_port} (another Ray head held {port})")
    return ""


def unready(kuberay: Read, raybus: Read) -> list[tuple[str, Any, Any]]:
    """A RayService not Ready on either side when the run ended, as a difference of its own."""
    if not (kuberay.unready_service() or raybus.unready_service()):
        return []
    return [(f"(Ready within {SERVICE_TIMEOUT_SECONDS:.0f} s)", not kuberay.unready_service(),
             not raybus.unready_service())]


def stop_ray_jobs(head: RayHead, ids: set[str]) -> None:
    """Stop what the compared RayJobs left on the shared Ray head (a PENDING job, say)."""
    for job_id in sorted(ids):
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{head.url}/api/jobs/{job_id}/stop", headers=head.headers, timeout=5)


def delete_serve_apps(head: RayHead) -> None:
    """Take the compared RayServices' Serve applications off the shared Ray head."""
    with contextlib.suppress(httpx.HTTPError):
        httpx.delete(f"{head.url}/api/serve/applications/", headers=head.headers, timeout=120)


@pytest.fixture(scope="module")
def run(control_plane: Kube, kubeconfig: Path, nats_url: str, tmp_path_factory: pytest.TempPathFactory,
        request: pytest.FixtureRequest) -> Iterator[Run]:
    try:
        binary = operator_binary()
    except NoKubeRay as e:
        pytest.fail(f"no KubeRay operator to compare with: {e}")
    work = tmp_path_factory.mktemp("conformance")
    stamp = str(int(time.time()))[-6:]
    kr_ns, rb_ns = f"conf-kuberay-{stamp}", f"conf-raybus-{stamp}"
    for ns in (kr_ns, rb_ns):
        control_plane.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    only = selected(request.session)
    items = [m for m in manifests() if only is None or m.stem in only or not_compared(m)]
    outcomes = {m.stem: conf.Outcome(m.stem, note=reason) for m in items if (reason := not_compared(m))}
    on_ray = [m for m in items if m.kind in ("RayJob", "RayService") and m.stem not in outcomes]
    head, why = ray_side(request) if on_ray else (None, "")
    for m in on_ray:
        if reason := not_reachable(m, head, why):
            outcomes[m.stem] = conf.Outcome(m.stem, note=reason)
    compared = [m.pointed_at(head) if m.kind == "RayService" and head is not None else m
                for m in items if m.kind in COMPARED and m.stem not in outcomes]
    services = Services(work, nats_url, kubeconfig)
    kuberay = KubeRay(work, kubeconfig, namespaces=[kr_ns], binary=binary, feature_gates=V17_DEFAULT_GATES,
                      use_kubernetes_proxy=True)
    reads: dict[tuple[str, str], Read] = {}
    admission = "/apis/admissionregistration.k8s.io/v1"
    policy, binding = conf.oracle_submitter_policy(kr_ns)
    try:
        if head is not None:  # v1.5's submitters labelled, so that the testbed runs them
            control_plane.create(f"{admission}/mutatingadmissionpolicies", policy)
            control_plane.create(f"{admission}/mutatingadmissionpolicybindings", binding)
        if head is not None and any(m.kind == "RayService" for m in compared):
            start_serve(head, "0.0.0.0", head.serve_port)  # where the serve config puts the proxy: Ray's default host
        kuberay.start()
        for name in ("watcher", "actuator", "cluster-ctl", "job-ctl", "serve-ctl"):
            services.start(name, f"raybus-{name}", RAYBUS_WATCH_NAMESPACES=rb_ns, RAYBUS_RAY_DASHBOARD_ACCESS="pod")
        made = {(m.kind, m.name) for m in compared}  # a fixture may be what another expects (cpu-pool)
        for m in compared:
            for path, given in m.given():
                if (given["kind"], given["metadata"]["name"]) in made:
                    continue
                made.add((given["kind"], given["metadata"]["name"]))
                for ns in (kr_ns, rb_ns):
                    control_plane.create(path.format(ns=ns), given)
        for m in compared:
            for ns in (kr_ns, rb_ns):
                obj = {**m.obj, "metadata": {**m.obj["metadata"], "namespace": ns}}
                control_plane.create(f"/apis/ray.io/v1/namespaces/{ns}/{m.collection}", obj)
        timeout = max([TIMEOUT_SECONDS] + [JOB_TIMEOUT_SECONDS for m in compared if m.kind == "RayJob"]
                      + [SERVICE_TIMEOUT_SECONDS for m in compared if m.kind == "RayService"])
        reads = settle(control_plane, [(ns, m) for m in compared for ns in (kr_ns, rb_ns)],
                       time.monotonic() + timeout)
        for ns in (kr_ns, rb_ns):  # the objects themselves, for a reader chasing a difference
            for plural in ("rayclusters", "rayjobs", "rayservices"):
                (work / f"{ns}-{plural}.json").write_text(json.dumps(
                    control_plane.get(f"/apis/ray.io/v1/namespaces/{ns}/{plural}")["items"], indent=1))
    finally:
        kuberay.stop()
        services.stop()
        for ns in (kr_ns, rb_ns):  # no operator is left to take a RayJob's or RayService's finalizer off
            for plural in ("rayjobs", "rayservices"):
                for obj in control_plane.get(f"/apis/ray.io/v1/namespaces/{ns}/{plural}")["items"]:
                    if obj["metadata"].get("finalizers"):
                        control_plane.merge_patch(f"/apis/ray.io/v1/namespaces/{ns}/{plural}/{obj['metadata']['name']}",
                                                  {"metadata": {"finalizers": None}})
        for what, obj in (("mutatingadmissionpolicybindings", binding), ("mutatingadmissionpolicies", policy)):
            with contextlib.suppress(Exception):
                control_plane.delete(f"{admission}/{what}/{obj['metadata']['name']}")
        if head is not None:
            stop_ray_jobs(head, {str(job_id) for r in reads.values() if r.obj and r.obj.get("kind") == "RayJob"
                                 if (job_id := (r.obj.get("status") or {}).get("jobId"))})
            if any(m.kind == "RayService" for m in compared):
                delete_serve_apps(head)
    for m in compared:
        kuberay_read, raybus_read = reads[(kr_ns, m.stem)], reads[(rb_ns, m.stem)]
        theirs, ours = kuberay_read.reading, raybus_read.reading
        if theirs is None or ours is None:
            outcomes[m.stem] = conf.Outcome(m.stem, unlisted=[(f"({m.kind})", theirs is not None, ours is not None)])
            continue
        outcomes[m.stem] = conf.classify(m.stem, unready(kuberay_read, raybus_read) + conf.compare(theirs, ours), KNOWN)
    report = conf.render(list(outcomes.values()), oracle=oracle_version(), remarks=REMARKS)
    (work / "conformance.md").write_text(report)
    (work / "differences.json").write_text(json.dumps(
        {stem: o.unlisted for stem, o in outcomes.items() if o.unlisted}, indent=1, default=str))
    print("\n" + report)
    target = os.environ.get("RAYBUS_CONFORMANCE_REPORT")
    if target and only is None:
        conf.splice(Path(target), report)
    yield Run(outcomes, oracle_version())
    for ns in (kr_ns, rb_ns):
        control_plane.delete(f"/api/v1/namespaces/{ns}")


@pytest.mark.parametrize("stem", [m.stem for m in comparable()])
def test_fixture_matches_kuberay_or_differs_only_where_listed(run: Run, stem: str) -> None:
    outcome = run.outcomes[stem]
    if outcome.note:
        pytest.skip(outcome.note)
    detail = "\n".join(f"  {path}: KubeRay {json.dumps(a, default=str)[:300]} / Raybus "
                       f"{json.dumps(b, default=str)[:300]}" for path, a, b in outcome.unlisted)
    assert not outcome.unlisted, f"{stem}: differences from KubeRay that docs/compatibility.md does not list:\n{detail}"


def test_every_listed_difference_still_shows(run: Run) -> None:
    never = {not_compared(m) for m in manifests()}
    skipped = [o.manifest for o in run.outcomes.values() if o.note and o.note not in never]
    if skipped:
        pytest.skip(f"not every fixture was compared ({', '.join(sorted(skipped))}): cannot tell what is stale")
    shown = {k.pattern for o in run.outcomes.values() for _, k in o.listed}
    stale = [k.label for k in KNOWN if k.pattern not in shown and not k.sometimes]
    assert not stale, f"listed differences no manifest shows any more (fixed? then drop them): {stale}"
