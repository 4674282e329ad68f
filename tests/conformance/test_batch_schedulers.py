"""Batch schedulers, with the real KubeRay operator as the oracle.

For each of KubeRay's `-batch-scheduler` values in turn (`volcano`, `yunikorn`,
`scheduler-plugins`, `kai-scheduler`), the real KubeRay runs with that flag watching one
namespace, and Raybus (watcher, actuator, cluster-ctl, job-ctl, scheduler-bridge, started anew
with `RAYBUS_BATCH_SCHEDULER`) watching another; the same small manifests go to both at once:

| manifest | what it is |
|---|---|
| `gang` | the sample RayCluster (`deploy/samples/raycluster-sample.yaml`) with every scheduler's parameter labels (`LABELS`) and `ray.io/gang-scheduling-enabled: "true"` |
| `autoscale` | the same with `enableInTreeAutoscaling: true` (Volcano sizes the gang by the minimum then) |
| `job` | a K8sJobMode RayJob with the labels and the sample as its `rayClusterSpec` |

What is compared is what a batch scheduler reads (`conformance.batch_reading`): each pod's
`spec.schedulerName` and its scheduler labels and annotations (YuniKorn's task groups parsed from
their JSON), a RayJob's RayCluster's scheduler labels and annotations, and the PodGroups
(Volcano's `scheduling.volcano.sh/v1beta1`, scheduler-plugins' `scheduling.x-k8s.io/v1alpha1`)
of each manifest: name, labels, spec, owner references (kind, name, controller). Not their
status (a scheduler writes it), nor anything else of the pods (the oracle test compares that).
Names are made neutral: a RayJob's `<rayjob>-<5 chars>` cluster, the namespace; pods are keyed
by cluster and group.

No scheduler runs here: pods under a batch scheduler's `schedulerName` are never scheduled, so no
cluster becomes Ready, and a RayJob's submitter, made only once its cluster is Ready, never
exists on either side. So a RayJob is compared by its RayCluster's metadata, its pods and its
PodGroup, not by its submitter. A reading counts as settled once it has pods and stayed the same
for SETTLE_SECONDS, or has none and stayed the same for SETTLE_EMPTY_SECONDS (KubeRay refuses
some: `KNOWN`).

A difference must be fixed, or listed in `KNOWN` with its reason (docs/compatibility.md says the
same); the test fails on an unlisted difference and on a listed one no pair shows any more. The
report (scheduler × manifest) is printed, written to the module's temp dir, and, with
`RAYBUS_CONFORMANCE_REPORT=<file>` and every scheduler run, spliced into that file between its
batch markers (`conformance.BATCH_BEGIN` / `BATCH_END`), apart from the oracle test's report.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from raybus_common.crds import batch
from raybus_testbed import conformance as conf
from raybus_testbed.kube import Kube
from raybus_testbed.kuberay import V17_DEFAULT_GATES, KubeRay, NoKubeRay, operator_binary, oracle_version
from raybus_testbed.services import Services
from raybus_testbed.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.conformance]

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "deploy" / "samples" / "raycluster-sample.yaml"
SCHEDULERS = (batch.VOLCANO, batch.YUNIKORN, batch.SCHEDULER_PLUGINS, batch.KAI)
SERVICES = ("watcher", "actuator", "cluster-ctl", "job-ctl", "scheduler-bridge")
SETTLE_SECONDS = 6.0  # a reading with pods unchanged this long counts as settled
SETTLE_EMPTY_SECONDS = 20.0  # one without pods (a refusal, or not there yet) must hold this long
TIMEOUT_SECONDS = 120.0  # per scheduler
JOB_NAME = "bs-job"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
POD_GROUP_CRDS = ("podgroups.scheduling.volcano.sh", "podgroups.scheduling.x-k8s.io")
LABELS = {
    batch.VOLCANO_QUEUE_LABEL: "ray-queue",
    batch.PRIORITY_CLASS_LABEL: "ray-high",
    batch.YUNIKORN_APP_ID_LABEL: "ray-app",
    batch.YUNIKORN_QUEUE_LABEL: "root.ray",
    batch.KAI_QUEUE_LABEL: "team-a",
    batch.GANG_LABEL: "true",
}


@dataclass(frozen=True)
class Manifest:
    stem: str
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def collection(self) -> str:
        return {"RayCluster": "rayclusters", "RayJob": "rayjobs"}[self.kind]


def manifests() -> list[Manifest]:
    sample = yaml.safe_load(SAMPLE.read_text())
    gang = {**copy.deepcopy(sample), "metadata": {"name": "bs-gang", "labels": dict(LABELS)}}
    autoscale = {**copy.deepcopy(sample), "metadata": {"name": "bs-autoscale", "labels": dict(LABELS)}}
    autoscale["spec"]["enableInTreeAutoscaling"] = True
    job = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": JOB_NAME, "labels": dict(LABELS)},
           "spec": {"submissionMode": "K8sJobMode", "entrypoint": "python -c 'print(1)'",
                    "rayClusterSpec": copy.deepcopy(sample["spec"])}}
    return [Manifest("gang", gang), Manifest("autoscale", autoscale), Manifest("job", job)]


STEMS = tuple(m.stem for m in manifests())


def pair(scheduler: str, stem: str) -> str:
    """The name of one comparison, as `Known.manifests` names it."""
    return f"{scheduler}/{stem}"


# Each difference that showed, with its reason; docs/compatibility.md says the same in prose.
KNOWN: tuple[conf.Known, ...] = (
    conf.Known("the cluster a RayJob's Volcano PodGroup serves",
               rf"PodGroup:volcano/ray-{JOB_NAME}-pg\.metadata\.labels(\.ray\.io/cluster)?",
               "Raybus's PodGroup of a RayJob's cluster (`ray-<rayjob>-pg`, owned by the RayJob) is labelled "
               "`ray.io/cluster=<cluster>`: scheduler-bridge writes it from the cluster's view and finds it again by "
               "that label, to release it (minMember 0) when the cluster goes",
               manifests=(pair(batch.VOLCANO, "job"),)),
    conf.Known("a RayJob under scheduler-plugins (everything)", r".*",
               "KubeRay refuses RayJobs under scheduler-plugins (`DoBatchSchedulingOnSubmission`: \"currently only "
               "RayCluster is supported\", every pass): no RayCluster, no pods. Raybus runs it: its cluster gets "
               "the PodGroup and pod labels a RayCluster gets", manifests=(pair(batch.SCHEDULER_PLUGINS, "job"),)),
    conf.Known("a K8sJobMode RayJob under kai-scheduler (everything)", r".*",
               "KubeRay refuses K8sJobMode RayJobs under kai-scheduler (v1.5.0 every RayJob; "
               "`DoBatchSchedulingOnSubmission`: \"currently only RayCluster is supported\", every pass): no "
               "RayCluster, no pods. Raybus runs it: its cluster's pods get `schedulerName: kai-scheduler` and the "
               "queue label",
               manifests=(pair(batch.KAI, "job"),)),
    conf.Known("scheduler-plugins' PodGroup owner is its controller",
               r"PodGroup:scheduler-plugins/[^.]+\.metadata\.ownerReferences\.[^.]+\.controller",
               "KubeRay's scheduler-plugins PodGroup names its RayCluster as a plain owner (no `controller`, no "
               "`blockOwnerDeletion`); Raybus makes the cluster its controller, as for every child it writes "
               "(`objects.owner_reference`): cluster-ctl and scheduler-bridge find a group by its controller owner",
               manifests=(pair(batch.SCHEDULER_PLUGINS, "gang"), pair(batch.SCHEDULER_PLUGINS, "autoscale"))),
)


def _items(api: Kube, path: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.get(path)["items"]
    return found


def read(api: Kube, ns: str, items: list[Manifest]) -> dict[str, dict[str, Any]]:
    """What the batch scheduler would see of each manifest in `ns`, by stem."""
    pods = [{**p, "kind": "Pod"} for p in _items(api, f"/api/v1/namespaces/{ns}/pods")]
    groups = [(flavour, g) for flavour, path in conf.POD_GROUP_KINDS for g in _items(api, path.format(ns=ns))]
    clusters = [{**c, "kind": "RayCluster"} for c in _items(api, f"/apis/ray.io/v1/namespaces/{ns}/rayclusters")]
    out: dict[str, dict[str, Any]] = {}
    for m in items:
        if m.kind == "RayCluster":
            out[m.stem] = conf.batch_reading([m.name], pods=pods, pod_groups=groups, scrub=conf.Scrubber(ns))
            continue
        job = api.get(f"/apis/ray.io/v1/namespaces/{ns}/rayjobs/{m.name}")
        made = [c for c in clusters if conf.owned_by(c, job["metadata"]["uid"])]
        out[m.stem] = conf.batch_reading([m.name, *(c["metadata"]["name"] for c in made)], clusters=made, pods=pods,
                                         pod_groups=groups, scrub=conf.rayjob_scrubber(ns, job))
    return out


def settle(api: Kube, namespaces: tuple[str, str], items: list[Manifest], deadline: float
           ) -> dict[tuple[str, str], dict[str, Any]]:
    """Read both namespaces until every reading has settled (the module docstring) or the deadline
    passes; the last readings by (namespace, stem)."""
    last: dict[tuple[str, str], tuple[str, float, dict[str, Any]]] = {}
    while True:
        now, settled = time.monotonic(), True
        for ns in namespaces:
            for stem, reading in read(api, ns, items).items():
                fingerprint = json.dumps(reading, sort_keys=True)
                prev = last.get((ns, stem))
                since = prev[1] if prev and prev[0] == fingerprint else now
                last[(ns, stem)] = (fingerprint, since, reading)
                has_pods = any(k.startswith("Pod/") for k in reading)
                if now - since < (SETTLE_SECONDS if has_pods else SETTLE_EMPTY_SECONDS):
                    settled = False
        if settled or now > deadline:
            return {k: v[2] for k, v in last.items()}
        time.sleep(1.0)


def run_one(scheduler: str, api: Kube, kubeconfig: Path, nats_url: str, work: Path, binary: Path
            ) -> dict[str, conf.Outcome]:
    """KubeRay and Raybus under `scheduler`, the manifests applied to both; the outcome by stem."""
    stamp = str(int(time.time()))[-6:]
    kr_ns, rb_ns = f"bs-kuberay-{scheduler}-{stamp}", f"bs-raybus-{scheduler}-{stamp}"
    for ns in (kr_ns, rb_ns):
        api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    work.mkdir()
    items = manifests()
    kuberay = KubeRay(work, kubeconfig, namespaces=[kr_ns], binary=binary, feature_gates=V17_DEFAULT_GATES,
                      batch_scheduler=scheduler)
    services = Services(work, nats_url, kubeconfig, RAYBUS_WATCH_NAMESPACES=rb_ns, RAYBUS_BATCH_SCHEDULER=scheduler)
    try:
        kuberay.start()
        for name in SERVICES:
            services.start(name, f"raybus-{name}")
        for m in items:
            for ns in (kr_ns, rb_ns):
                api.create(f"/apis/ray.io/v1/namespaces/{ns}/{m.collection}",
                           {**m.obj, "metadata": {**m.obj["metadata"], "namespace": ns}})
        reads = settle(api, (kr_ns, rb_ns), items, time.monotonic() + TIMEOUT_SECONDS)
        for ns in (kr_ns, rb_ns):  # the objects themselves, for a reader chasing a difference
            dump = {path: _items(api, path.format(ns=ns)) for path in (
                "/api/v1/namespaces/{ns}/pods", "/apis/ray.io/v1/namespaces/{ns}/rayclusters",
                "/apis/ray.io/v1/namespaces/{ns}/rayjobs", "/api/v1/namespaces/{ns}/events",
                *(p for _, p in conf.POD_GROUP_KINDS))}
            (work / f"{ns}.json").write_text(json.dumps(dump, indent=1))
    finally:
        kuberay.stop()
        services.stop()
        for ns in (kr_ns, rb_ns):  # no operator is left to take a RayJob's finalizer off
            for obj in _items(api, f"/apis/ray.io/v1/namespaces/{ns}/rayjobs"):
                if obj["metadata"].get("finalizers"):
                    api.merge_patch(f"/apis/ray.io/v1/namespaces/{ns}/rayjobs/{obj['metadata']['name']}",
                                    {"metadata": {"finalizers": None}})
    outcomes = {m.stem: conf.classify(pair(scheduler, m.stem), conf.diff(reads[(kr_ns, m.stem)],
                                                                       reads[(rb_ns, m.stem)]), KNOWN)
                for m in items}
    for ns in (kr_ns, rb_ns):
        api.delete(f"/api/v1/namespaces/{ns}")
    return outcomes


def selected(session: pytest.Session) -> set[str] | None:
    """The schedulers this session's selected tests compare; None for all of them."""
    here = [i for i in session.items if getattr(i, "path", None) == Path(__file__)]
    if any(i.name.startswith("test_every_listed_difference_still_shows") for i in here):
        return None
    chosen = {i.callspec.params["scheduler"] for i in here if hasattr(i, "callspec") and "scheduler" in i.callspec.params}
    return None if chosen >= set(SCHEDULERS) else chosen


REMARKS = (
    ("Each scheduler is one run: KubeRay with `-batch-scheduler=<scheduler>` and Raybus with "
     "`RAYBUS_BATCH_SCHEDULER=<scheduler>`, each watching its own namespace, the three manifests applied to both. "
     "`gang` is the sample RayCluster with every scheduler's labels (`volcano.sh/queue-name`, "
     "`ray.io/priority-class-name`, `yunikorn.apache.org/app-id`, `yunikorn.apache.org/queue`, "
     "`kai.scheduler/queue`, `ray.io/gang-scheduling-enabled: \"true\"`), `autoscale` the same with "
     "`enableInTreeAutoscaling: true`, `job` a K8sJobMode RayJob with those labels and the sample as its cluster."),
    ("Compared: each pod's `schedulerName` and scheduler labels and annotations (YuniKorn's task groups as "
     "parsed JSON), a RayJob's RayCluster's scheduler labels and annotations, and the Volcano and "
     "scheduler-plugins PodGroups (name, labels, spec, owner references). No scheduler runs, so no cluster "
     "becomes Ready and no RayJob gets a submitter: a RayJob is compared by its cluster, pods and PodGroup."),
    ("scheduler-plugins: KubeRay builds its PodGroup's owner reference by hand from the RayCluster it read, whose "
     "TypeMeta is set: `{apiVersion: ray.io/v1, kind: RayCluster, name, uid}`, which the API server takes; no "
     "`controller` or `blockOwnerDeletion` (Volcano's is `NewControllerRef`'s, with both)."),
)


@dataclass
class Runs:
    outcomes: dict[tuple[str, str], conf.Outcome]


@pytest.fixture(scope="module")
def runs(control_plane: Kube, kubeconfig: Path, nats_url: str, tmp_path_factory: pytest.TempPathFactory,
         request: pytest.FixtureRequest) -> Iterator[Runs]:
    try:
        binary = operator_binary()
    except NoKubeRay as e:
        pytest.fail(f"no KubeRay operator to compare with: {e}")
    missing = [crd for crd in POD_GROUP_CRDS if not control_plane.exists(f"{CRDS}/{crd}")]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: the control plane has no scheduler CRDs "
                    "(raybus_testbed.schedulers, scripts/fetch-scheduler-crds.sh)")
    for _, path in conf.POD_GROUP_KINDS:  # an Established CRD's storage may still be initialising (429)
        listing = path.format(ns="default")
        wait_until(partial(control_plane.get, listing), what=f"{listing} served", timeout=60)
    work = tmp_path_factory.mktemp("batch-schedulers")
    only = selected(request.session)
    outcomes: dict[tuple[str, str], conf.Outcome] = {}
    for scheduler in SCHEDULERS:
        if only is None or scheduler in only:
            for stem, outcome in run_one(scheduler, control_plane, kubeconfig, nats_url, work / scheduler,
                                         binary).items():
                outcomes[(scheduler, stem)] = outcome
    report = conf.render_matrix(outcomes, oracle=oracle_version(), remarks=REMARKS)
    (work / "conformance-batch.md").write_text(report)
    (work / "differences.json").write_text(json.dumps(
        {pair(*key): o.unlisted for key, o in outcomes.items() if o.unlisted}, indent=1, default=str))
    print("\n" + report)
    target = os.environ.get("RAYBUS_CONFORMANCE_REPORT")
    if target and only is None:
        conf.splice(Path(target), report, begin=conf.BATCH_BEGIN, end=conf.BATCH_END)
    yield Runs(outcomes)


@pytest.mark.parametrize("stem", STEMS)
@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_matches_kuberay_or_differs_only_where_listed(runs: Runs, scheduler: str, stem: str) -> None:
    outcome = runs.outcomes[(scheduler, stem)]
    detail = "\n".join(f"  {path}: KubeRay {json.dumps(a, default=str)[:300]} / Raybus "
                       f"{json.dumps(b, default=str)[:300]}" for path, a, b in outcome.unlisted)
    assert not outcome.unlisted, (f"{pair(scheduler, stem)}: differences from KubeRay that docs/compatibility.md "
                                  f"does not list:\n{detail}")


def test_every_listed_difference_still_shows(runs: Runs) -> None:
    shown = {k.pattern for o in runs.outcomes.values() for _, k in o.listed}
    stale = [k.label for k in KNOWN if k.pattern not in shown and not k.sometimes]
    assert not stale, f"listed differences no pair shows any more (fixed? then drop them): {stale}"
