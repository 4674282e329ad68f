"""The pure half of the KubeRay conformance harness: normalising, diffing, classifying, reporting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from raybus_testbed import conformance as conf

NS = "conf-kuberay-1"


def pod(name: str, *, replica: str | None = None, ip: str = "10.0.0.7", env: list[dict[str, Any]] | None = None
        ) -> dict[str, Any]:
    labels = {"ray.io/cluster": "rc", "ray.io/group": "g"}
    if replica:
        labels[conf.REPLICA_NAME] = replica
    return {
        "kind": "Pod",
        "metadata": {"name": name, "generateName": name[:-5], "namespace": NS, "uid": "u-" + name, "resourceVersion": "12",
                     "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{"manager": "x"}],
                     "labels": labels, "ownerReferences": [{"kind": "RayCluster", "name": "rc", "uid": "cluster-uid"}]},
        "spec": {"nodeName": "kwok-node-1",
                 "containers": [{"name": "ray-worker", "env": env or [],
                                 "volumeMounts": [{"name": "kube-api-access-ab12c", "mountPath": "/var/run"}]}],
                 "volumes": [{"name": "kube-api-access-ab12c"}]},
        "status": {"phase": "Running", "podIP": ip},
    }


def test_a_pod_keeps_only_what_the_operator_chose() -> None:
    p = pod("rc-g-worker-x7k2p", env=[{"name": "RAY_external_storage_namespace", "value": "cluster-uid"},
                                      {"name": "FQ_RAY_IP", "value": f"rc-head-svc.{NS}.svc.cluster.local"}])
    scrub = conf.scrubber(NS, "cluster-uid", [p])
    got = conf.normalise_child(p, scrub)
    meta = got["metadata"]
    assert meta["name"] == "rc-g-worker-<rand>"
    assert not {"uid", "resourceVersion", "creationTimestamp", "managedFields", "namespace", "generateName"} & set(meta)
    assert meta["ownerReferences"] == [{"kind": "RayCluster", "name": "rc"}]
    assert got["status"] == {"phase": "Running"}
    assert "nodeName" not in got["spec"]
    assert got["spec"]["volumes"] == [{"name": "kube-api-access-<rand>"}]
    assert got["spec"]["containers"][0]["env"] == [
        {"name": "RAY_external_storage_namespace", "value": "<cluster-uid>"},
        {"name": "FQ_RAY_IP", "value": "rc-head-svc.NS.svc.cluster.local"}]


def test_the_scrubber_replaces_whole_names_only() -> None:
    scrub = conf.Scrubber(NS, {"rc-g-worker-x7k2p": "rc-g-worker-<rand>"})
    assert scrub.text(f"Created worker Pod {NS}/rc-g-worker-x7k2p") == "Created worker Pod NS/rc-g-worker-<rand>"
    assert scrub.text("rc-g-worker-x7k2p-2") == "rc-g-worker-x7k2p-2"  # another name that starts alike
    assert scrub.text("reached 10.1.2.3:6379") == "reached <ip>:6379"
    assert scrub(NS) == "NS"
    assert scrub({"lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "x"}) == {
        "lastTransitionTime": "<time>", "reason": "x"}


def test_a_rayjobs_generated_names_are_scrubbed_wherever_they_stand() -> None:
    job = {"kind": "RayJob", "metadata": {"name": "wordcount", "uid": "job-uid"}}
    scrub = conf.rayjob_scrubber(NS, job)
    assert scrub.text("wordcount-x7k2p") == "wordcount-<rand>"
    assert scrub.text(f"wordcount-x7k2p-head-svc.{NS}.svc.cluster.local:8265") == \
        "wordcount-<rand>-head-svc.NS.svc.cluster.local:8265"
    assert scrub.text(f"Created RayCluster {NS}/wordcount-ab12c") == "Created RayCluster NS/wordcount-<rand>"
    assert scrub.text("http://wordcount-q9w8e-head-svc:8265 wordcount-q9w8e") == \
        "http://wordcount-<rand>-head-svc:8265 wordcount-<rand>"
    # Not generated: the RayJob's own names, six characters, another RayJob's, a fixed job id.
    for same in ("wordcount", "wordcount-head-svc", "wordcount-abcdef", "my-wordcount-x7k2p", "wordcount-nightly-0001",
                 "wordcount-workers"):
        assert scrub.text(same) == same
    assert scrub("job-uid") == "<rayjob-uid>"


def test_a_rayjob_status_keeps_states_counters_and_shapes_not_times_or_drawn_names() -> None:
    job = {"metadata": {"name": "wordcount", "uid": "job-uid"}}
    status = {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED", "jobId": "wordcount-x7k2p",
              "rayClusterName": "wordcount-ab12c", "dashboardURL": f"wordcount-ab12c-head-svc.{NS}.svc.cluster.local:8265",
              "startTime": "2026-01-01T00:00:00Z", "endTime": "2026-01-01T00:01:00Z", "succeeded": 1, "failed": 0,
              "rayJobInfo": {"startTime": "2026-01-01T00:00:10Z", "endTime": "2026-01-01T00:00:50Z"},
              "message": "Job finished successfully.", "observedGeneration": 1,
              "rayClusterStatus": {"state": "ready", "desiredCPU": "3"}}
    got = conf.normalise_rayjob_status(status, conf.rayjob_scrubber(NS, job))
    assert got == {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED", "jobId": "wordcount-<rand>",
                   "rayClusterName": "wordcount-<rand>", "dashboardURL": "wordcount-<rand>-head-svc.NS.svc.cluster.local:8265",
                   "startTime": "<time>", "endTime": "<time>", "succeeded": 1, "failed": 0,
                   "rayJobInfo": {"startTime": "<time>", "endTime": "<time>"},
                   "message": "Job finished successfully.", "observedGeneration": 1, "rayClusterStatus": "<present>"}
    assert conf.normalise_rayjob_status({"rayClusterStatus": {}}, conf.rayjob_scrubber(NS, job)) == {"rayClusterStatus": {}}
    assert conf.normalise_rayjob_status({"jobId": "fixed-0001"}, conf.rayjob_scrubber(NS, job)) == {"jobId": "fixed-0001"}


def test_a_rayjobs_cluster_is_compared_by_what_was_asked_not_its_status() -> None:
    cluster = {"kind": "RayCluster", "metadata": {"name": "wordcount-ab12c", "uid": "c", "generation": 1,
                                                   "labels": {"ray.io/originated-from-cr-name": "wordcount"}},
               "spec": {"rayVersion": "2.52.0"}, "status": {"state": "ready"}}
    scrub = conf.rayjob_scrubber(NS, {"metadata": {"name": "wordcount", "uid": "u"}})
    assert conf.keyed_children([cluster], scrub) == {"RayCluster/wordcount-<rand>": {
        "kind": "RayCluster", "metadata": {"name": "wordcount-<rand>", "labels": {"ray.io/originated-from-cr-name": "wordcount"}},
        "spec": {"rayVersion": "2.52.0"}}}


def test_a_submit_command_compares_apart_from_its_wait_for_the_dashboard() -> None:
    wait = ('until python -c "import urllib.request; r=urllib.request.urlopen(\'http://a:8265/api/gcs_healthz\')" '
            '>/dev/null 2>&1 ; do echo "Waiting ..." ; sleep 2 ; done')
    submit = "if ! ray job status --address http://a:8265 j >/dev/null 2>&1 ; then ray job submit --address http://a:8265 -- x ; fi"
    v17: dict[str, Any] = {"name": "ray-job-submitter", "args": [f"{wait} ; {submit}"]}
    v15: dict[str, Any] = {"name": "ray-job-submitter", "args": [submit]}
    conf.split_submit_command(v17)
    conf.split_submit_command(v15)
    assert v17["args"] == [{"wait": wait, "command": submit}] and v15["args"] == [{"command": submit}]
    assert conf.diff(v15, v17) == [("args[0].wait", "<absent>", wait)]  # what is submitted compares equal
    other: dict[str, Any] = {"name": "ray-head", "args": ["ulimit -n 65536; ray start --head"]}
    conf.split_submit_command(other)
    assert other == {"name": "ray-head", "args": ["ulimit -n 65536; ray start --head"]}
    job = {"kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": [
        {"name": "ray-job-submitter", "args": [submit]}]}}}}
    got = conf.normalise_child(job, conf.Scrubber(NS))
    assert got["spec"]["template"]["spec"]["containers"][0]["args"] == [{"command": submit}]


def test_the_oracles_submitter_pods_are_labelled_in_its_namespace_only_at_creation() -> None:
    policy, binding = conf.oracle_submitter_policy("conf-kuberay-1")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["matchResources"]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "conf-kuberay-1"}}
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["pods"] and rule["operations"] == ["CREATE"]
    (condition,) = policy["spec"]["matchConditions"]
    assert "RAY_JOB_SUBMISSION_ID" in condition["expression"] and "'Job'" in condition["expression"]
    (mutation,) = policy["spec"]["mutations"]
    assert '"ray.io/originated-from-crd": "RayJob"' in mutation["applyConfiguration"]["expression"]


def _finished(spec: dict[str, Any], job_status: str = "SUCCEEDED", deployment: str = "Complete") -> dict[str, Any]:
    return {"spec": spec, "status": {"jobDeploymentStatus": deployment, "jobStatus": job_status}}


def test_cleanup_after_end_follows_kuberays_order_of_mechanisms() -> None:
    rules = {"deletionStrategy": {"deletionRules": [
        {"policy": "DeleteWorkers", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 0}},
        {"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 300}},
        {"policy": "DeleteCluster", "condition": {"jobStatus": "FAILED", "ttlSeconds": 86400}},
        {"policy": "DeleteCluster", "condition": {"jobDeploymentStatus": "Failed"}}]},
        "shutdownAfterJobFinishes": True, "ttlSecondsAfterFinished": 7}
    assert conf.cleanup_after_end(_finished(rules)) == [0.0, 300.0]  # the rules win over shutdown
    assert conf.cleanup_after_end(_finished(rules, "FAILED", "Failed")) == [0.0, 86400.0]
    assert conf.cleanup_after_end(_finished(rules, "", "Failed")) == [0.0]
    legacy = {"shutdownAfterJobFinishes": True, "ttlSecondsAfterFinished": 120,
              "deletionStrategy": {"onSuccess": {"policy": "DeleteCluster"}, "onFailure": {"policy": "DeleteNone"}}}
    assert conf.cleanup_after_end(_finished(legacy)) == [120.0]
    assert conf.cleanup_after_end(_finished(legacy, "FAILED", "Failed")) == []
    assert conf.cleanup_after_end(_finished({"shutdownAfterJobFinishes": True, "ttlSecondsAfterFinished": 60})) == [60.0]
    assert conf.cleanup_after_end(_finished({"shutdownAfterJobFinishes": True})) == [0.0]
    assert conf.cleanup_after_end(_finished({})) == []
    assert conf.cleanup_after_end(_finished({"shutdownAfterJobFinishes": True, "clusterSelector": {"a": "b"}})) == []
    running = {"spec": {"shutdownAfterJobFinishes": True}, "status": {"jobDeploymentStatus": "Running"}}
    assert conf.cleanup_after_end(running) == []


def test_replicas_of_a_group_are_keyed_by_content_so_equal_groups_compare_equal() -> None:
    a = [pod("rc-g-worker-aaaaa", replica="g-qqqqq", ip="10.0.0.1"), pod("rc-g-worker-bbbbb", replica="g-qqqqq")]
    b = [pod("rc-g-worker-zzzzz", replica="g-wwwww"), pod("rc-g-worker-yyyyy", replica="g-wwwww", ip="10.9.9.9")]
    ka = conf.keyed_children(a, conf.scrubber(NS, "cluster-uid", a))
    kb = conf.keyed_children(b, conf.scrubber(NS, "cluster-uid", b))
    assert set(ka) == {"Pod/rc-g-worker-<rand>#0", "Pod/rc-g-worker-<rand>#1"}
    assert ka["Pod/rc-g-worker-<rand>#0"]["metadata"]["labels"][conf.REPLICA_NAME] == "g-<rand>"
    assert conf.diff(ka, kb) == []


def test_diff_names_the_item_of_a_named_list_and_absent_fields() -> None:
    kuberay = {"spec": {"containers": [{"name": "ray-head", "env": [{"name": "A", "value": "1"}]}]}}
    raybus = {"spec": {"containers": [{"name": "ray-head", "env": [{"name": "A", "value": "2"},
                                                                  {"name": "B", "value": "x"}]}]}, "extra": 1}
    assert conf.diff(kuberay, raybus) == [
        ("extra", "<absent>", 1),
        ("spec.containers.ray-head.env.A.value", "1", "2"),
        ("spec.containers.ray-head.env.B", "<absent>", {"name": "B", "value": "x"}),
    ]
    assert conf.diff([1, 2], [1, 3], "args") == [("args[1]", 2, 3)]
    assert conf.diff([1], [1, 2], "args") == [("args", [1], [1, 2])]


def test_compare_reports_events_one_side_lacks() -> None:
    ev = ("Normal", "CreatedService", "Created service NS/rc-head-svc")
    theirs = conf.Reading(status={"state": "ready"}, children={}, events=(ev,))
    ours = conf.Reading(status={"state": "ready"}, children={}, events=())
    assert conf.compare(theirs, ours) == [("events[CreatedService]", " ".join(ev), "<absent>")]
    assert conf.compare(theirs, theirs) == []


def test_classify_splits_listed_from_unlisted_and_respects_the_manifest_scope() -> None:
    known = [conf.Known("names", r"Pod/.*\.metadata\.name", "names"),
             conf.Known("generation", r"status\.observedGeneration", "v1.5 rewrites the spec", version=True,
                        manifests=("a",))]
    diffs = [("Pod/rc-head-<rand>.metadata.name", "rc-head-x", "rc-head-y"),
             ("status.observedGeneration", 2, 1)]
    a, b = conf.classify("a", diffs, known), conf.classify("b", diffs, known)
    assert [p for p, _ in a.listed] == [d[0] for d in diffs] and a.unlisted == [] and a.verdict == "differs where listed"
    assert [p for p, _ in b.listed] == [diffs[0][0]] and b.unlisted == [diffs[1]] and b.verdict == "differs"
    assert conf.classify("c", [], known).verdict == "identical"
    empties = [conf.Known("Go's empty structs", r"spec\.metadata", "marshalled", empty=True)]
    assert conf.classify("a", [("spec.metadata", {}, "<absent>")], empties).unlisted == []
    assert conf.classify("a", [("spec.metadata", {"labels": {"a": "b"}}, "<absent>")], empties).unlisted == [
        ("spec.metadata", {"labels": {"a": "b"}}, "<absent>")]


def test_the_report_counts_and_lists(tmp_path: Path) -> None:
    known = conf.Known("the x | y", r"x", "why x", version=True)
    outcomes = [conf.Outcome("m1"), conf.Outcome("m2", listed=[("x", known)]), conf.Outcome("m3", unlisted=[("y", 1, 2)]),
                conf.Outcome("job", note="RayJob: job-ctl is not built yet")]
    report = conf.render(outcomes, oracle="v1.5.0", remarks=["One Ray head | both."])
    assert "\n\nOne Ray head | both.\n\n| manifest |" in report
    assert ("Of 3 compared manifests: 1 identical; 2 identical but for differences due to the oracle's version; "
            "2 identical but for listed differences") in report
    assert "| `m3` | differs | `y` |" in report and "| `job` | not compared | RayJob" in report
    assert "| the x \\| y | why x | yes |" in report and "| `m2` | identical but for the oracle's version | the x \\| y (oracle's version) |" in report
    doc = tmp_path / "doc.md"
    doc.write_text(f"head\n{conf.BEGIN}\nold\n{conf.END}\ntail\n")
    conf.splice(doc, report)
    text = doc.read_text()
    assert text.startswith("head\n") and text.endswith(f"{conf.END}\ntail\n") and "old" not in text and report in text
    with pytest.raises(ValueError, match="no"):
        conf.splice(_without_markers(tmp_path), report)


def _without_markers(tmp_path: Path) -> Path:
    doc = tmp_path / "plain.md"
    doc.write_text("no markers\n")
    return doc


# -- batch schedulers -----------------------------------------------------------------------------

def _sched_pod(cluster: str, group: str, suffix: str, **annotations: str) -> dict[str, Any]:
    return {"kind": "Pod",
            "metadata": {"name": f"{cluster}-{group}-{suffix}", "uid": suffix,
                         "labels": {"ray.io/cluster": cluster, "ray.io/group": group, "ray.io/node-type": "worker",
                                    "volcano.sh/queue-name": "q", "scheduling.x-k8s.io/pod-group": cluster},
                         "annotations": {"ray.io/ft-enabled": "false", **annotations}},
            "spec": {"schedulerName": "volcano", "containers": [{"name": "ray-worker"}]}}


def test_a_scheduler_sees_its_labels_annotations_and_scheduler_name_only() -> None:
    p = _sched_pod("rc", "cpu", "x7k2p", **{"yunikorn.apache.org/task-groups": '[{"name":"headgroup","minMember":1}]',
                                            "scheduling.k8s.io/group-name": "ray-rc-pg"})
    assert conf.scheduler_view(p) == {
        "metadata": {"labels": {"volcano.sh/queue-name": "q", "scheduling.x-k8s.io/pod-group": "rc"},
                     "annotations": {"yunikorn.apache.org/task-groups": [{"name": "headgroup", "minMember": 1}],
                                     "scheduling.k8s.io/group-name": "ray-rc-pg"}},
        "spec": {"schedulerName": "volcano"}}
    # Task groups in another key order compare equal; a value that is no JSON stays text.
    other = _sched_pod("rc", "cpu", "q1w2e", **{"yunikorn.apache.org/task-groups": '[{"minMember":1,"name":"headgroup"}]',
                                                "scheduling.k8s.io/group-name": "ray-rc-pg"})
    assert conf.diff(conf.scheduler_view(p), conf.scheduler_view(other)) == []
    broken = _sched_pod("rc", "cpu", "q1w2e", **{"yunikorn.apache.org/task-groups": "[{"})
    assert conf.scheduler_view(broken)["metadata"]["annotations"] == {"yunikorn.apache.org/task-groups": "[{"}
    cluster = {"kind": "RayCluster", "metadata": {"name": "rc", "labels": {"ray.io/gang-scheduling-enabled": "true"}},
               "spec": {"headGroupSpec": {}}}
    assert conf.scheduler_view(cluster) == {
        "metadata": {"labels": {"ray.io/gang-scheduling-enabled": "true"}, "annotations": {}}}


def test_a_batch_reading_keeps_a_manifests_pods_groups_and_clusters_with_names_neutral() -> None:
    job = {"kind": "RayJob", "metadata": {"name": "job", "uid": "job-uid"}}
    cluster = {"kind": "RayCluster", "metadata": {"name": "job-ab12c", "uid": "c-uid",
                                                   "labels": {"volcano.sh/queue-name": "q", "ray.io/cluster": "x"},
                                                   "annotations": {"scheduling.k8s.io/group-name": "ray-job-pg"}}}
    pods = [_sched_pod("job-ab12c", "cpu", "aaaaa"), _sched_pod("job-ab12c", "cpu", "bbbbb"),
            _sched_pod("job-ab12c", "headgroup", "ccccc"), _sched_pod("other", "cpu", "ddddd")]
    owned = {"kind": "PodGroup", "metadata": {"name": "ray-job-pg", "uid": "g", "resourceVersion": "3",
                                               "labels": {"ray.io/cluster": "job-ab12c"},
                                               "ownerReferences": [{"apiVersion": "ray.io/v1", "kind": "RayJob",
                                                                    "name": "job", "uid": "job-uid",
                                                                    "controller": True}]},
             "spec": {"minMember": 3, "queue": "q"}, "status": {"phase": "Pending"}}
    unowned = {"kind": "PodGroup", "metadata": {"name": "job-ab12c"}, "spec": {"minMember": 3}}
    stranger = {"kind": "PodGroup", "metadata": {"name": "ray-other-pg"}, "spec": {}}
    got = conf.batch_reading(["job", "job-ab12c"], clusters=[cluster], pods=pods,
                             pod_groups=[("volcano", owned), ("volcano", stranger), ("scheduler-plugins", unowned)],
                             scrub=conf.rayjob_scrubber(NS, job))
    assert sorted(got) == ["Pod/job-<rand>/cpu#0", "Pod/job-<rand>/cpu#1", "Pod/job-<rand>/headgroup",
                           "PodGroup:scheduler-plugins/job-<rand>", "PodGroup:volcano/ray-job-pg", "RayCluster/job-<rand>"]
    assert got["Pod/job-<rand>/headgroup"]["metadata"]["labels"]["scheduling.x-k8s.io/pod-group"] == "job-<rand>"
    assert got["PodGroup:volcano/ray-job-pg"] == {
        "metadata": {"labels": {"ray.io/cluster": "job-<rand>"},
                     "ownerReferences": [{"kind": "RayJob", "name": "job", "controller": True}]},
        "spec": {"minMember": 3, "queue": "q"}}
    assert got["PodGroup:scheduler-plugins/job-<rand>"]["metadata"] == {"labels": {}, "ownerReferences": []}
    assert got["RayCluster/job-<rand>"] == {"metadata": {"labels": {"volcano.sh/queue-name": "q"},
                                                         "annotations": {"scheduling.k8s.io/group-name": "ray-job-pg"}}}


def test_the_matrix_report_has_a_cell_per_pair_and_its_own_markers(tmp_path: Path) -> None:
    known = conf.Known("a label | b", r"x", "why x")
    outcomes = {("volcano", "gang"): conf.Outcome("volcano/gang"),
                ("volcano", "job"): conf.Outcome("volcano/job", listed=[("x", known)]),
                ("kai-scheduler", "job"): conf.Outcome("kai-scheduler/job", unlisted=[("y", 1, 2)])}
    report = conf.render_matrix(outcomes, oracle="v1.5.0", remarks=["Each scheduler one run."])
    assert "Of 3 compared pairs: 1 identical; 2 identical but for listed differences." in report
    assert "\n\nEach scheduler one run.\n\n| | `gang` | `job` |\n|---|---|---|\n" in report
    assert "| `volcano` | identical | differs where listed: a label \\| b |" in report
    assert "| `kai-scheduler` | n/a | **differs**: `y` |" in report
    assert "| a label \\| b | why x | no |" in report
    doc = tmp_path / "doc.md"
    doc.write_text(f"{conf.BEGIN}\noracle\n{conf.END}\n{conf.BATCH_BEGIN}\nold\n{conf.BATCH_END}\n")
    conf.splice(doc, report, begin=conf.BATCH_BEGIN, end=conf.BATCH_END)
    text = doc.read_text()
    assert "oracle" in text and "old" not in text and report in text
    with pytest.raises(ValueError, match="conformance-batch"):
        conf.splice(_without_markers(tmp_path), report, begin=conf.BATCH_BEGIN, end=conf.BATCH_END)
