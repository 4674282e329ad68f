"""The Ray job contract as data: where a cluster's dashboard is, the submission body, the
RayJobInfo observation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from raybus_common.ray.jobs import JobInfo, JobRequest, dashboard_of, info_object, info_of, same_observation


def cluster(name: str = "rc", auth: dict[str, Any] | None = None, port: int | None = None) -> dict[str, Any]:
    ports = [{"name": "gcs-server", "containerPort": 6379}]
    if port is not None:
        ports.append({"name": "dashboard", "containerPort": port})
    spec: dict[str, Any] = {"headGroupSpec": {"template": {"spec": {"containers": [{"name": "h", "ports": ports}]}}}}
    if auth is not None:
        spec["authOptions"] = auth
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": spec,
            "status": {"head": {"podIP": "10.244.0.9", "serviceName": f"{name}-head-svc"}}}


def test_the_dashboard_of_a_cluster_from_its_status_and_head_container() -> None:
    d = dashboard_of(cluster(port=9000), url="rc-head-svc.ns.svc.cluster.local:9000")
    assert (d.namespace, d.cluster, d.head_pod_ip, d.head_service, d.port) == (
        "ns", "rc", "10.244.0.9", "rc-head-svc", 9000)
    assert d.url == "rc-head-svc.ns.svc.cluster.local:9000" and d.auth_secret == ""
    assert dashboard_of(cluster()).port == 8265  # no port named dashboard: Ray's default


def test_the_token_secret_is_named_as_cluster_ctl_names_it() -> None:
    assert dashboard_of(cluster(auth={"mode": "token", "secretName": "mine"})).auth_secret == "mine"
    assert dashboard_of(cluster(auth={"mode": "token"})).auth_secret == "rc"
    long = "j" * 47 + "-abcde"  # a 47-character RayJob's cluster: KubeRay's CheckName keeps the last 50
    assert dashboard_of(cluster(long, auth={"mode": "token"})).auth_secret == long[-50:]
    assert dashboard_of(cluster(auth={"mode": "disabled"})).auth_secret == ""


def test_a_submission_leaves_out_what_is_empty() -> None:
    assert JobRequest(entrypoint="python x.py", submission_id="j-1").body() == {
        "entrypoint": "python x.py", "submission_id": "j-1"}
    full = JobRequest(entrypoint="e", submission_id="s", metadata={"a": "b"}, runtime_env={"pip": ["x"]},
                      entrypoint_num_cpus=1.5, entrypoint_num_gpus=0.5, entrypoint_resources={"r": 1.0}).body()
    assert full["entrypoint_num_cpus"] == 1.5 and full["entrypoint_resources"] == {"r": 1.0}
    assert full["metadata"] == {"a": "b"} and full["runtime_env"] == {"pip": ["x"]}


def test_an_observation_round_trips_and_compares_without_its_time() -> None:
    job = {"apiVersion": "ray.io/v1", "metadata": {"name": "j", "namespace": "ns", "uid": "u1"}}
    info = JobInfo.from_dashboard({"status": "RUNNING", "message": "m", "start_time": 5, "end_time": 0})
    assert info.start_time == 5 and info.end_time is None and info.found
    t1, t2 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC)
    a = info_object(job, submission_id="j-x", cluster="rc", info=info, observed_at=t1)
    b = info_object(job, submission_id="j-x", cluster="rc", info=info, observed_at=t2)
    assert int(b["metadata"]["resourceVersion"]) > int(a["metadata"]["resourceVersion"])
    assert a["metadata"]["ownerReferences"][0]["kind"] == "RayJob" and a["metadata"]["uid"] == "u1/j-x"
    assert same_observation(a, b)
    assert info_of(a) == ("j-x", "rc", info)
    changed = info_object(job, submission_id="j-x", cluster="rc",
                          info=info.model_copy(update={"job_status": "SUCCEEDED"}), observed_at=t2)
    assert not same_observation(a, changed)
    assert info_of({"kind": "Pod"}) is None
