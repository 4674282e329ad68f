"""Conformance, with the real KubeRay operator as the oracle.

Every valid RayCluster fixture (`tests/fixtures/valid/`) is applied twice on one control plane:
to a namespace the real KubeRay operator watches (`raybus_testbed.kuberay`, built from its Go
module; `RAYBUS_KUBERAY_VERSION`, or `RAYBUS_KUBERAY_BIN` for a binary built elsewhere) and to
one Raybus watches (watcher, actuator, cluster-ctl as processes). Once both settle, the status,
the children and the Events of each pair are normalised and compared
(`raybus_testbed.conformance`). A difference must be fixed or listed in `KNOWN` with its reason
(docs/compatibility.md says the same in prose); the test fails on an unlisted difference and on
a listed one that no manifest shows any more.

KubeRay runs with the feature gates Raybus turns on by default (KubeRay v1.7's defaults), where
its version has them. The report (manifest → identical / differs where listed / differs) is
printed, written to the test's temp dir, and, with `RAYBUS_CONFORMANCE_REPORT=<file>` (`make
conformance` sets docs/compatibility.md), spliced into that file between its markers.

RayJob, RayService and RayCronJob fixtures are listed as not compared until Raybus has their
controllers.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from raybus_testbed import conformance as conf
from raybus_testbed.kube import Kube
from raybus_testbed.kuberay import V17_DEFAULT_GATES, KubeRay, NoKubeRay, operator_binary, oracle_version
from raybus_testbed.services import Services

pytestmark = [pytest.mark.integration, pytest.mark.conformance]

REPO = Path(__file__).resolve().parents[2]
FIXTURES = sorted((REPO / "tests" / "fixtures" / "valid").glob("*.yaml"))
NOT_BUILT = {
    "RayJob": "RayJob: job-ctl is not built yet",
    "RayService": "RayService: serve-ctl is not built yet",
    "RayCronJob": "RayCronJob: the cron service is not built yet",
}
SETTLE_SECONDS = 6.0  # a reading unchanged this long counts as settled
TIMEOUT_SECONDS = 150.0

_POD = r"Pod/[^.]+"
_CONTAINER = rf"{_POD}\.spec\.(containers|initContainers)\.[^.]+"
# Each difference that showed, with its reason; docs/compatibility.md says the same in prose.
# `version=True`: the oracle (v1.5.0, the newest the Go module proxy serves) predates KubeRay
# v1.7, which Raybus follows.
KNOWN: tuple[conf.Known, ...] = (
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
               "message, so a second group's worker Pods or a second Service show as another Event", version=True),
    # Last, so that the differences above still show on this manifest where they apply.
    conf.Known("custom head Service with repeated ports (everything after it)", r".*",
               "a custom head Service whose ports repeat the computed ones: KubeRay appends the computed ports "
               "anyway and the API server refuses the Service, so KubeRay's cluster never gets further; Raybus "
               "skips the ports the user already named", manifests=("raycluster-head-service-ingress",)),
)


@dataclass
class Manifest:
    path: Path
    obj: dict[str, Any]

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])


def manifests() -> list[Manifest]:
    found = [Manifest(p, yaml.safe_load(p.read_text())) for p in FIXTURES]
    names = [m.name for m in found]
    for m in found:  # two fixtures with one name would share children: give each its file's name
        if names.count(m.name) > 1:
            m.obj["metadata"]["name"] = m.stem
    return found


def read(api: Kube, ns: str, name: str) -> conf.Reading | None:
    """What the operator watching `ns` made of RayCluster `name` (None before it exists)."""
    try:
        cluster = api.get(f"/apis/ray.io/v1/namespaces/{ns}/rayclusters/{name}")
    except Exception:  # noqa: BLE001 - not there yet
        return None
    uid = cluster["metadata"]["uid"]
    children = [
        {**o, "kind": kind}
        for kind, path in conf.CHILD_KINDS
        for o in api.get(path.format(ns=ns))["items"]
        if conf.owned_by(o, uid)
    ]
    events = api.get(f"/api/v1/namespaces/{ns}/events",
                     fieldSelector=f"involvedObject.kind=RayCluster,involvedObject.name={name}")["items"]
    scrub = conf.scrubber(ns, uid, children)
    return conf.Reading(
        status=conf.normalise_status(cluster.get("status") or {}, scrub),
        children=conf.keyed_children(children, scrub),
        events=tuple(sorted({conf.normalise_event(e, scrub) for e in events})),
    )


def settle(api: Kube, pairs: list[tuple[str, str]], clusters: list[str], deadline: float
           ) -> dict[tuple[str, str], conf.Reading | None]:
    """Read every (namespace, cluster) until each reading has a status and stayed the same for
    SETTLE_SECONDS, or the deadline passes; the last readings."""
    last: dict[tuple[str, str], tuple[str, float, conf.Reading | None]] = {}
    while True:
        now = time.monotonic()
        settled = True
        for ns, _ in pairs:
            for name in clusters:
                reading = read(api, ns, name)
                fingerprint = json.dumps([reading.status, reading.children, reading.events] if reading else None,
                                         sort_keys=True, default=str)
                prev = last.get((ns, name))
                since = prev[1] if prev and prev[0] == fingerprint else now
                last[(ns, name)] = (fingerprint, since, reading)
                if reading is None or not reading.status or now - since < SETTLE_SECONDS:
                    settled = False
        if settled or now > deadline:
            return {k: v[2] for k, v in last.items()}
        time.sleep(1.0)


@dataclass
class Run:
    outcomes: dict[str, conf.Outcome]
    oracle: str


@pytest.fixture(scope="module")
def run(control_plane: Kube, kubeconfig: Path, nats_url: str, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Run]:
    try:
        binary = operator_binary()
    except NoKubeRay as e:
        pytest.fail(f"no KubeRay operator to compare with: {e}")
    work = tmp_path_factory.mktemp("conformance")
    stamp = str(int(time.time()))[-6:]
    kr_ns, rb_ns = f"conf-kuberay-{stamp}", f"conf-raybus-{stamp}"
    for ns in (kr_ns, rb_ns):
        control_plane.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    items = manifests()
    outcomes = {m.stem: conf.Outcome(m.stem, note=NOT_BUILT[m.kind]) for m in items if m.kind in NOT_BUILT}
    clusters = [m for m in items if m.kind == "RayCluster"]
    services = Services(work, nats_url, kubeconfig)
    kuberay = KubeRay(work, kubeconfig, namespaces=[kr_ns], binary=binary, feature_gates=V17_DEFAULT_GATES)
    try:
        kuberay.start()
        for name in ("watcher", "actuator", "cluster-ctl"):
            services.start(name, f"raybus-{name}", RAYBUS_WATCH_NAMESPACES=rb_ns)
        for m in clusters:
            for ns in (kr_ns, rb_ns):
                obj = {**m.obj, "metadata": {**m.obj["metadata"], "namespace": ns}}
                control_plane.create(f"/apis/ray.io/v1/namespaces/{ns}/rayclusters", obj)
        readings = settle(control_plane, [(kr_ns, "kuberay"), (rb_ns, "raybus")], [m.name for m in clusters],
                          time.monotonic() + TIMEOUT_SECONDS)
        for ns in (kr_ns, rb_ns):  # the clusters themselves, for a reader chasing a difference
            (work / f"{ns}.json").write_text(json.dumps(
                control_plane.get(f"/apis/ray.io/v1/namespaces/{ns}/rayclusters")["items"], indent=1))
    finally:
        kuberay.stop()
        services.stop()
    for m in clusters:
        theirs, ours = readings[(kr_ns, m.name)], readings[(rb_ns, m.name)]
        if theirs is None or ours is None:
            outcomes[m.stem] = conf.Outcome(m.stem, unlisted=[("(cluster)", theirs is not None, ours is not None)])
            continue
        outcomes[m.stem] = conf.classify(m.stem, conf.compare(theirs, ours), KNOWN)
    report = conf.render(list(outcomes.values()), oracle=oracle_version())
    (work / "conformance.md").write_text(report)
    (work / "differences.json").write_text(json.dumps(
        {stem: o.unlisted for stem, o in outcomes.items() if o.unlisted}, indent=1, default=str))
    print("\n" + report)
    target = os.environ.get("RAYBUS_CONFORMANCE_REPORT")
    if target:
        conf.splice(Path(target), report)
    yield Run(outcomes, oracle_version())
    for ns in (kr_ns, rb_ns):
        control_plane.delete(f"/api/v1/namespaces/{ns}")


@pytest.mark.parametrize("stem", [m.stem for m in manifests() if m.kind == "RayCluster"])
def test_fixture_matches_kuberay_or_differs_only_where_listed(run: Run, stem: str) -> None:
    outcome = run.outcomes[stem]
    detail = "\n".join(f"  {path}: KubeRay {json.dumps(a, default=str)[:300]} / Raybus "
                       f"{json.dumps(b, default=str)[:300]}" for path, a, b in outcome.unlisted)
    assert not outcome.unlisted, f"{stem}: differences from KubeRay that docs/compatibility.md does not list:\n{detail}"


def test_every_listed_difference_still_shows(run: Run) -> None:
    shown = {k.pattern for o in run.outcomes.values() for _, k in o.listed}
    stale = [k.label for k in KNOWN if k.pattern not in shown]
    assert not stale, f"listed differences no manifest shows any more (fixed? then drop them): {stale}"
