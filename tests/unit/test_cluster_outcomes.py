"""What cluster-ctl says about its writes' outcomes, pure: KubeRay's `ReplicaFailure` from the
failed writes in view (`status.replica_failure`), and the values KubeRay's Event texts format
as Go prints them (`plan.texts`)."""

from __future__ import annotations

from typing import Any

import pytest

from raybus_cluster_ctl.plan.texts import go_quote, pod_state, terminated, unhealthy_reason
from raybus_cluster_ctl.status.calculate import ReconcileError
from raybus_cluster_ctl.status.replica_failure import replica_failure
from raybus_common import gotext
from raybus_common.actions import Action, Apply, Delete, ObjectRef, RecordEvent
from raybus_common.controller.view import Failure

Obj = dict[str, Any]


def pod_write(name: str) -> Apply:
    return Apply(object={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "ns"}})


def pod_delete(name: str) -> Delete:
    return Delete(ref=ObjectRef(api_version="v1", kind="Pod", namespace="ns", name=name, uid=f"uid-{name}"))


def failure(name: str, reason: str, message: str = "boom", op: str = "apply") -> Failure:
    return Failure(f"id-{name}", op, "pod", "ns", name, reason=reason, message=message)


@pytest.mark.parametrize(("reason", "marker"), [
    ("FailedToCreateHeadPod", "FailedCreateHeadPod"), ("FailedToCreateWorkerPod", "FailedCreateWorkerPod"),
    ("FailedToDeleteHeadPod", "FailedDeleteHeadPod"), ("FailedToDeleteWorkerPod", "FailedDeleteWorkerPod"),
    ("FailedToDeleteWorkerPodCollection", "FailedDeleteWorkerPod"),
    ("FailedToDeletePodCollection", "FailedDeleteAllPods")])
def test_each_failed_pod_write_maps_to_kuberays_marker_with_the_joined_message(reason: str, marker: str) -> None:
    write: Action = pod_delete("p") if "Delete" in reason else pod_write("p")
    got = replica_failure([failure("p", reason, "the API said no")], [write])
    assert got == ReconcileError(f"{marker}\nthe API said no", marker)


def test_no_error_without_a_failure_the_pass_makes_again() -> None:
    assert replica_failure([], [pod_write("p")]) is None
    assert replica_failure([failure("gone", "FailedToCreateWorkerPod")], [pod_write("p")]) is None
    assert replica_failure([failure("p", "FailedToCreateService")], [pod_write("p")]) is None, "not a pod marker"
    event = RecordEvent(regarding=ObjectRef(api_version="v1", kind="Pod", namespace="ns", name="p"), reason="R",
                        message="m")
    assert replica_failure([failure("p", "FailedToCreateWorkerPod")], [event]) is None


def test_the_first_write_in_the_pass_order_wins() -> None:
    failures = [failure("w", "FailedToCreateWorkerPod", "quota"), failure("h", "FailedToCreateHeadPod", "sa")]
    assert replica_failure(failures, [pod_write("h"), pod_write("w")]) == \
        ReconcileError("FailedCreateHeadPod\nsa", "FailedCreateHeadPod")
    assert replica_failure(failures, [pod_write("w"), pod_write("h")]) == \
        ReconcileError("FailedCreateWorkerPod\nquota", "FailedCreateWorkerPod")


# --- Go's formatting ------------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (0.0005, "500µs"), (0.75, "750ms"), (0.0015, "1.5ms"), (1.5, "1.5s"), (59, "59s"), (60, "1m0s"),
    (301, "5m1s"), (301.25, "5m1.25s"), (3600, "1h0m0s"), (3723.000004, "1h2m3.000004s"), (-2, "-2s")])
def test_go_duration(seconds: float, text: str) -> None:
    assert gotext.duration(seconds) == text


def test_go_quote() -> None:
    assert go_quote("") == '""' and go_quote('a"b') == '"a\\"b"'


def worker(phase: str, restart: str, state: Obj | None = None) -> Obj:
    status: Obj = {"phase": phase}
    if state is not None:
        status["containerStatuses"] = [{"name": "sidecar", "state": {}}, {"name": "ray", "state": state}]
    return {"metadata": {"name": "w"}, "spec": {"containers": [{"name": "ray"}], "restartPolicy": restart},
            "status": status}


def test_the_ray_containers_terminated_state_as_gos_generated_string() -> None:
    assert terminated(worker("Running", "Never")) == "nil"
    assert terminated(worker("Running", "Never", {"running": {}})) == "nil"
    done = worker("Running", "Never", {"terminated": {"exitCode": 1, "reason": "Error", "message": "x",
                                                      "startedAt": "2026-11-22T11:00:00Z",
                                                      "finishedAt": "2026-11-22T11:00:05.250Z"}})
    assert terminated(done) == ("&ContainerStateTerminated{ExitCode:1,Signal:0,Reason:Error,Message:x,"
                                "StartedAt:2026-11-22 11:00:00 +0000 UTC,FinishedAt:2026-11-22 11:00:05.25 +0000 UTC,"
                                "ContainerID:,}")
    assert pod_state(done).startswith("Pod status: Running; Pod restart policy: Never; Ray container terminated "
                                      "status: &ContainerStateTerminated{ExitCode:1,")


def test_should_delete_pods_reasons_in_kuberays_words() -> None:
    assert unhealthy_reason(worker("Failed", "Always"), "worker") == (
        "The worker Pod w status is Failed which is a terminal state. KubeRay will delete the Pod and create new "
        "Pods in the next reconciliation if necessary.")
    assert unhealthy_reason(worker("Running", "Never", {"terminated": {"exitCode": 0}}), "worker").startswith(
        "The Pod status of the worker Pod w is Running, and the Ray container terminated status is "
        "&ContainerStateTerminated{ExitCode:0,")
