"""Conformance with KubeRay, with the real operator as the oracle: the pure half.

The harness (`tests/conformance/`) applies one manifest to a namespace KubeRay watches and the
same manifest to a namespace Raybus watches, waits for both to settle, and reads back what
each operator made: the cluster's status, every child it owns (pods, Services, RBAC, Secrets,
Jobs, Ingresses, PVCs) and the Events about the cluster. This module turns the two readings
into one comparable shape and says where they differ:

| object | status | children | names made neutral |
|---|---|---|---|
| RayCluster | `normalise_status` | `CHILD_KINDS` | pods' and replica groups' random suffixes |
| RayJob | `normalise_rayjob_status` | `RAYJOB_CHILD_KINDS` | `<rayjob>-<5 chars>` (clusters, submission ids) |
| RayService | `normalise_rayservice_status` | `RAYSERVICE_CHILD_KINDS` + `head_pods_serve_label` | `<rs>-<5 chars>` (clusters) |

- `normalise_*` remove what is not an operator's choice: uids, resourceVersions, timestamps,
  managed fields, the namespace, IP addresses and node ports, what the API server adds (the
  service-account token volume's random suffix), node names and pod status (kwok's), random
  name suffixes and `generateName` (Raybus names its pods itself, a difference
  docs/compatibility.md lists), the stamped operator version and hash, and secret values.
- `diff` walks both trees and names every differing field by path; lists of named items
  (containers, env, ports, volumes, ...) are matched by name, so the path says which one.
- `KNOWN` lists the differences Raybus has on purpose (or because the oracle is another
  KubeRay version than the one Raybus follows), each with its reason; `classify` splits a diff
  into listed and unlisted ones. The test fails on an unlisted difference, and on a listed one
  no manifest shows any more (the list must stay true).
- `render` writes the report: manifest → identical / differs only where listed / differs.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from raybus_common.crds import batch
from raybus_common.objects import SUFFIX_ALPHABET

Obj = dict[str, Any]

# The kinds a RayCluster owns, as (kind, collection path under /api/v1 or /apis/...).
CHILD_KINDS: tuple[tuple[str, str], ...] = (
    ("Pod", "/api/v1/namespaces/{ns}/pods"),
    ("Service", "/api/v1/namespaces/{ns}/services"),
    ("ServiceAccount", "/api/v1/namespaces/{ns}/serviceaccounts"),
    ("Secret", "/api/v1/namespaces/{ns}/secrets"),
    ("PersistentVolumeClaim", "/api/v1/namespaces/{ns}/persistentvolumeclaims"),
    ("Role", "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles"),
    ("RoleBinding", "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"),
    ("Ingress", "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses"),
    ("Job", "/apis/batch/v1/namespaces/{ns}/jobs"),
)
# The kinds a RayJob owns: its RayCluster, its submitter Job, its `<rayjob>-head-svc`.
RAYJOB_CHILD_KINDS: tuple[tuple[str, str], ...] = (
    ("RayCluster", "/apis/ray.io/v1/namespaces/{ns}/rayclusters"),
    ("Service", "/api/v1/namespaces/{ns}/services"),
    ("Job", "/apis/batch/v1/namespaces/{ns}/jobs"),
)

_IP = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_SUFFIX = re.compile(r"-[a-z0-9]{5}$")
_TOKEN_VOLUME = re.compile(r"^kube-api-access-[a-z0-9]{5}$")
_VERSION_LABELS = ("ray.io/kuberay-version",)
REPLICA_NAME = "ray.io/worker-group-replica-name"
_HASH_ANNOTATIONS = ("ray.io/upgrade-strategy-recreate-hash",)
_VOLATILE_META = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink",
                  "namespace")
_TIME_KEYS = frozenset({"lastTransitionTime", "lastUpdateTime", "lastProbeTime", "startTime", "eventTime",
                        "firstTimestamp", "lastTimestamp", "deletionTimestamp", "lastHeartbeatTime", "endTime",
                        "jobStatusCheckFailureStartTime"})


@dataclass(frozen=True)
class Reading:
    """What one operator made of one manifest: status, children by kind/name, Events."""

    status: Obj
    children: Mapping[str, Obj]
    events: tuple[tuple[str, str, str], ...]  # (type, reason, message), sorted, distinct


def owned_by(obj: Obj, uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


@dataclass(frozen=True)
class Scrubber:
    """Makes strings neutral: the namespace, IP addresses, and exact names (random pod and
    replica names, the cluster's uid) replaced by stand-ins, longest first; and, for each of
    `generated`, the names an operator makes of it, `<base>-<5 chars>` (a RayJob's clusters and
    submission ids; the characters of `suffix_chars`, a regular expression class's inside), made
    `<base>-<rand>` wherever they stand, inside longer names too (`<base>-x7k2p-head-svc`)."""

    namespace: str
    replacements: Mapping[str, str] = field(default_factory=dict)
    generated: tuple[str, ...] = ()
    suffix_chars: str = "a-z0-9"

    def text(self, value: str) -> str:
        if value == self.namespace:
            return "NS"
        out = _IP.sub("<ip>", value.replace(f"{self.namespace}/", "NS/").replace(f".{self.namespace}.", ".NS."))
        for old in sorted(self.replacements, key=len, reverse=True):
            if old in out:
                out = re.sub(rf"(?<![a-z0-9-]){re.escape(old)}(?![a-z0-9-])", self.replacements[old], out)
        for base in self.generated:
            out = re.sub(rf"(?<![a-z0-9-]){re.escape(base)}-[{self.suffix_chars}]{{5}}(?![a-z0-9])", f"{base}-<rand>",
                         out)
        return out

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            return {k: (("<time>" if v else v) if k in _TIME_KEYS else self(v)) for k, v in value.items()}
        return value


def scrubber(namespace: str, cluster_uid: str, children: Iterable[Obj]) -> Scrubber:
    """The scrubber for one cluster: its uid, the random names of its pods and of its multi-host
    replica groups (`<name>-<rand>`), and the node ports of its Services (in `status.endpoints`)."""
    names: dict[str, str] = {cluster_uid: "<cluster-uid>"} if cluster_uid else {}
    for obj in children:
        meta = obj.get("metadata") or {}
        if obj.get("kind") == "Pod":
            names[meta.get("name", "")] = _SUFFIX.sub("-<rand>", meta.get("name", ""))
            replica = (meta.get("labels") or {}).get(REPLICA_NAME)
            if replica:
                names[replica] = _SUFFIX.sub("-<rand>", replica)
        if obj.get("kind") == "Service":  # node ports are the API server's pick
            for port in (obj.get("spec") or {}).get("ports") or []:
                if port.get("nodePort"):
                    names[str(port["nodePort"])] = "<node-port>"
    names.pop("", None)
    return Scrubber(namespace, names)


def _meta(obj: Obj) -> Obj:
    meta: Obj = obj.setdefault("metadata", {})
    return meta


def normalise_child(obj: Obj, scrub: Scrubber) -> Obj:
    """One child with what is not the operator's choice removed (see the module docstring)."""
    out = copy.deepcopy(obj)
    meta = _meta(out)
    for key in _VOLATILE_META:
        meta.pop(key, None)
    for ref in meta.get("ownerReferences") or []:
        ref.pop("uid", None)
    for key in _VERSION_LABELS:
        for section in ("labels", "annotations"):
            if key in (meta.get(section) or {}):
                meta[section][key] = "<version>"
    for key in _HASH_ANNOTATIONS:
        if key in (meta.get("annotations") or {}):
            meta["annotations"][key] = "<hash>"
    kind = out.get("kind")
    if kind == "Pod":
        meta.pop("generateName", None)  # Raybus names its pods itself (docs/compatibility.md, pod names)
        spec = out.get("spec") or {}
        spec.pop("nodeName", None)
        for vol in spec.get("volumes") or []:
            if _TOKEN_VOLUME.match(vol.get("name", "")):
                vol["name"] = "kube-api-access-<rand>"
        for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
            for mount in c.get("volumeMounts") or []:
                if _TOKEN_VOLUME.match(mount.get("name", "")):
                    mount["name"] = "kube-api-access-<rand>"
            for env in c.get("env") or []:
                if env.get("name") == "RAY_USAGE_STATS_EXTRA_TAGS":
                    env["value"] = re.sub(r"kuberay_version=[^;]*", "kuberay_version=<version>",
                                          env.get("value", ""))
        out["status"] = {"phase": (obj.get("status") or {}).get("phase")}
    if kind == "Secret":
        for section in ("data", "stringData"):
            if out.get(section):
                out[section] = {k: "<secret>" for k in out[section]}
    if kind == "Job":
        out.pop("status", None)
        spec = out.get("spec") or {}
        spec.pop("selector", None)  # the Job controller's, with the Job's uid
        tmeta = (spec.get("template") or {}).get("metadata") or {}
        for k in ("controller-uid", "batch.kubernetes.io/controller-uid"):
            (tmeta.get("labels") or {}).pop(k, None)
        for c in ((spec.get("template") or {}).get("spec") or {}).get("containers") or []:
            split_submit_command(c)
    if kind == "RayCluster":  # a RayJob's: what it asked for; the cluster's own status is cluster-ctl's
        out.pop("status", None)
        head = ((out.get("spec") or {}).get("headGroupSpec") or {}).get("template") or {}
        for c in (head.get("spec") or {}).get("containers") or []:
            split_submit_command(c)
    if kind == "Service":
        spec = out.get("spec") or {}
        for k in ("clusterIP", "clusterIPs"):
            if spec.get(k) not in ("None", ["None"]):
                spec.pop(k, None)
        for port in spec.get("ports") or []:
            if "nodePort" in port:
                port["nodePort"] = "<node-port>"
    scrubbed: Obj = scrub(out)
    return scrubbed


_WAIT_END = " ; done ; "


def split_submit_command(container: Obj) -> None:
    """A RayJob submitter's `args[0]` (one shell line) made `{"wait": …, "command": …}`: the loop
    that waits for the dashboard first (`until … ; done`), if any, apart from the rest, so the
    two compare apart (KubeRay v1.7 waits with Python, v1.5 with wget in SidecarMode and not at
    all in K8sJobMode; what is submitted must be the same)."""
    args = container.get("args") or []
    if not args or not isinstance(args[0], str) or "ray job submit" not in args[0]:
        return
    line: str = args[0]
    if line.startswith("until ") and _WAIT_END in line:
        wait, rest = line.split(_WAIT_END, 1)
        container["args"] = [{"wait": wait + " ; done", "command": rest}, *args[1:]]
    else:
        container["args"] = [{"command": line}, *args[1:]]


def keyed_children(objs: Iterable[Obj], scrub: Scrubber) -> dict[str, Obj]:
    """Normalised children by `Kind/name` (names scrubbed); same-key pods (a group's replicas)
    get `#0`, `#1`, ... in the order of their normalised content, so equal groups compare equal."""
    return numbered((f"{obj.get('kind')}/{scrub.text((obj.get('metadata') or {}).get('name', ''))}",
                     normalise_child(obj, scrub)) for obj in objs)


def numbered(keyed: Iterable[tuple[str, Obj]]) -> dict[str, Obj]:
    """(key, object) pairs as a dict; objects sharing a key get `#0`, `#1`, ... in the order of
    their content, so that equal groups compare equal whichever was made first."""
    groups: dict[str, list[Obj]] = {}
    for key, obj in keyed:
        groups.setdefault(key, []).append(obj)
    out: dict[str, Obj] = {}
    for key, members in sorted(groups.items()):
        if len(members) == 1:
            out[key] = members[0]
            continue
        for i, m in enumerate(sorted(members, key=repr)):
            out[f"{key}#{i}"] = m
    return out


def normalise_status(status: Obj, scrub: Scrubber) -> Obj:
    """The status with its timestamps (condition transitions, `stateTransitionTimes`) made neutral."""
    out: Obj = scrub(copy.deepcopy(status))
    for state in out.get("stateTransitionTimes") or {}:
        out["stateTransitionTimes"][state] = "<time>"
    return out


def normalise_event(event: Obj, scrub: Scrubber) -> tuple[str, str, str]:
    """(type, reason, message) of a core/v1 view of an Event, message scrubbed."""
    message = scrub.text(event.get("message") or event.get("note") or "")
    return event.get("type", ""), event.get("reason", ""), message


# -- RayJobs --------------------------------------------------------------------------------------


def rayjob_scrubber(namespace: str, rayjob: Obj) -> Scrubber:
    """The scrubber for one RayJob: its uid, and the names it generates (`<rayjob>-<5 chars>`:
    each attempt's RayCluster and Ray submission id, whichever operator drew them)."""
    return _generating_scrubber(namespace, rayjob, "<rayjob-uid>")


def _generating_scrubber(namespace: str, owner: Obj, uid_stand_in: str, suffix_chars: str = "a-z0-9") -> Scrubber:
    meta = owner.get("metadata") or {}
    uid = meta.get("uid", "")
    return Scrubber(namespace, {uid: uid_stand_in} if uid else {}, generated=(meta.get("name", ""),),
                    suffix_chars=suffix_chars)


def normalise_rayjob_status(status: Obj, scrub: Scrubber) -> Obj:
    """A RayJob's status, its times made neutral, generated names scrubbed (in `jobId`,
    `rayClusterName`, `dashboardURL`, messages), and `rayClusterStatus` reduced to whether it is
    there: the cluster's status is compared on the RayCluster fixtures, and which pass copied it
    is timing."""
    out: Obj = scrub(copy.deepcopy(status))
    _presence(out, "rayClusterStatus")
    return out


def _presence(obj: Obj, key: str) -> None:
    """`obj[key]` reduced to `<present>` when it has something in it (an empty value stays)."""
    if obj.get(key):
        obj[key] = "<present>"


_FINISHED = ("Complete", "Failed")


def cleanup_after_end(rayjob: Obj) -> list[float]:
    """The seconds after a finished RayJob's `status.endTime` at which its operator deletes
    something still (KubeRay's rules: deletion rules matching the job status, else the legacy
    policy for it, else `shutdownAfterJobFinishes`, each after its TTL; never for a
    `clusterSelector` RayJob); empty while it has not finished. A comparison waits for the ones
    within reach, so both operators are read after, not astride, a deletion."""
    spec, status = rayjob.get("spec") or {}, rayjob.get("status") or {}
    if status.get("jobDeploymentStatus") not in _FINISHED or spec.get("clusterSelector"):
        return []
    strategy = spec.get("deletionStrategy") or {}
    if strategy.get("deletionRules"):
        return sorted({float((r.get("condition") or {}).get("ttlSeconds") or 0) for r in strategy["deletionRules"]
                       if _rule_matches(r.get("condition") or {}, status)})
    ttl = float(spec.get("ttlSecondsAfterFinished") or 0)
    if strategy:
        side = {"SUCCEEDED": "onSuccess", "FAILED": "onFailure"}.get(status.get("jobStatus", ""))
        policy = ((strategy.get(side) or {}) if side else {}).get("policy")
        return [ttl] if policy not in (None, "DeleteNone") else []
    return [ttl] if spec.get("shutdownAfterJobFinishes") else []


def _rule_matches(condition: Obj, status: Obj) -> bool:
    if condition.get("jobStatus"):
        return bool(condition["jobStatus"] == status.get("jobStatus"))
    return bool(condition.get("jobDeploymentStatus") and condition["jobDeploymentStatus"] ==
                status.get("jobDeploymentStatus"))


SUBMITTER_LABEL = "ray.io/originated-from-crd"


def oracle_submitter_policy(namespace: str) -> tuple[Obj, Obj]:
    """A MutatingAdmissionPolicy and its binding that label the submitter pods KubeRay's Jobs
    create in `namespace` as v1.7 labels them (`ray.io/originated-from-crd: RayJob`): a pod
    owned by a Job whose first container has `RAY_JOB_SUBMISSION_ID`. v1.5 leaves them
    unlabelled, and the testbed knows a submitter pod by that label (kwok's stages leave it to
    the pod runner, which runs it); without it kwok would complete v1.5's submitter pods without
    running them. Pods only, at creation: the Job compared keeps what KubeRay wrote. (A
    SidecarMode head pod needs nothing: the pod runner finds head pods by `ray.io/node-type`.)"""
    name = f"raybus-conformance-submitters-{namespace}"
    is_submitter = (
        f"!(has(object.metadata.labels) && '{SUBMITTER_LABEL}' in object.metadata.labels) && "
        "has(object.metadata.ownerReferences) && object.metadata.ownerReferences.exists(r, r.kind == 'Job') && "
        "has(object.spec.containers[0].env) && "
        "object.spec.containers[0].env.exists(e, e.name == 'RAY_JOB_SUBMISSION_ID')")
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                                                    "resources": ["pods"]}]},
            "matchConditions": [{"name": "a-rayjob-submitter", "expression": is_submitter}],
            "failurePolicy": "Fail",
            "reinvocationPolicy": "Never",
            "mutations": [{"patchType": "ApplyConfiguration", "applyConfiguration": {
                "expression": f'Object{{metadata: Object.metadata{{labels: {{"{SUBMITTER_LABEL}": "RayJob"}}}}}}'}}],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "matchResources": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}},
    }
    return policy, binding


# -- RayServices ----------------------------------------------------------------------------------

# The kinds a RayService owns: its RayClusters and its `<rs>-head-svc` and `<rs>-serve-svc`.
RAYSERVICE_CHILD_KINDS: tuple[tuple[str, str], ...] = (
    ("RayCluster", "/apis/ray.io/v1/namespaces/{ns}/rayclusters"),
    ("Service", "/api/v1/namespaces/{ns}/services"),
)
SERVE_LABEL = "ray.io/serve"
_CLUSTER_LABEL, _NODE_TYPE_LABEL = "ray.io/cluster", "ray.io/node-type"


def rayservice_scrubber(namespace: str, rayservice: Obj, pods: Iterable[Obj] = ()) -> Scrubber:
    """The scrubber for one RayService: its uid, the random suffix of each of `pods` (its clusters'
    head pods, which Events name), and its clusters' names `<rs>-<5 chars>` (KubeRay draws them at
    random, serve-ctl derives them from the uid, both of the API server's generateName alphabet),
    inside longer names too; not `<rs>-serve-svc` (`e` is not of that alphabet)."""
    drawn = _generating_scrubber(namespace, rayservice, "<rayservice-uid>", SUFFIX_ALPHABET)
    names = {name: _SUFFIX.sub("-<rand>", name) for pod in pods if (name := (pod.get("metadata") or {}).get("name"))}
    return Scrubber(namespace, {**drawn.replacements, **names}, drawn.generated, drawn.suffix_chars)


def normalise_rayservice_status(status: Obj, scrub: Scrubber) -> Obj:
    """A RayService's status, its times (`lastUpdateTime`, condition transitions) made neutral,
    its clusters' drawn names scrubbed (`rayClusterName`, messages), and each side's
    `rayClusterStatus` reduced to whether it is there: the cluster's status is compared on the
    RayCluster fixtures, and which pass copied it is timing. Conditions, `serviceStatus`,
    `numServeEndpoints`, `observedGeneration` and `applicationStatuses` are kept as written."""
    out: Obj = scrub(copy.deepcopy(status))
    for side in ("activeServiceStatus", "pendingServiceStatus"):
        if isinstance(out.get(side), dict):
            _presence(out[side], "rayClusterStatus")
    return out


def head_pods_serve_label(pods: Iterable[Obj], clusters: Iterable[str]) -> list[Obj]:
    """What is compared of the head pods of a RayService's `clusters`: each as a stand-in child
    named `<cluster>-head` (its own name has a random suffix either way) with its `ray.io/serve`
    label (absent when it has none) and its phase."""
    names = set(clusters)
    out: list[Obj] = []
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if labels.get(_NODE_TYPE_LABEL) != "head" or labels.get(_CLUSTER_LABEL) not in names:
            continue
        out.append({"kind": "Pod",
                    "metadata": {"name": f"{labels[_CLUSTER_LABEL]}-head",
                                 "labels": {k: v for k, v in labels.items() if k == SERVE_LABEL}},
                    "status": {"phase": (pod.get("status") or {}).get("phase")}})
    return out


def rayservice_ready(rayservice: Obj) -> bool:
    """Whether the RayService's `Ready` condition is True."""
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (rayservice.get("status") or {}).get("conditions") or [])


def serve_code_missing(rayservice: Obj, importable: Iterable[str]) -> list[str]:
    """What the applications of a RayService's `serveConfigV2` need that a Ray head importing only
    the modules `importable` (and fetching nothing) lacks: each import path of another module,
    and each `runtime_env` (a working_dir, pip packages: fetched from the network); empty when
    the config can run there. An unparsable config is reported as such."""
    text = str((rayservice.get("spec") or {}).get("serveConfigV2") or "")
    try:
        config = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as e:
        return [f"a serve config that is no YAML ({e})"]
    modules = set(importable)
    missing: list[str] = []
    for app in (config or {}).get("applications") or []:
        path = str(app.get("import_path") or "")
        if path.split(":", 1)[0].split(".", 1)[0] not in modules:
            missing.append(f"`{path}`")
        env = app.get("runtime_env") or {}
        missing += [f"`runtime_env.{key}` {json.dumps(value)}" for key, value in env.items()]
    return list(dict.fromkeys(missing))


# -- batch schedulers -----------------------------------------------------------------------------

# What a batch scheduler reads of a pod or a RayCluster (`crds.batch`'s keys): the parameter labels
# of the parent, the pod labels the plugins stamp, the gang label, and the group annotations.
SCHEDULER_LABELS = frozenset({
    batch.VOLCANO_QUEUE_LABEL, batch.PRIORITY_CLASS_LABEL, batch.YUNIKORN_APP_ID_LABEL, batch.YUNIKORN_QUEUE_LABEL,
    batch.YUNIKORN_POD_APP_ID_LABEL, batch.YUNIKORN_POD_QUEUE_LABEL, batch.KAI_QUEUE_LABEL, batch.POD_GROUP_LABEL,
    batch.GANG_LABEL})
SCHEDULER_ANNOTATIONS = frozenset({
    batch.VOLCANO_GROUP_ANNOTATION, batch.VOLCANO_TASK_SPEC_ANNOTATION, batch.YUNIKORN_TASK_GROUPS_ANNOTATION,
    batch.YUNIKORN_TASK_GROUP_NAME_ANNOTATION})
# The group objects, as (flavour, collection path): Volcano's and scheduler-plugins' PodGroups.
POD_GROUP_KINDS: tuple[tuple[str, str], ...] = (
    (batch.VOLCANO, f"/apis/{batch.VOLCANO_API}/namespaces/{{ns}}/podgroups"),
    (batch.SCHEDULER_PLUGINS, f"/apis/{batch.SCHEDULER_PLUGINS_API}/namespaces/{{ns}}/podgroups"),
)


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def scheduler_view(obj: Obj) -> Obj:
    """What a batch scheduler reads of a pod or a RayCluster: its labels of `SCHEDULER_LABELS`, its
    annotations of `SCHEDULER_ANNOTATIONS` (YuniKorn's task groups parsed from their JSON, so that
    the order of keys is no difference; a value that is no JSON kept as text) and, for a pod,
    `spec.schedulerName`. Nothing else of it."""
    meta = obj.get("metadata") or {}
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k in SCHEDULER_LABELS}
    annotations = {k: _json_or_text(v) if k == batch.YUNIKORN_TASK_GROUPS_ANNOTATION else v
                   for k, v in (meta.get("annotations") or {}).items() if k in SCHEDULER_ANNOTATIONS}
    out: Obj = {"metadata": {"labels": labels, "annotations": annotations}}
    if obj.get("kind") == "Pod":
        out["spec"] = {"schedulerName": (obj.get("spec") or {}).get("schedulerName")}
    return out


def pod_group_view(obj: Obj) -> Obj:
    """A PodGroup as compared: its labels, its spec, and its owner references' kind, name and
    controller flag (not its status: a scheduler writes that, and none runs here)."""
    meta = obj.get("metadata") or {}
    refs = [{k: ref[k] for k in ("kind", "name", "controller") if k in ref} for ref in meta.get("ownerReferences") or []]
    return {"metadata": {"labels": dict(meta.get("labels") or {}), "ownerReferences": refs},
            "spec": copy.deepcopy(obj.get("spec") or {})}


def batch_reading(names: Iterable[str], *, clusters: Iterable[Obj] = (), pods: Iterable[Obj] = (),
                  pod_groups: Iterable[tuple[str, Obj]] = (), scrub: Scrubber) -> dict[str, Obj]:
    """What the batch scheduler sees of one manifest, by key, names scrubbed: `names` are the
    manifest's object's and the RayClusters it made; `clusters` a RayJob's RayClusters
    (`RayCluster/<name>`, their `scheduler_view`); of `pods` (a namespace's), those of a cluster
    in `names` (`Pod/<cluster>/<ray.io/group>`, numbered: `numbered`); of `pod_groups` (a
    namespace's, as (flavour, PodGroup)), those owned by or named after one of `names` (`ray-<name>-pg`
    or `<name>`; `PodGroup:<flavour>/<name>`, their `pod_group_view`)."""
    ours = set(names)
    keyed: list[tuple[str, Obj]] = []
    for cluster in clusters:
        keyed.append((f"RayCluster/{(cluster.get('metadata') or {}).get('name', '')}", scheduler_view(cluster)))
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if labels.get(_CLUSTER_LABEL) in ours:
            keyed.append((f"Pod/{labels[_CLUSTER_LABEL]}/{labels.get('ray.io/group', '')}", scheduler_view(pod)))
    for flavour, group in pod_groups:
        meta = group.get("metadata") or {}
        owners = {ref.get("name") for ref in meta.get("ownerReferences") or []}
        name = meta.get("name", "")
        if owners & ours or any(name in (f"ray-{n}-pg", n) for n in ours):
            keyed.append((f"PodGroup:{flavour}/{name}", pod_group_view(group)))
    return numbered((scrub.text(k), scrub(v)) for k, v in keyed)


# -- diff -----------------------------------------------------------------------------------------

_NAMED_LISTS = frozenset({"containers", "initContainers", "env", "ports", "volumes", "volumeMounts",
                          "conditions", "ownerReferences", "rules", "subjects", "tolerations", "imagePullSecrets",
                          "workerGroupStatuses"})


def _name_of(item: Any) -> str | None:
    if isinstance(item, dict):
        for key in ("name", "type", "groupName", "containerPort", "port", "key"):
            if key in item:
                return str(item[key])
    return None


def diff(kuberay: Any, raybus: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Every differing field as (path, KubeRay's value, Raybus's value); `<absent>` for a
    missing one. Lists of named items are matched by name."""
    if isinstance(kuberay, dict) and isinstance(raybus, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in sorted(set(kuberay) | set(raybus)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in raybus:
                out.append((sub, kuberay[key], "<absent>"))
            elif key not in kuberay:
                out.append((sub, "<absent>", raybus[key]))
            else:
                out.extend(diff(kuberay[key], raybus[key], sub))
        return out
    if isinstance(kuberay, list) and isinstance(raybus, list):
        leaf = path.rsplit(".", 1)[-1]
        names_k, names_r = [_name_of(x) for x in kuberay], [_name_of(x) for x in raybus]
        if (leaf in _NAMED_LISTS and None not in names_k and None not in names_r
                and len(set(names_k)) == len(names_k) and len(set(names_r)) == len(names_r)):
            return diff(dict(zip(names_k, kuberay, strict=True)), dict(zip(names_r, raybus, strict=True)), path)
        if len(kuberay) == len(raybus):
            return [d for i, (a, b) in enumerate(zip(kuberay, raybus, strict=True)) for d in diff(a, b, f"{path}[{i}]")]
    return [] if kuberay == raybus else [(path, kuberay, raybus)]


def compare(kuberay: Reading, raybus: Reading) -> list[tuple[str, Any, Any]]:
    """The differences between two readings of the same manifest, by path: `status.…`,
    `<Kind>/<name>.…` for children, `events` for the Event set."""
    out = diff(kuberay.status, raybus.status, "status")
    out += diff(dict(kuberay.children), dict(raybus.children), "")
    missing = sorted(set(kuberay.events) - set(raybus.events))
    extra = sorted(set(raybus.events) - set(kuberay.events))
    for ev in missing:
        out.append((f"events[{ev[1]}]", " ".join(ev), "<absent>"))
    for ev in extra:
        out.append((f"events[{ev[1]}]", "<absent>", " ".join(ev)))
    return out


# -- what differs on purpose ----------------------------------------------------------------------


@dataclass(frozen=True)
class Known:
    """A difference Raybus has on purpose (`version` False) or because the oracle runs another
    KubeRay version than the one Raybus follows (`version` True); `sometimes` for one that
    depends on a race of KubeRay's, which not every run shows (so its absence is no sign that
    the list went stale); `empty` for one where a side merely has an empty value the other
    lacks (`{}` against absent), never a value with something in it; `kuberay_only` for one where
    KubeRay has something Raybus lacks, never where Raybus has what KubeRay lacks (an Event note
    KubeRay never writes is no series folded differently)."""

    label: str  # a few words for the report's table
    pattern: str  # a regular expression matched against the whole path
    reason: str
    version: bool = False
    manifests: tuple[str, ...] = ()  # only in these manifests (file stems); empty: in any
    sometimes: bool = False
    empty: bool = False
    kuberay_only: bool = False

    def matches(self, manifest: str, path: str, kuberay: Any = None, raybus: Any = None) -> bool:
        if self.empty and not (_nothing(kuberay) and _nothing(raybus)):
            return False
        if self.kuberay_only and raybus != "<absent>":
            return False
        return (not self.manifests or manifest in self.manifests) and re.fullmatch(self.pattern, path) is not None


def _nothing(value: Any) -> bool:
    return value in ("<absent>", None, "", {}, [])


@dataclass
class Outcome:
    manifest: str
    listed: list[tuple[str, Known]] = field(default_factory=list)
    unlisted: list[tuple[str, Any, Any]] = field(default_factory=list)
    note: str = ""  # why it was not compared

    @property
    def verdict(self) -> str:
        if self.note:
            return "not compared"
        if self.unlisted:
            return "differs"
        if not self.listed:
            return "identical"
        return "identical but for the oracle's version" if all(k.version for _, k in self.listed) else \
            "differs where listed"


def classify(manifest: str, diffs: list[tuple[str, Any, Any]], known: Iterable[Known]) -> Outcome:
    table = list(known)
    out = Outcome(manifest)
    for d in diffs:
        hit = next((k for k in table if k.matches(manifest, *d)), None)
        if hit is None:
            out.unlisted.append(d)
        else:
            out.listed.append((d[0], hit))
    return out


def _fields(paths: Iterable[str], limit: int = 6) -> str:
    seen = list(dict.fromkeys(paths))
    text = ", ".join(f"`{p}`" for p in seen[:limit])
    return text + (f" and {len(seen) - limit} more" if len(seen) > limit else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(outcomes: list[Outcome], *, oracle: str, remarks: Iterable[str] = ()) -> str:
    """The report as Markdown: the counts, `remarks` (a paragraph each), one row per manifest (its
    verdict and which listed differences showed, or the unlisted fields), then the listed
    differences with their reasons."""
    compared = [o for o in outcomes if not o.note]
    identical = sum(1 for o in compared if o.verdict == "identical")
    versions = sum(1 for o in compared if o.verdict in ("identical", "identical but for the oracle's version"))
    clean = sum(1 for o in compared if o.verdict != "differs")
    summary = (f"Oracle: KubeRay {oracle}, run beside Raybus on the same control plane. Of {len(compared)} "
               f"compared manifests: {identical} identical; {versions} identical but for differences due to the "
               f"oracle's version; {clean} identical but for listed differences.")
    lines = [summary, ""]
    for remark in remarks:
        lines += [remark, ""]
    lines += ["| manifest | result | differences |", "|---|---|---|"]
    for o in sorted(outcomes, key=lambda o: o.manifest):
        if o.note:
            what = o.note
        elif o.unlisted:
            what = _fields(p for p, _, _ in o.unlisted)
        else:
            labels = dict.fromkeys(k.label + (" (oracle's version)" if k.version else "")
                                   for _, k in sorted(o.listed, key=lambda pk: (pk[1].version, pk[1].label)))
            what = ", ".join(labels) or "—"
        lines.append(f"| `{o.manifest}` | {o.verdict} | {_cell(what)} |")
    return "\n".join(lines + _listed_table(compared)) + "\n"


def _listed_table(compared: Iterable[Outcome]) -> list[str]:
    """The lines of the table of the listed differences that showed, with their reasons."""
    used: dict[str, Known] = {}
    for o in compared:
        for _, k in o.listed:
            used.setdefault(k.label, k)
    if not used:
        return []
    lines = ["", "The listed differences that showed in this run:", "",
             "| difference | why | due to the oracle's version |", "|---|---|---|"]
    for k in sorted(used.values(), key=lambda k: (k.version, k.label)):
        lines.append(f"| {_cell(k.label)} | {_cell(k.reason)} | {'yes' if k.version else 'no'} |")
    return lines


def render_matrix(outcomes: Mapping[tuple[str, str], Outcome], *, oracle: str, remarks: Iterable[str] = ()) -> str:
    """A report over two axes, as Markdown: `outcomes` by (row, column), e.g. (batch scheduler,
    manifest). The counts, `remarks` (a paragraph each), a table with one cell per pair (its
    verdict, and the listed differences that showed or the unlisted fields; `n/a` for a pair not
    run), then the listed differences with their reasons."""
    rows = list(dict.fromkeys(r for r, _ in outcomes))
    columns = sorted({c for _, c in outcomes})
    compared = [o for o in outcomes.values() if not o.note]
    identical = sum(1 for o in compared if o.verdict == "identical")
    clean = sum(1 for o in compared if o.verdict != "differs")
    summary = (f"Oracle: KubeRay {oracle}, run beside Raybus on the same control plane. Of {len(compared)} compared "
               f"pairs: {identical} identical; {clean} identical but for listed differences.")
    lines = [summary, ""]
    for remark in remarks:
        lines += [remark, ""]
    lines += ["| | " + " | ".join(f"`{c}`" for c in columns) + " |", "|---|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for column in columns:
            o = outcomes.get((row, column))
            if o is None:
                cells.append("n/a")
            elif o.note:
                cells.append(f"not compared: {o.note}")
            elif o.unlisted:
                cells.append(f"**differs**: {_fields(p for p, _, _ in o.unlisted)}")
            else:
                labels = ", ".join(dict.fromkeys(k.label for _, k in sorted(o.listed, key=lambda pk: pk[1].label)))
                cells.append(o.verdict + (f": {labels}" if labels else ""))
        lines.append(f"| `{row}` | " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines + _listed_table(compared)) + "\n"


BEGIN, END = "<!-- conformance:begin -->", "<!-- conformance:end -->"


# The batch schedulers' report (tests/conformance/test_batch_schedulers.py) has a section of its own.
BATCH_BEGIN, BATCH_END = "<!-- conformance-batch:begin -->", "<!-- conformance-batch:end -->"


def splice(doc: Path, report: str, *, begin: str = BEGIN, end: str = END) -> None:
    """Replace the text between the markers `begin` and `end` of `doc` (the conformance report's,
    by default) with `report`."""
    text = doc.read_text()
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"{doc} has no {begin} … {end} section")
    doc.write_text(text[: start + len(begin)] + "\n" + report + text[stop:])
